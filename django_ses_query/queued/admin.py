"""The admin's Resend action for failed and unknown queued or sent messages."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
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
