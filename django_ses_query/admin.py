"""The send log in the admin: read-only, and quick on tables of millions of rows.

* No add and no change for anyone; delete for users with the delete permission.
* One count per page at most: no count of the unfiltered table
  (``show_full_result_count = False``), no facets, and on PostgreSQL the
  planner's row estimate instead of ``COUNT(*)`` once the table is large
  (:class:`EstimatedCountPaginator`).
* Filters and lookups are served by the model's indexes: status, action and
  configuration set with ``created_at``; ``created_at`` for the dates (whose
  links come from ``MIN``/``MAX``, not a ``SELECT DISTINCT``: see
  ``templatetags/sesq_admin.py``) and for sorting, the only sortable column;
  ``message_id`` for a search that is an SES MessageId.
* The list fits a window 1280 px wide with the navigation sidebar open and
  the filters shown: created at, status, outcome, to and subject, which wrap
  (``admin.css``); a long subject or address list is cut, with the whole of
  it in the cell's ``title``. From, the SES MessageId and the error code are
  on the detail page (a MessageId is still searched for).
* Everything shown is escaped: a subject such as ``<b>hi</b>`` reads as text.
"""

from __future__ import annotations

import json
import re

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connections
from django.utils.encoding import punycode
from django.utils.functional import cached_property
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .events.admin import EmailEventInline
from .inbound.admin import RepliesInline
from .models import EmailLog
from .queued.admin import QueueAdminMixin, resend_selected

#: An SES MessageId (``0100018c4f6a1b2c-<uuid>-000000``): searched for exactly,
#: through the ``message_id`` index, instead of with a scan.
MESSAGE_ID_PATTERN = re.compile(
    r"^[0-9a-f]{16}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-[0-9a-f]{6}$",
    re.IGNORECASE,
)

#: Lookups through the events that the dashboard links to.
DASHBOARD_LOOKUPS = frozenset(
    {"events__event_type", "events__bounce_type", "events__bounce_subtype", "events__feedback_type"}
)

#: Columns the list never shows, left out of its query.
LIST_DEFERRED_FIELDS = ("text_body", "html_body", "error_message", "tags", "reply_to", "cc", "bcc")

#: In the list, a subject is cut after this many characters and an address
#: list after this many addresses (the whole is the cell's ``title``).
LIST_SUBJECT_CHARS = 80
LIST_ADDRESSES = 3


class EstimatedCountPaginator(Paginator):
    """Counts exactly, except on PostgreSQL once the planner expects more
    than :attr:`estimate_above` rows: then its estimate is used, and no
    ``COUNT(*)`` runs (the page links follow the estimate).
    """

    #: Row count (PostgreSQL's estimate) from which the estimate is shown.
    estimate_above = 100_000

    @cached_property
    def count(self) -> int:
        estimate = self.estimate()
        if estimate is not None and estimate > self.estimate_above:
            return estimate
        return super().count

    def estimate(self) -> int | None:
        """PostgreSQL's estimate of the rows in ``object_list``, or None."""
        queryset = self.object_list
        if not hasattr(queryset, "query") or connections[queryset.db].vendor != "postgresql":
            return None
        try:
            plan = json.loads(queryset.order_by().explain(format="json"))
            return int(plan[0]["Plan"]["Plan Rows"])
        except (KeyError, IndexError, TypeError, ValueError):
            return None


class EmailLogChangeList(ChangeList):
    def get_queryset(self, request, *args, **kwargs):
        return super().get_queryset(request, *args, **kwargs).defer(*LIST_DEFERRED_FIELDS)


class ConfigurationSetFilter(admin.SimpleListFilter):
    """The configuration sets in the log, found with one index seek each
    (a loose index scan) rather than a ``SELECT DISTINCT`` over every row."""

    title = _("configuration set")
    parameter_name = "configuration_set"
    #: Stand-in for "no configuration set" (not a valid set name).
    NONE = "(none)"
    #: At most this many sets are offered.
    limit = 50

    def lookups(self, request, model_admin):
        values = model_admin.get_queryset(request).order_by("configuration_set").values_list(
            "configuration_set", flat=True
        )
        found: list[str] = []
        value = values.first()
        while value is not None and len(found) < self.limit:
            found.append(value)
            value = values.filter(configuration_set__gt=value).first()
        return [(self.NONE if v == "" else v, _("(none)") if v == "" else v) for v in found]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(configuration_set="" if value == self.NONE else value)


def stored_spellings(term: str) -> list[str]:
    """How a non-ASCII search term may be spelled in the log: with JSON's
    ``\\u`` escapes (SQLite stores the address lists so), and with its
    domains in punycode (as they were sent)."""
    escaped = json.dumps(term)[1:-1]
    bits = []
    for bit in term.split():
        local, at, domain = bit.rpartition("@")
        try:
            bits.append(f"{local}{at}{punycode(domain)}" if not domain.isascii() else bit)
        except UnicodeError:
            bits.append(bit)
    return [s for s in dict.fromkeys([escaped, " ".join(bits)]) if s != term]


def _addresses(values) -> str:
    return ", ".join(str(v) for v in values or ())


def _breakable_address(address: str) -> SafeString:
    """``address``, escaped, with a line break allowed after its ``@``
    (``<wbr>``): a narrow column shows ``bob@`` / ``example.net``, not
    ``bob@example.n`` / ``et``."""
    local, at, domain = address.rpartition("@")
    if not at:
        return conditional_escape(address)
    return format_html("{}<wbr>{}", local + at, domain)


@admin.register(EmailLog)
class EmailLogAdmin(QueueAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "status_label", "outcome", "to_summary", "subject_summary")
    list_filter = ("status", "outcome", "action", ConfigurationSetFilter)
    inlines = [EmailEventInline, RepliesInline]
    date_hierarchy = "created_at"
    search_fields = ("message_id", "subject", "to", "cc", "bcc")
    search_help_text = _("Recipients, subject or SES MessageId (an exact MessageId is found at once).")
    ordering = ("-created_at", "-id")
    # Sorting by another column would sort millions of rows without an index.
    sortable_by = ("created_at",)
    list_per_page = 100
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    actions_on_bottom = False
    actions = [resend_selected]
    view_on_site = False

    fieldsets_message = (
        _("Message"),
        {
            "fields": (
                "status_label",
                "outcome",
                "created_at",
                "action",
                "from_email",
                "to_display",
                "cc_display",
                "bcc_display",
                "reply_to_display",
                "suppressed_display",
                "subject",
                "topic",
                "template_name",
            )
        },
    )
    fieldsets_error = (
        _("Error"),
        {"fields": ("error_code", "error_message", "http_status")},
    )
    fieldsets_ses = (
        _("Amazon SES"),
        {
            "fields": (
                "message_id",
                "request_id",
                "region",
                "configuration_set",
                "tags_display",
                "attempts",
                "duration_ms",
                "size_bytes",
                "bulk_id",
            )
        },
    )
    fieldsets_body = (
        _("Body"),
        {"fields": ("text_body_display", "html_body_display", "template_data"), "classes": ("collapse",)},
    )
    readonly_fields = (
        "template_name",
        "template_data",
        "bulk_id",
        "status_label",
        "outcome",
        "suppressed_display",
        "created_at",
        "action",
        "from_email",
        "to_display",
        "cc_display",
        "bcc_display",
        "reply_to_display",
        "subject",
        "topic",
        "error_code",
        "error_message",
        "http_status",
        "message_id",
        "request_id",
        "region",
        "configuration_set",
        "tags_display",
        "attempts",
        "duration_ms",
        "size_bytes",
        "text_body_display",
        "html_body_display",
    )

    class Media:
        css = {"all": ("django_ses_query/admin.css",)}

    # Permissions: a record of what happened, never edited.

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_resend_permission(self, request) -> bool:
        # Queues a new row: the model's add permission (superusers have it).
        return request.user.has_perm("django_ses_query.add_emaillog")

    # The list.

    def get_changelist(self, request, **kwargs):
        return EmailLogChangeList

    def get_urls(self):
        from django.urls import path

        from .dashboard.views import URL_NAME, dashboard_view

        dashboard = path("dashboard/", self.admin_site.admin_view(dashboard_view(self)), name=URL_NAME)
        return [dashboard, *super().get_urls()]

    def lookup_allowed(self, lookup, value, request=None):
        # The dashboard's links to the messages with a bounce or complaint reason.
        if lookup in DASHBOARD_LOOKUPS:
            return True
        return super().lookup_allowed(lookup, value, request)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if MESSAGE_ID_PATTERN.match(term):
            return queryset.filter(message_id=term), False
        results, distinct = super().get_search_results(request, queryset, search_term)
        if not term.isascii():
            for spelling in stored_spellings(term):
                more, more_distinct = super().get_search_results(request, queryset, spelling)
                results, distinct = results | more, distinct or more_distinct
        return results, distinct

    # The detail page.

    def get_fieldsets(self, request, obj=None):
        if obj is not None and (obj.status == EmailLog.Status.FAILED or obj.error_code):
            # The error first: it is what one opens a failed row for.
            return [
                self.fieldsets_error, self.fieldsets_message, self.fieldsets_ses, self.fieldsets_body,
                *self.queue_fieldsets(obj),
            ]
        return [self.fieldsets_message, self.fieldsets_ses, self.fieldsets_body, *self.queue_fieldsets(obj)]

    # Columns and read-only fields. format_html escapes every value.

    @admin.display(description=_("status"), ordering="status")
    def status_label(self, obj: EmailLog):
        return format_html(
            '<span class="sesq-status sesq-status-{}">{}</span>',
            obj.status,
            obj.get_status_display(),
        )

    @admin.display(description=_("to"))
    def to_display(self, obj: EmailLog) -> str:
        return _addresses(obj.to)

    @admin.display(description=_("to"))
    def to_summary(self, obj: EmailLog):
        addresses = [str(address) for address in obj.to or ()]
        shown = format_html_join(", ", "{}", ((_breakable_address(a),) for a in addresses[:LIST_ADDRESSES]))
        more = len(addresses) - LIST_ADDRESSES
        if more <= 0:
            return shown
        return format_html(
            '<span title="{}">{} {}</span>',
            ", ".join(addresses),
            shown,
            ngettext("and %(count)d more", "and %(count)d more", more) % {"count": more},
        )

    @admin.display(description=_("subject"))
    def subject_summary(self, obj: EmailLog):
        cut = Truncator(obj.subject).chars(LIST_SUBJECT_CHARS)
        if cut == obj.subject:
            return obj.subject
        return format_html('<span title="{}">{}</span>', obj.subject, cut)

    @admin.display(description=_("cc"))
    def cc_display(self, obj: EmailLog) -> str:
        return _addresses(obj.cc)

    @admin.display(description=_("bcc"))
    def bcc_display(self, obj: EmailLog) -> str:
        return _addresses(obj.bcc)

    @admin.display(description=_("reply to"))
    def reply_to_display(self, obj: EmailLog) -> str:
        return _addresses(obj.reply_to)

    @admin.display(description=_("suppressed"))
    def suppressed_display(self, obj: EmailLog) -> str:
        return _addresses(obj.suppressed)

    @admin.display(description=_("tags"))
    def tags_display(self, obj: EmailLog) -> str:
        return ", ".join(f"{name}={value}" for name, value in (obj.tags or {}).items())

    @admin.display(description=_("text body"))
    def text_body_display(self, obj: EmailLog):
        if not obj.text_body:
            return self.get_empty_value_display()
        return format_html('<pre class="sesq-body">{}</pre>', obj.text_body)

    @admin.display(description=_("HTML body (source)"))
    def html_body_display(self, obj: EmailLog):
        if not obj.html_body:
            return self.get_empty_value_display()
        return format_html('<pre class="sesq-body">{}</pre>', obj.html_body)
