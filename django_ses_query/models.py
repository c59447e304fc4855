"""The send log (one row per message), the SES events that come back for
those messages, and the addresses that must not be mailed again."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _


class EmailLog(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        #: The request may have reached SES (read timeout, reset after it was
        #: written, an interrupted worker): never resent automatically.
        UNKNOWN = "unknown", _("unknown")
        #: Every recipient was on the suppression list: nothing was sent.
        SUPPRESSED = "suppressed", _("suppressed")

    class Action(models.TextChoices):
        SEND_EMAIL = "SendEmail", "SendEmail"
        SEND_RAW_EMAIL = "SendRawEmail", "SendRawEmail"
        SEND_TEMPLATED_EMAIL = "SendTemplatedEmail", "SendTemplatedEmail"
        SEND_BULK_TEMPLATED_EMAIL = "SendBulkTemplatedEmail", "SendBulkTemplatedEmail"

    class Outcome(models.TextChoices):
        """What SES events say happened to the message; the worst over all
        recipients (complained > bounced > rejected > rendering failed >
        delivered > delayed)."""

        NONE = "", _("no event yet")
        DELAYED = "delayed", _("delayed")
        DELIVERED = "delivered", _("delivered")
        #: SES could not render the stored template (a Rendering Failure event).
        RENDERING_FAILED = "rendering_failed", _("rendering failed")
        REJECTED = "rejected", _("rejected")
        BOUNCED = "bounced", _("bounced")
        COMPLAINED = "complained", _("complained")

    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, blank=True, default="")
    action = models.CharField(_("action"), max_length=32, choices=Action.choices, blank=True)
    message_id = models.CharField(_("SES MessageId"), max_length=128, blank=True, db_index=True)
    request_id = models.CharField(_("SES RequestId"), max_length=128, blank=True)
    from_email = models.TextField(_("from"), blank=True)
    to = models.JSONField(_("to"), default=list, blank=True)
    cc = models.JSONField(_("cc"), default=list, blank=True)
    bcc = models.JSONField(_("bcc"), default=list, blank=True)
    reply_to = models.JSONField(_("reply to"), default=list, blank=True)
    suppressed = models.JSONField(_("suppressed recipients"), default=list, blank=True)
    subject = models.TextField(_("subject"), blank=True)
    text_body = models.TextField(_("text body"), blank=True)
    html_body = models.TextField(_("HTML body"), blank=True)
    error_code = models.CharField(_("error code"), max_length=128, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    size_bytes = models.PositiveIntegerField(_("size (bytes)"), null=True, blank=True)
    configuration_set = models.CharField(_("configuration set"), max_length=64, blank=True)
    tags = models.JSONField(_("tags"), default=dict, blank=True)
    region = models.CharField(_("region"), max_length=32, blank=True)
    #: The unsubscribe topic ("": transactional mail).
    topic = models.CharField(_("topic"), max_length=64, blank=True, default="")
    # Queued sending: the unsigned, form-encoded Query request (never a
    # signature: those expire), kept until the row is final.
    request_body = models.TextField(_("unsigned request"), blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    # Stored templates: the template's name, and (with LOG_BODY, or while
    # queued) the {"merge_global_data": ..., "merge_data": ...} sent.
    template_name = models.CharField(_("template"), max_length=64, blank=True)
    template_data = models.JSONField(_("template data"), null=True, blank=True, encoder=DjangoJSONEncoder)
    # The rows of one SendBulkTemplatedEmail request share it.
    bulk_id = models.CharField(_("bulk request"), max_length=32, blank=True, db_index=True)
    # The claim that won the row: a worker writes only the rows it claimed.
    claim = models.CharField(_("claim"), max_length=32, blank=True, default="", editable=False)
    resent_from = models.ForeignKey(
        "self", verbose_name=_("resent from"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="resends",
    )

    class Meta:
        verbose_name = _("email log entry")
        verbose_name_plural = _("email log")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="sesq_status_created"),
            models.Index(fields=["action", "-created_at"], name="sesq_action_created"),
            models.Index(fields=["configuration_set", "-created_at"], name="sesq_confset_created"),
            models.Index(fields=["outcome", "-created_at"], name="sesq_outcome_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()}: {self.subject[:60]} → {', '.join(self.to)[:60]}"

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]


class EmailEvent(models.Model):
    """One SES event for one recipient (events without recipients, such as
    Send or Open, have one row with an empty recipient)."""

    class Type(models.TextChoices):
        SEND = "send", _("send")
        REJECT = "reject", _("reject")
        BOUNCE = "bounce", _("bounce")
        COMPLAINT = "complaint", _("complaint")
        DELIVERY = "delivery", _("delivery")
        DELIVERY_DELAY = "delivery_delay", _("delivery delay")
        OPEN = "open", _("open")
        CLICK = "click", _("click")
        RENDERING_FAILURE = "rendering_failure", _("rendering failure")
        SUBSCRIPTION = "subscription", _("subscription")

    created_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)
    log = models.ForeignKey(
        EmailLog, verbose_name=_("send log entry"), null=True, blank=True,
        on_delete=models.CASCADE, related_name="events",
    )
    message_id = models.CharField(_("SES MessageId"), max_length=128, blank=True, db_index=True)
    event_type = models.CharField(_("event type"), max_length=32, choices=Type.choices)
    recipient = models.CharField(_("recipient"), max_length=320, blank=True)
    timestamp = models.DateTimeField(_("timestamp"), null=True, blank=True, db_index=True)
    bounce_type = models.CharField(_("bounce type"), max_length=32, blank=True)
    bounce_subtype = models.CharField(_("bounce subtype"), max_length=64, blank=True)
    feedback_type = models.CharField(_("feedback type"), max_length=64, blank=True)
    diagnostic = models.TextField(_("diagnostic"), blank=True)
    # The SNS MessageId (or the SQS MessageId of a raw delivery): the same
    # notification twice stores nothing new.
    sns_message_id = models.CharField(_("SNS MessageId"), max_length=128, blank=True, db_index=True)
    payload = models.JSONField(_("event JSON"), default=dict, blank=True)

    class Meta:
        verbose_name = _("email event")
        verbose_name_plural = _("email events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["event_type", "-created_at"], name="sesq_event_type_created"),
        ]
        constraints = [
            # The same notification handled twice at once (an SNS retry while
            # the first delivery is still being stored, two pollers) is
            # stored once.
            models.UniqueConstraint(
                fields=["sns_message_id", "event_type", "recipient"],
                condition=~models.Q(sns_message_id=""),
                name="sesq_event_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_event_type_display()}: {self.recipient or '-'} ({self.message_id})"


class Suppression(models.Model):
    """An address not to be mailed again: for every message (``topic`` "",
    a hard bounce or a complaint, with ``SUPPRESSION`` on), for every topic
    (``*``) or for one topic (an unsubscribe). Deleting the row
    un-suppresses (re-subscribes) it."""

    #: The topic of an unsubscribe from every topic.
    ALL_TOPICS = "*"

    class Reason(models.TextChoices):
        BOUNCE = "bounce", _("bounce")
        COMPLAINT = "complaint", _("complaint")
        UNSUBSCRIBE = "unsubscribe", _("unsubscribe")

    #: Stored lower-cased, so the comparison is case-insensitive.
    address = models.CharField(_("address"), max_length=320)
    #: "": every message; "*": every topic; else that topic.
    topic = models.CharField(_("topic"), max_length=64, blank=True, default="")
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    event = models.ForeignKey(
        EmailEvent, verbose_name=_("caused by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )

    class Meta:
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppression list")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["address", "topic"], name="sesq_suppression_once"),
        ]

    def __str__(self) -> str:
        topic = f", {self.topic}" if self.topic else ""
        return f"{self.address} ({self.get_reason_display()}{topic})"

    def save(self, *args, **kwargs) -> None:
        self.address = normalize_address(self.address)
        super().save(*args, **kwargs)


def normalize_address(address: str) -> str:
    """The key an address is suppressed under."""
    return address.strip().lower()


def __getattr__(name: str):
    # Models a capability defines in its own package, under this app's label
    # (see ``apps.SESQueryConfig.import_models``): taken from the app
    # registry, so this module imports nothing above it.
    if name == "InboundEmail":
        from django.apps import apps

        return apps.get_model("django_ses_query", name, require_ready=False)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
