"""SES events: SNS notifications (webhook) and SQS messages (poller) turned
into :class:`~django_ses_query.models.EmailEvent` rows, send-log outcomes and
suppressed addresses.

``sns`` reads and verifies an SNS message, ``certificates`` checks the
certificate URL, fetches (through ``fetch``, the one outgoing HTTP request)
and caches the certificate, ``trust`` checks its names and chain, ``parse``
reads SES's event JSON, ``store`` writes the rows, ``views`` is the webhook,
``sqs`` the poller's Query calls. Outside values are logged through
``logsafe`` (shared with ``inbound/``).
"""
