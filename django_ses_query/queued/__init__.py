"""Queued sending on Django's tasks framework.

``backend.py``: :class:`QueuedEmailBackend` validates and builds each request
in the caller's process and writes it, unsigned, as a ``queued`` send log row
in the caller's transaction; a task per chunk of rows is enqueued once that
commits.
``enqueue.py``: the queue row and the task (``django.tasks``, or the
``django-tasks`` backport on Django 5.2). ``worker.py``: what the task does
(claim, sign, send, record); ``claims.py``: claiming a chunk's rows as
slots of ``MAX_CONCURRENCY`` free up. ``recovery.py``: counts, stale rows, resends.
"""
