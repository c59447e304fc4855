"""Signals sent around each message.

``pre_send(sender, message)``: before a message is sent; a receiver may raise
:class:`~django_ses_query.exceptions.CancelSend` to skip that message
(not counted as sent, nothing sent, no error to the caller).

``post_send(sender, message, log, error)``: once per message after its final
attempt; for a message with an unsubscribe topic, once per copy (``message``
is the copy: its to/cc/bcc hold its one recipient). ``log`` is the :class:`~django_ses_query.models.EmailLog` row (None
when logging is off or the row could not be written), ``error`` the
:class:`~django_ses_query.exceptions.SESError` or None.

``sender`` is the backend class.

``ses_event(sender, event)``: once per stored
:class:`~django_ses_query.models.EmailEvent`, after the transaction that
stored it commits. ``sender`` is the ``EmailEvent`` class.

``inbound_received(sender, inbound, message, receipt, raw)``: once per
stored :class:`~django_ses_query.models.InboundEmail` (never for a copy
stored before, a refusal or a discard), after the transaction that stored
it commits. ``sender`` is the ``InboundEmail`` class, ``inbound`` the row,
``message`` the parsed ``email.message.EmailMessage`` (policy ``default``),
``receipt`` SES's notification (``mail`` and ``receipt``, without
``content``), ``raw`` the message's bytes (None when it was not fetched:
``message`` then holds only the notification's headers). A receiver's
exception is logged, not raised.

``unsubscribed(sender, address, topic, suppression)``: once per new
unsubscribe (``topic`` ``*``: every topic), after it is committed; not for a
repeat. ``sender`` is the ``Suppression`` class.
"""

from django.dispatch import Signal

pre_send = Signal()
post_send = Signal()
ses_event = Signal()
inbound_received = Signal()

unsubscribed = Signal()
