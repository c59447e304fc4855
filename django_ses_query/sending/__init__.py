"""The one send pipeline, and the backend that sends through it.

``pipeline``: the stages and the loop (one request at a time, or
``MAX_CONCURRENCY`` in flight). ``direct``: ``send_messages()``'s path (a new
log row per message). ``rows``: a queued row's path in the worker.
``suppression``: the suppression stage. ``sendlog`` and ``logwriter``: the
log rows, written in groups. ``backend``: :class:`EmailBackend`.
"""
