"""The sending dashboard: figures from a seeded log, links to the filtered
log, the quota from SES (and when SES cannot be asked), and the SVG charts."""

from __future__ import annotations

import datetime
import re
from html import unescape

import django
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from django_ses_query.dashboard import charts, quota
from django_ses_query.models import EmailLog
from tests.dashboard_seed import log, seed
from tests.fakeses import error

DASHBOARD = "/admin/django_ses_query/emaillog/dashboard/"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_quota():
    quota.clear_cache()
    yield
    quota.clear_cache()


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def text(html: bytes | str) -> str:
    """The page's text, tags removed, whitespace collapsed."""
    if isinstance(html, bytes):
        html = html.decode()
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def legend_counts(html: str, section: str) -> dict[str, int]:
    part = html.split(f'id="sesq-{section}"', 1)[1].split("</section>", 1)[0]
    return {
        key: int(count)
        for key, count in re.findall(
            r'data-key="(\w+)">.*?<span class="sesq-count">(\d+)</span>', part, re.S
        )
    }


def bar_titles(html: str, section: str) -> list[str]:
    part = html.split(f'id="sesq-{section}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r"<rect [^>]*><title>([^<]*)</title></rect>", part)


def test_figures_for_the_default_window(admin_client, fake_ses):
    expected = seed()
    response = admin_client.get(DASHBOARD)
    assert response.status_code == 200
    html = response.content.decode()
    sends = legend_counts(html, "sends")
    assert sends == {"sent": expected["sent"], "failed": 1, "unknown": 1, "suppressed": 0, "queued": 0, "sending": 0}
    outcomes = legend_counts(html, "outcomes")
    assert outcomes == {key: expected[key] for key in ("delivered", "delayed", "bounced", "complained")}
    page = text(html)
    assert f"Bounce rate {expected['bounce_rate']} (3 / 10)" in page
    assert f"Complaint rate {expected['complaint_rate']} (1 / 10)" in page
    # 30 % bounces is past the 10 % pause level; 10 % complaints past 0.5 %.
    assert "SES may pause sending" in page
    assert 'id="sesq-rate-bounce"' in html and "sesq-rate sesq-level-pause" in html
    reasons = re.findall(
        r'<tr class="sesq-reason"><td>(\w+)</td><td><a href="[^"]*">([^<]*)</a></td><td class="sesq-num">(\d+)</td>',
        html,
    )
    assert [(kind, unescape(label), int(n)) for kind, label, n in reasons] == expected["reasons"]


def test_bars_per_day(admin_client, fake_ses):
    seed()
    html = admin_client.get(DASHBOARD).content.decode()
    from tests.dashboard_seed import at

    today = at(0).date().isoformat()
    three = at(3).date().isoformat()
    first = at(13).date().isoformat()
    assert sorted(bar_titles(html, "sends")) == sorted(
        [f"{today} sent: 4", f"{today} failed: 1", f"{three} sent: 5", f"{three} unknown: 1", f"{first} sent: 1"]
    )
    assert sorted(bar_titles(html, "outcomes")) == sorted(
        [
            f"{today} delivered: 3", f"{today} bounced: 1",
            f"{three} delivered: 2", f"{three} bounced: 2", f"{three} complained: 1",
            f"{first} delayed: 1",
        ]
    )
    # 14 bars' worth of day labels: one per day.
    sends_svg = html.split('id="sesq-sends"', 1)[1].split("</svg>", 1)[0]
    assert len(re.findall(r'text-anchor="middle">\d+</text>', sends_svg)) == 14


def test_thirty_day_window(admin_client, fake_ses):
    seed()
    html = admin_client.get(DASHBOARD, {"days": 30}).content.decode()
    assert legend_counts(html, "sends")["sent"] == 12
    assert legend_counts(html, "outcomes")["bounced"] == 4
    assert "Bounce rate 33.3 % (4 / 12)" in text(html)
    # A window that is not offered falls back to 14 days.
    html = admin_client.get(DASHBOARD, {"days": "9999"}).content.decode()
    assert legend_counts(html, "sends")["sent"] == 10


def test_links_open_the_filtered_log(admin_client, fake_ses):
    seed()
    html = admin_client.get(DASHBOARD).content.decode()
    links = {unescape(label): unescape(href) for href, label in re.findall(r'<a href="([^"]*)">([^<]*)</a>', html)}
    # The Permanent / General reason: the two messages of the window with it.
    response = admin_client.get(links["Permanent / General"])
    assert response.status_code == 200
    assert response.context["cl"].result_count == 2
    assert {row.outcome for row in response.context["cl"].result_list} == {"bounced"}
    response = admin_client.get(links["abuse"])
    assert [row.outcome for row in response.context["cl"].result_list] == ["complained"]
    # A status total links to those rows of the window.
    response = admin_client.get(links["failed"])
    assert [row.error_code for row in response.context["cl"].result_list] == ["MessageRejected"]
    # The bounce rate links to the bounced messages of the window (not the one 20 days ago).
    response = admin_client.get(links["Bounce rate"])
    assert response.context["cl"].result_count == 3


def test_links_to_the_dashboard(admin_client):
    changelist = admin_client.get(reverse("admin:django_ses_query_emaillog_changelist")).content.decode()
    assert f'href="{DASHBOARD}"' in changelist
    app_index = admin_client.get(reverse("admin:app_list", args=["django_ses_query"])).content.decode()
    assert f'href="{DASHBOARD}"' in app_index


def test_empty_log(admin_client, fake_ses):
    page = text(admin_client.get(DASHBOARD).content)
    assert "Nothing sent in this window." in page
    assert "No bounces or complaints in this window." in page


def test_quota_from_ses_cached(admin_client, fake_ses):
    page = text(admin_client.get(DASHBOARD).content)
    # The canned answer: 127 of 200 at 1 per second, the sandbox.
    assert "127 of 200 sent in the last 24 hours (63.5 %)" in page
    assert "Maximum send rate: 1 per second." in page
    assert "SES sandbox" in page
    assert [r.action for r in fake_ses.requests] == ["GetSendQuota"]
    admin_client.get(DASHBOARD)
    assert [r.action for r in fake_ses.requests] == ["GetSendQuota"]


def test_quota_call_fails(admin_client, fake_ses):
    fake_ses.enqueue(error("AccessDenied"))
    response = admin_client.get(DASHBOARD)
    assert response.status_code == 200
    page = text(response.content)
    assert "The quota could not be read from SES (GetSendQuota):" in page
    assert "AccessDenied" in page


def test_quota_unreachable(admin_client, settings):
    from tests.fakeses import refused_endpoint

    settings.SES_QUERY = {**settings.SES_QUERY, "ENDPOINT_URL": refused_endpoint()}
    response = admin_client.get(DASHBOARD)
    assert response.status_code == 200
    assert "ConnectionRefused" in text(response.content) or "connection" in text(response.content).lower()
    assert "The quota could not be read from SES" in text(response.content)


@pytest.mark.skipif(django.VERSION < (6, 1), reason="MAILERS is Django 6.1's")
def test_quota_with_the_mailers_entry(admin_client, fake_ses, settings):
    """The quota is read with the MAILERS entry's OPTIONS (Django 6.1)."""
    settings.SES_QUERY = {**settings.SES_QUERY, "ENDPOINT_URL": "http://127.0.0.1:9/"}
    settings.MAILERS = {
        "other": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"},
        "default": {
            "BACKEND": "django_ses_query.backend.EmailBackend",
            "OPTIONS": {"endpoint_url": fake_ses.endpoint_url, "region": "eu-west-1"},
        },
    }
    page = text(admin_client.get(DASHBOARD).content)
    assert "127 of 200 sent in the last 24 hours" in page
    assert "Region eu-west-1" in page
    assert "eu-west-1/ses/aws4_request" in fake_ses.requests[0].headers["Authorization"]


def test_needs_view_permission(client, django_user_model, fake_ses):
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(DASHBOARD).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_emaillog"))
    assert client.get(DASHBOARD).status_code == 200
    client.logout()
    assert client.get(DASHBOARD).status_code == 302


def test_subjects_and_bodies_are_not_read(admin_client, fake_ses, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    log(0, subject="secret subject", text_body="secret body")
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(DASHBOARD)
    sql = " ".join(q["sql"] for q in queries.captured_queries if "emaillog" in q["sql"].lower())
    for column in ("text_body", "html_body", "subject", "request_body", "payload"):
        assert column not in sql
    # A few grouped queries, however many rows there are (the log, the
    # events, the unsubscribes).
    assert len([q for q in queries.captured_queries if "sesq_" in q["sql"].lower() or "django_ses_query" in q["sql"].lower()]) <= 4


def test_chart_scale_and_escaping():
    assert [charts.nice_ceiling(n) for n in (0, 1, 3, 7, 10, 11, 45, 101)] == [1, 1, 5, 10, 10, 20, 50, 200]
    assert charts.ticks(50) == [0, 10, 20, 30, 40, 50]
    day = datetime.date(2026, 1, 2)
    svg = charts.stacked_bars([day], [("x", "<b>label</b>")], {(day, "x"): 3}, title="<i>t</i>")
    assert "<b>" not in svg and "<i>" not in svg
    assert "2026-01-02 &lt;b&gt;label&lt;/b&gt;: 3" in svg


def test_gauge_levels():
    assert "sesq-level-ok" in charts.rate_gauge(1.0, 5, 10)
    assert "sesq-level-review" in charts.rate_gauge(5.0, 5, 10)
    assert "sesq-level-pause" in charts.rate_gauge(12.0, 5, 10)
    assert "sesq-gauge-value" not in charts.rate_gauge(None, 5, 10)


def test_unsubscribes_per_day_and_gmails_complaint_lines(admin_client, fake_ses):
    from django_ses_query.models import Suppression

    for address in ("a@example.com", "b@example.com"):
        Suppression.objects.create(address=address, topic="news", reason="unsubscribe")
    Suppression.objects.create(address="c@example.com", reason="bounce")
    old = Suppression.objects.create(address="d@example.com", topic="news", reason="unsubscribe")
    Suppression.objects.filter(pk=old.pk).update(created_at=old.created_at - datetime.timedelta(days=400))
    html = admin_client.get(DASHBOARD).content.decode()
    part = html.split('id="sesq-unsubscribes"', 1)[1].split("</section>", 1)[0]
    assert 'id="sesq-unsubscribe-total">2<' in part
    today = datetime.date.today().isoformat()
    assert bar_titles(html, "unsubscribes") == [f"{today} unsubscribes: 2"]
    link = re.search(r'href="([^"]+)">Unsubscribes', part).group(1)
    listed = admin_client.get(unescape(link))
    assert listed.status_code == 200
    assert b"a@example.com" in listed.content and b"c@example.com" not in listed.content
    rates = html.split('id="sesq-rate-complaint"', 1)[1].split("</div>", 1)[0]
    assert "Gmail 0.10 %" in rates and "Gmail 0.30 %" in rates
    assert "0.10 % review" in rates and "0.50 % pause" in rates


def test_days_follow_the_current_time_zone(admin_client, fake_ses, settings):
    """A message sent at 23:30 in New York counts on that New York day, not
    on the next day (UTC)."""
    settings.TIME_ZONE = "America/New_York"
    from tests.dashboard_seed import at

    row = log(2)
    late = at(2, hour=23).replace(minute=30)
    EmailLog.objects.filter(pk=row.pk).update(created_at=late)
    html = admin_client.get(DASHBOARD).content.decode()
    assert bar_titles(html, "sends") == [f"{late.date().isoformat()} sent: 1"]
    assert late.astimezone(datetime.timezone.utc).date() != late.date()
