"""Queued sending on Django's tasks framework.

``backend.py``: :class:`QueuedEmailBackend` validates and builds each request
in the caller's process and writes it, unsigned, as a ``queued`` send log row
in the caller's transaction; the task is enqueued once that commits.
``enqueue.py``: the queue row and the task (``django.tasks``, or the
``django-tasks`` backport on Django 5.2). ``worker.py``: what the task does
(claim, sign, send, record). ``recovery.py``: counts, stale rows, resends.
"""
