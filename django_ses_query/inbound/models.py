"""``InboundEmail``: one message received through SES receiving.

Defined here, registered under the ``django_ses_query`` app label (the app
config imports this module with the others) and exported from
``django_ses_query.models``. Rows live in ``LOG_DATABASE``, with the send log
they link to.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class InboundEmail(models.Model):
    class Action(models.TextChoices):
        SNS = "SNS", "SNS"
        S3 = "S3", "S3"

    #: SES's ``mail.messageId``: the same receipt twice is stored once.
    message_id = models.CharField(_("SES MessageId"), max_length=128, unique=True)
    received_at = models.DateTimeField(_("received at"), null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(_("stored at"), auto_now_add=True, db_index=True)
    source = models.TextField(_("envelope sender (MAIL FROM)"), blank=True)
    recipients = models.JSONField(_("envelope recipients"), default=list, blank=True)
    from_email = models.TextField(_("from"), blank=True)
    to = models.JSONField(_("to"), default=list, blank=True)
    cc = models.JSONField(_("cc"), default=list, blank=True)
    reply_to = models.JSONField(_("reply to"), default=list, blank=True)
    subject = models.TextField(_("subject"), blank=True)
    message_id_header = models.TextField(_("Message-ID"), blank=True)
    in_reply_to = models.TextField(_("In-Reply-To"), blank=True)
    references = models.TextField(_("References"), blank=True)
    text_body = models.TextField(_("text body"), blank=True)
    html_body = models.TextField(_("HTML body"), blank=True)
    attachments = models.JSONField(_("attachments"), default=list, blank=True)
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    spam_verdict = models.CharField(_("spam verdict"), max_length=32, blank=True, db_index=True)
    virus_verdict = models.CharField(_("virus verdict"), max_length=32, blank=True, db_index=True)
    spf_verdict = models.CharField(_("SPF verdict"), max_length=32, blank=True)
    dkim_verdict = models.CharField(_("DKIM verdict"), max_length=32, blank=True)
    dmarc_verdict = models.CharField(_("DMARC verdict"), max_length=32, blank=True)
    dmarc_policy = models.CharField(_("DMARC policy"), max_length=32, blank=True)
    action = models.CharField(_("action"), max_length=8, choices=Action.choices)
    topic_arn = models.CharField(_("topic ARN"), max_length=256, blank=True)
    s3_bucket = models.CharField(_("S3 bucket"), max_length=255, blank=True)
    s3_key = models.CharField(_("S3 key"), max_length=1024, blank=True)
    headers = models.JSONField(_("headers"), default=list, blank=True)
    receipt = models.JSONField(_("receipt notification"), default=dict, blank=True)
    raw = models.BinaryField(_("raw message"), null=True, blank=True)
    problems = models.JSONField(_("problems"), default=list, blank=True)
    sns_message_id = models.CharField(_("SNS MessageId"), max_length=128, blank=True)
    log = models.ForeignKey(
        "django_ses_query.EmailLog", verbose_name=_("answers"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="replies",
    )

    class Meta:
        app_label = "django_ses_query"
        verbose_name = _("received email")
        verbose_name_plural = _("received email")
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_email[:60] or self.source[:60]}: {self.subject[:60]}"
