"""The send log: one row per message the backend attempts."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class EmailLog(models.Model):
    class Status(models.TextChoices):
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    class Action(models.TextChoices):
        SEND_EMAIL = "SendEmail", "SendEmail"
        SEND_RAW_EMAIL = "SendRawEmail", "SendRawEmail"

    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    action = models.CharField(_("action"), max_length=16, choices=Action.choices, blank=True)
    message_id = models.CharField(_("SES MessageId"), max_length=128, blank=True, db_index=True)
    request_id = models.CharField(_("SES RequestId"), max_length=128, blank=True)
    from_email = models.TextField(_("from"), blank=True)
    to = models.JSONField(_("to"), default=list, blank=True)
    cc = models.JSONField(_("cc"), default=list, blank=True)
    bcc = models.JSONField(_("bcc"), default=list, blank=True)
    reply_to = models.JSONField(_("reply to"), default=list, blank=True)
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

    class Meta:
        verbose_name = _("email log entry")
        verbose_name_plural = _("email log")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="sesq_status_created"),
            models.Index(fields=["action", "-created_at"], name="sesq_action_created"),
            models.Index(fields=["configuration_set", "-created_at"], name="sesq_confset_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()}: {self.subject[:60]} → {', '.join(self.to)[:60]}"

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]
