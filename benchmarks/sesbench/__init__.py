"""django-ses-query vs django-ses 4.x and django-anymail (Amazon SES), side by side, in one run.

Both backends send through Django's mail API (``send_mail()`` and
``get_connection().send_messages()``) to a canned SES Query endpoint started
on 127.0.0.1 (a separate process, standard library only, so its work does
not share the client's GIL). django-ses-query writes its send log (``LOG``
on, SQLite file database migrated before anything is measured), except in
the one run labelled LOG=False.

Measurements (ratios are ours / theirs):

1. per-message client time, no added round-trip time: one ``send_mail()``
   per message (the normal use: one message per Django mail call); target:
   ours <= 1/3 of django-ses's.
1b. per-message CPU in one send_messages() batch (MAX_CONCURRENCY=1): ours
   with the log in memory (target <= 0.7 ms), on a SQLite file, on
   PostgreSQL (--postgres URL) and with LOG=False (target <= 0.4 ms).
2. cold start: process start to first accepted message, minus the same
   process sending through Django's locmem backend; target: ours' extra
   <= 0.4 x django-ses's extra. The share of ours' extra that is
   ``import requests`` is timed in separate processes.
3. batch throughput with 20 ms added per request: ours with
   MAX_CONCURRENCY 1, 10 and 32 on SQLite and PostgreSQL (target: >= 1,000
   msg/s with 32), the peers one request at a time; and ours with 10 >= 8 x
   django-ses's.
4. memory (tracemalloc) of one send_messages() batch of 1,000 and 10,000
   messages: the backend's working memory (peak during the call minus what
   is still held once it returned); target: flat in N (at most 64 bytes per
   extra message). Printed too, not judged: what each backend attaches to
   every sent message on purpose (ours: the EmailLog row as
   ``message.ses_log`` and ``message.ses_message_id``), held for as long as
   the caller keeps the messages.

Every measurement runs in a fresh subprocess per backend; the endpoint counts
the signed SendEmail / SendRawEmail requests it receives and every run is
checked against the number of messages sent.

Modules:

* ``config``: backends, credentials, the message, targets, run sizes.
* ``endpoint``: the canned SES endpoint (its own process) and its client.
* ``workers``: what runs in the child processes (Django set up, the
  sending loops, cold start, import cost).
* ``stages``: the per-stage wall-clock timers of ``--profile``.
* ``runner``: the parent: starts the endpoint and the workers, checks counts.
* ``measure``: the measurements themselves.
* ``report``: recorded figures, targets, the summary and the JSON file.
* ``cli``: the command line, and the child-process modes of ``bench.py``.
"""
