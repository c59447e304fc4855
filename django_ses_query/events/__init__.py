"""SES events: SNS notifications (webhook) and SQS messages (poller) turned
into :class:`~django_ses_query.models.EmailEvent` rows, send-log outcomes and
suppressed addresses.

``sns`` verifies an SNS message, ``certificates`` checks and fetches the
certificate it names, ``parse`` reads SES's event JSON, ``store`` writes the
rows, ``views`` is the webhook and ``sqs`` the poller's Query calls.
"""
