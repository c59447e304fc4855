"""The queue in the admin: the Resend action for failed and unknown
messages, and a "Queue" section on the detail page (claim time, the row it
resends, and whether it can be resent, or why not)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import recovery


@admin.action(description=_("Resend the selected failed or unknown messages"), permissions=["resend"])
def resend_selected(modeladmin, request, queryset):
    """Queue each selected failed/unknown row again as a new row linked to
    it (``resent_from``); say which could not be and why."""
    from .backend import QueuedEmailBackend

    try:
        backend = QueuedEmailBackend()
    except ImproperlyConfigured as error:
        modeladmin.message_user(request, str(error), messages.ERROR)
        return
    resent, refused = [], []
    with transaction.atomic(using=backend.config.log_database):
        for row in queryset.defer(None).order_by("pk"):
            reason = recovery.resend_refusal(row)
            if reason:
                refused.append(f"#{row.pk}: {reason}")
            else:
                resent.append(recovery.resend(backend, row))
    if resent:
        modeladmin.message_user(
            request,
            ngettext("Queued %(count)d message again (%(ids)s).", "Queued %(count)d messages again (%(ids)s).",
                     len(resent)) % {"count": len(resent), "ids": ", ".join(f"#{row.pk}" for row in resent)},
            messages.SUCCESS,
        )
    if refused:
        modeladmin.message_user(
            request, _("Not resent: %(reasons)s.") % {"reasons": "; ".join(refused)}, messages.WARNING
        )


class QueueAdminMixin:
    """For the send log's ModelAdmin: the "Queue" section of the detail page."""

    queue_fields = ("claimed_at", "resent_from_link", "resend_display")

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), *self.queue_fields)

    def queue_fieldsets(self, obj) -> list:
        """The "Queue" section, for rows that went through the queue."""
        if obj is not None and (obj.claimed_at or obj.resent_from_id or obj.status in ("queued", "sending")):
            return [(_("Queue"), {"fields": self.queue_fields})]
        return []

    @admin.display(description=_("resent from"))
    def resent_from_link(self, obj):
        if obj.resent_from_id is None:
            return self.get_empty_value_display()
        url = reverse(f"{self.admin_site.name}:django_ses_query_emaillog_change", args=[obj.resent_from_id])
        return format_html('<a href="{}">#{}</a>', url, obj.resent_from_id)

    @admin.display(description=_("resend"))
    def resend_display(self, obj) -> str:
        reason = recovery.resend_refusal(obj)
        if reason:
            return _("Cannot be resent: %(reason)s.") % {"reason": reason}
        return _("Can be resent: select it in the list and use the Resend action.")
