"""Admin template tags for the send log.

``{% sesq_date_hierarchy cl %}`` is the admin's ``{% date_hierarchy cl %}``
with the years, months or days offered taken from the first and last
``created_at`` (``MIN``/``MAX``, served by an index) instead of a
``SELECT DISTINCT`` over every row: on a large log the periods between the
first and last row are offered even if one of them has no rows.
"""

from __future__ import annotations

import datetime

from django import template
from django.contrib.admin.templatetags import admin_list
from django.db.models import Max, Min
from django.utils import timezone

register = template.Library()


def _periods(first: datetime.datetime, last: datetime.datetime, kind: str) -> list[datetime.datetime]:
    """The starts of the years, months or days from ``first`` to ``last``."""
    tzinfo = first.tzinfo
    if kind == "year":
        return [datetime.datetime(year, 1, 1, tzinfo=tzinfo) for year in range(first.year, last.year + 1)]
    if kind == "month":
        periods = []
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            periods.append(datetime.datetime(year, month, 1, tzinfo=tzinfo))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return periods
    days = (last.date() - first.date()).days
    start = datetime.datetime(first.year, first.month, first.day, tzinfo=tzinfo)
    return [start + datetime.timedelta(days=n) for n in range(days + 1)]


class _PeriodsFromRange:
    """Stands in for the changelist's queryset in admin_list.date_hierarchy."""

    def __init__(self, queryset):
        self._queryset = queryset

    def aggregate(self, *args, **kwargs):
        return self._queryset.aggregate(*args, **kwargs)

    def datetimes(self, field_name, kind, *args, **kwargs):
        bounds = self._queryset.aggregate(first=Min(field_name), last=Max(field_name))
        if bounds["first"] is None or bounds["last"] is None:
            return []
        first, last = bounds["first"], bounds["last"]
        if timezone.is_aware(first):
            first, last = timezone.localtime(first), timezone.localtime(last)
        return _periods(first, last, kind)

    dates = datetimes


class _ChangeList:
    """The changelist, with :class:`_PeriodsFromRange` as its queryset."""

    def __init__(self, cl):
        self._cl = cl
        self.queryset = _PeriodsFromRange(cl.queryset)

    def __getattr__(self, name):
        return getattr(self._cl, name)


@register.inclusion_tag(
    # As {% date_hierarchy %} looks them up (per model, per app, default).
    [
        "admin/django_ses_query/emaillog/date_hierarchy.html",
        "admin/django_ses_query/date_hierarchy.html",
        "admin/date_hierarchy.html",
    ],
    name="sesq_date_hierarchy",
)
def date_hierarchy(cl):
    return admin_list.date_hierarchy(_ChangeList(cl))
