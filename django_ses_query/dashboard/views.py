"""The dashboard page: wired into the send log's admin (``get_urls``), shown
to users who may view the log.

Reads one query parameter, ``days``: one of :data:`.stats.WINDOWS`, anything
else falls back to the default window.
"""

from __future__ import annotations

import functools
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.template.loader import get_template
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import charts, stats
from .quota import CACHE_SECONDS, get_quota

URL_NAME = "django_ses_query_emaillog_dashboard"

STATUS_LABELS = {
    "sent": gettext_lazy("sent"),
    "failed": gettext_lazy("failed"),
    "unknown": gettext_lazy("unknown"),
    "suppressed": gettext_lazy("suppressed"),
    "queued": gettext_lazy("queued"),
    "sending": gettext_lazy("sending"),
}
OUTCOME_LABELS = {
    "delivered": gettext_lazy("delivered"),
    "delayed": gettext_lazy("delayed"),
    "bounced": gettext_lazy("bounced"),
    "complained": gettext_lazy("complained"),
}


@functools.cache
def breadcrumbs_as_list() -> bool:
    """Whether this Django's admin writes breadcrumbs as ``<ol>`` (newer
    versions) rather than a ``<div>``: the page follows suit."""
    template = get_template("admin/base.html")
    return '<ol class="breadcrumbs">' in getattr(getattr(template, "template", None), "source", "")


def suppression_link(site: str, **query) -> str | None:
    """The suppression list's changelist, filtered; None when this admin
    site does not show it."""
    try:
        return f"{reverse(f'{site}:django_ses_query_suppression_changelist')}?{urlencode(query)}"
    except NoReverseMatch:
        return None


def dashboard_view(model_admin):
    """The view for ``model_admin`` (the :class:`EmailLog` admin)."""

    def view(request):
        if not model_admin.has_view_permission(request):
            raise PermissionDenied
        try:
            days = int(request.GET.get("days", stats.DEFAULT_WINDOW))
        except ValueError:
            days = stats.DEFAULT_WINDOW
        if days not in stats.WINDOWS:
            days = stats.DEFAULT_WINDOW
        figures = stats.figures(days)
        changelist = reverse(f"{model_admin.admin_site.name}:django_ses_query_emaillog_changelist")
        since = {"created_at__gte": figures.start.isoformat()}

        def log_link(**query) -> str:
            return f"{changelist}?{urlencode({**since, **query})}"

        status_series = [(s.value, STATUS_LABELS[s.value]) for s in stats.STATUSES]
        outcome_series = [(o.value, OUTCOME_LABELS[o.value]) for o in stats.OUTCOMES]
        rates = []
        for rate, label, outcome, marks in (
            (figures.bounce_rate, _("Bounce rate"), "bounced", ()),
            (figures.complaint_rate, _("Complaint rate"), "complained",
             [(level, "Gmail") for level in stats.GMAIL_COMPLAINT_LEVELS]),
        ):
            rates.append(
                {
                    "rate": rate,
                    "label": label,
                    "shown": charts.percent_text(rate.percent),
                    "gauge": charts.rate_gauge(rate.percent, rate.review, rate.pause, marks),
                    "link": log_link(outcome__exact=outcome),
                }
            )
        context = {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": _("Sending dashboard"),
            "days": days,
            "windows": stats.WINDOWS,
            "figures": figures,
            "first_day": figures.days[0],
            "last_day": figures.days[-1],
            "status_totals": [
                (key, label, figures.totals.get(key, 0), log_link(status__exact=key))
                for key, label in status_series
            ],
            "outcome_totals": [
                (key, label, figures.outcome_totals.get(key, 0), log_link(outcome__exact=key))
                for key, label in outcome_series
            ],
            "sends_chart": charts.stacked_bars(
                figures.days, status_series, figures.sends, title=_("Sends per day by status")
            ),
            "outcomes_chart": charts.stacked_bars(
                figures.days, outcome_series, figures.outcomes, title=_("Outcomes per day")
            ),
            "rates": rates,
            "unsubscribes_chart": charts.stacked_bars(
                figures.days, [("unsubscribe", _("unsubscribes"))], figures.unsubscribes,
                title=_("Unsubscribes per day"),
            ),
            "unsubscribes_link": suppression_link(model_admin.admin_site.name, reason__exact="unsubscribe"),
            "reasons": [(reason, log_link(**reason.log_filter())) for reason in figures.reasons],
            "quota": get_quota(),
            "quota_cache_minutes": CACHE_SECONDS // 60,
            "changelist_url": changelist,
            "breadcrumbs_as_list": breadcrumbs_as_list(),
        }
        return TemplateResponse(request, "admin/django_ses_query/dashboard.html", context)

    return view
