"""The email backends, by the paths settings name them with.

``EmailBackend`` sends at once, through the send pipeline
(``sending/backend.py``); ``QueuedEmailBackend`` writes each message to the
queue for a worker to send through the same pipeline (``queued/backend.py``).
"""

from .queued.backend import QueuedEmailBackend
from .sending.backend import EmailBackend

__all__ = ["EmailBackend", "QueuedEmailBackend"]
