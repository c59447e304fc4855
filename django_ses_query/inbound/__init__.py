"""Inbound mail through SES receiving: a receipt rule's SNS or S3 action,
handed over by the events webhook or ``ses_events`` once verified.

``receipt`` reads the notification; ``parse`` the MIME message (with
``structure``, which measures it first, and ``headers``, which reads each
header without raising); ``s3`` fetches an S3 action's object through the
transport; ``store`` writes the ``InboundEmail`` row (``models``), links it
to the sent message it answers and sends ``inbound_received``; ``receive``
runs them in order; ``admin`` shows the rows. Nothing here sends mail.
"""
