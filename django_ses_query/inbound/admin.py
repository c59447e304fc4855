"""Received mail in the admin: read-only (delete with the permission).

Everything shown is escaped: received HTML is shown as its source, never
rendered; a header or subject such as ``<script>`` reads as text. The raw
message (kept with ``INBOUND_STORE_RAW``) is a ``.eml`` download, served as
an attachment to users who may view the row.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from .models import InboundEmail

LIST_CHARS = 80
#: Columns the list never shows, left out of its query.
LIST_DEFERRED_FIELDS = ("raw", "text_body", "html_body", "headers", "receipt", "attachments", "problems")


def _pre(value) -> str:
    return format_html('<pre class="sesq-body">{}</pre>', value)


def _json(value) -> str:
    return _pre(json.dumps(value, indent=2, ensure_ascii=False))


class RepliesInline(admin.TabularInline):
    """The received mail that answers one send log row, on its detail page."""

    model = InboundEmail
    fk_name = "log"
    fields = ("received", "from_email", "subject")
    readonly_fields = fields
    extra = 0
    ordering = ("received_at", "id")
    verbose_name = _("reply")
    verbose_name_plural = _("Replies")
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).only("id", "log_id", "received_at", "from_email", "subject")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("received at"))
    def received(self, obj: InboundEmail):
        url = reverse(f"{self.admin_site.name}:django_ses_query_inboundemail_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.received_at or obj.created_at)


@admin.register(InboundEmail)
class InboundEmailAdmin(admin.ModelAdmin):
    list_display = (
        "received_at", "from_summary", "subject_summary", "recipients_summary", "spam_verdict",
        "virus_verdict", "authentication", "log",
    )
    list_filter = ("spam_verdict", "virus_verdict", "spf_verdict", "dkim_verdict", "dmarc_verdict", "action")
    search_fields = ("from_email", "subject", "=message_id")
    search_help_text = _("From, subject, or an exact SES MessageId.")
    list_select_related = ("log",)
    ordering = ("-received_at", "-id")
    date_hierarchy = "received_at"
    show_full_result_count = False
    list_per_page = 100
    view_on_site = False
    fieldsets = (
        (_("Message"), {"fields": (
            "received_at", "created_at", "source", "recipients_display", "from_email", "to_display",
            "cc_display", "reply_to_display", "subject", "message_id_header", "in_reply_to", "references",
            "log", "attachments_display", "problems_display",
        )}),
        (_("Verdicts"), {"fields": (
            "spam_verdict", "virus_verdict", "spf_verdict", "dkim_verdict", "dmarc_verdict", "dmarc_policy",
        )}),
        (_("Amazon SES"), {"fields": (
            "message_id", "action", "topic_arn", "s3_bucket", "s3_key", "sns_message_id", "size_bytes",
            "raw_download",
        )}),
        (_("Body"), {"fields": ("text_body_display", "html_body_display")}),
        (_("Headers and notification"), {"fields": ("headers_display", "receipt_display"),
                                         "classes": ("collapse",)}),
    )
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])

    class Media:
        css = {"all": ("django_ses_query/admin.css",)}

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("_changelist"):
            queryset = queryset.defer(*LIST_DEFERRED_FIELDS)
        return queryset

    def get_urls(self):
        raw = path(
            "<path:object_id>/raw/", self.admin_site.admin_view(self.raw_view),
            name="django_ses_query_inboundemail_raw",
        )
        return [raw, *super().get_urls()]

    def raw_view(self, request, object_id):
        """The raw message as a ``.eml`` attachment (never shown inline)."""
        row = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, row):
            raise Http404
        if row.raw is None:
            raise Http404("The raw message was not kept (INBOUND_STORE_RAW).")
        response = HttpResponse(bytes(row.raw), content_type="message/rfc822")
        response["Content-Disposition"] = f'attachment; filename="{row.pk}.eml"'
        response["X-Content-Type-Options"] = "nosniff"
        return response

    # Columns and read-only fields. format_html escapes every value.

    @staticmethod
    def _cut(text: str):
        cut = Truncator(text).chars(LIST_CHARS)
        return text if cut == text else format_html('<span title="{}">{}</span>', text, cut)

    @admin.display(description=_("from"))
    def from_summary(self, obj: InboundEmail):
        return self._cut(obj.from_email or obj.source)

    @admin.display(description=_("subject"))
    def subject_summary(self, obj: InboundEmail):
        return self._cut(obj.subject)

    @admin.display(description=_("recipients"))
    def recipients_summary(self, obj: InboundEmail):
        return self._cut(", ".join(str(r) for r in obj.recipients or ()))

    @admin.display(description=_("SPF / DKIM / DMARC"))
    def authentication(self, obj: InboundEmail) -> str:
        return " / ".join(v or "-" for v in (obj.spf_verdict, obj.dkim_verdict, obj.dmarc_verdict))

    @admin.display(description=_("envelope recipients"))
    def recipients_display(self, obj: InboundEmail) -> str:
        return ", ".join(str(r) for r in obj.recipients or ())

    @admin.display(description=_("to"))
    def to_display(self, obj: InboundEmail) -> str:
        return ", ".join(str(a) for a in obj.to or ())

    @admin.display(description=_("cc"))
    def cc_display(self, obj: InboundEmail) -> str:
        return ", ".join(str(a) for a in obj.cc or ())

    @admin.display(description=_("reply to"))
    def reply_to_display(self, obj: InboundEmail) -> str:
        return ", ".join(str(a) for a in obj.reply_to or ())

    @admin.display(description=_("attachments"))
    def attachments_display(self, obj: InboundEmail):
        rows = [
            (a.get("filename") or "-", a.get("content_type", ""), a.get("size", ""))
            for a in obj.attachments or () if isinstance(a, dict)
        ]
        if not rows:
            return self.get_empty_value_display()
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{} ({}, {} bytes)</li>", rows))

    @admin.display(description=_("problems"))
    def problems_display(self, obj: InboundEmail):
        if not obj.problems:
            return self.get_empty_value_display()
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((p,) for p in obj.problems)))

    @admin.display(description=_("raw message"))
    def raw_download(self, obj: InboundEmail):
        if obj.raw is None:
            return _("not kept (INBOUND_STORE_RAW is off)")
        url = reverse(f"{self.admin_site.name}:django_ses_query_inboundemail_raw", args=[obj.pk])
        return format_html('<a href="{}" download>{}</a>', url, _("Download .eml"))

    @admin.display(description=_("text body"))
    def text_body_display(self, obj: InboundEmail):
        return _pre(obj.text_body) if obj.text_body else self.get_empty_value_display()

    @admin.display(description=_("HTML body (source)"))
    def html_body_display(self, obj: InboundEmail):
        return _pre(obj.html_body) if obj.html_body else self.get_empty_value_display()

    @admin.display(description=_("headers"))
    def headers_display(self, obj: InboundEmail):
        lines = "\n".join(f"{name}: {value}" for name, value in obj.headers or ())
        return _pre(lines) if lines else self.get_empty_value_display()

    @admin.display(description=_("notification"))
    def receipt_display(self, obj: InboundEmail):
        return _json(obj.receipt) if obj.receipt else self.get_empty_value_display()
