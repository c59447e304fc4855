"""Inbound mail through SES receiving: a receipt rule's SNS or S3 action,
handed over by the events webhook or ``ses_events`` once verified.

``receipt`` reads the notification, ``parse`` the MIME message, ``s3``
fetches an S3 action's object, ``store`` writes the ``InboundEmail`` row and
links it to the sent message it answers, ``receive`` runs them in order.
Nothing here sends mail.
"""
