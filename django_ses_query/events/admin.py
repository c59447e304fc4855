"""SES events and the suppression list in the admin.

Events are a record: read-only for everyone (delete with the permission).
Deleting a suppression list entry un-suppresses its address (for an
unsubscribe: re-subscribes it to that topic).
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..models import EmailEvent, Suppression

EVENT_FIELDS = (
    "event_type", "recipient", "timestamp", "bounce_type", "bounce_subtype", "feedback_type",
    "diagnostic", "created_at",
)


class EmailEventInline(admin.TabularInline):
    """The events of one send log row, on its detail page."""

    model = EmailEvent
    fields = EVENT_FIELDS
    readonly_fields = EVENT_FIELDS
    extra = 0
    ordering = ("timestamp", "id")
    verbose_name_plural = _("SES events")
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EmailEvent)
class EmailEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "event_type", "recipient", "message_id", "bounce_type", "log")
    list_filter = ("event_type",)
    search_fields = ("=message_id", "recipient")
    search_help_text = _("Recipient, or an exact SES MessageId.")
    list_select_related = ("log",)
    raw_id_fields = ("log",)
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    readonly_fields = (
        "log", "message_id", *EVENT_FIELDS, "sns_message_id", "payload",
    )
    fields = readonly_fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class TopicFilter(admin.SimpleListFilter):
    """One choice per topic on the list, plus every message and every topic."""

    title = _("topic")
    parameter_name = "topic"

    def lookups(self, request, model_admin):
        topics = (
            model_admin.get_queryset(request).order_by("topic").values_list("topic", flat=True).distinct()
        )
        names = {"": _("(every message)"), Suppression.ALL_TOPICS: _("(every topic)")}
        return [(topic or "-", names.get(topic, topic)) for topic in topics]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(topic="" if self.value() == "-" else self.value())


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ("address", "topic", "reason", "created_at", "event")
    list_filter = ("reason", TopicFilter)
    search_fields = ("address",)
    search_help_text = _("Address. Delete an entry to mail the address again (or re-subscribe it to the topic).")
    list_select_related = ("event",)
    ordering = ("-created_at",)
    readonly_fields = ("address", "topic", "reason", "created_at", "event")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
