"""The send log in the admin, through Django's test client.

Rows come from real sends through the backend to the local SES endpoint
(``fake_ses``), except where a test needs many rows or old dates.
"""

from __future__ import annotations

import datetime
import re

import pytest
from django.contrib.auth.models import Permission
from django.core import checks
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_ses_query.admin import EstimatedCountPaginator
from django_ses_query.backend import EmailBackend
from django_ses_query.models import EmailLog
from tests.fakeses import error

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:django_ses_query_emaillog_changelist")
ADD_URL = reverse("admin:django_ses_query_emaillog_add")
HOSTILE_SUBJECT = "<script>alert('x')</script><b>bold</b> & more"


def change_url(row):
    return reverse("admin:django_ses_query_emaillog_change", args=[row.pk])


def delete_url(row):
    return reverse("admin:django_ses_query_emaillog_delete", args=[row.pk])


@pytest.fixture
def send(fake_ses):
    """send(subject, ..., fail="MessageRejected") → the message's log row."""
    backend = EmailBackend(fail_silently=True, log_body=True)

    def send(subject="Hello", *, fail=None, to=("to@example.com",), html=None, headers=None, attach=False):
        if fail:
            fake_ses.enqueue(error(fail))
        message = EmailMultiAlternatives(
            subject, "Plain body", "from@example.com", list(to), headers=headers or {}
        )
        if html:
            message.attach_alternative(html, "text/html")
        if attach:
            message.attach("report.txt", "attachment text", "text/plain")
        backend.send_messages([message])
        assert message.ses_log is not None
        return message.ses_log

    return send


def listed_ids(response) -> set[int]:
    return {int(pk) for pk in re.findall(r"/emaillog/(\d+)/change/", response.content.decode())}


def fieldsets(html: str) -> list[str]:
    """The headings of the detail page's groups of fields, in order."""
    return re.findall(r'class="fieldset-heading">([^<]*)</h2>', html)


def make_staff(django_user_model, *codenames):
    user = django_user_model.objects.create_user("staff", "staff@example.com", "pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="django_ses_query", codename__in=codenames)
    )
    return user


def test_admin_passes_system_checks():
    assert checks.run_checks(tags=[checks.Tags.admin]) == []


# -- The list --------------------------------------------------------------


def test_list_offers_no_add(admin_client, send):
    send()
    html = admin_client.get(LIST_URL).content.decode()
    assert ADD_URL not in html
    assert admin_client.get(ADD_URL).status_code == 403


def test_filter_by_status(admin_client, send):
    sent = send("ok")
    failed = send("bad", fail="MessageRejected")
    response = admin_client.get(LIST_URL, {"status__exact": "failed"})
    assert listed_ids(response) == {failed.pk}
    response = admin_client.get(LIST_URL, {"status__exact": "sent"})
    assert listed_ids(response) == {sent.pk}


def test_filter_by_action(admin_client, send):
    plain = send("plain")
    raw = send("with attachment", attach=True)
    assert (plain.action, raw.action) == ("SendEmail", "SendRawEmail")
    response = admin_client.get(LIST_URL, {"action__exact": "SendRawEmail"})
    assert listed_ids(response) == {raw.pk}


def test_filter_by_configuration_set(admin_client, send):
    marketing = send("news", headers={"X-SES-CONFIGURATION-SET": "marketing"})
    alerts = send("alert", headers={"X-SES-CONFIGURATION-SET": "alerts"})
    neither = send("plain")

    response = admin_client.get(LIST_URL)
    html = response.content.decode()
    # Each set used is offered, and "(none)" for rows without one.
    assert "?configuration_set=marketing" in html
    assert "?configuration_set=alerts" in html
    assert "?configuration_set=%28none%29" in html

    assert listed_ids(admin_client.get(LIST_URL, {"configuration_set": "marketing"})) == {marketing.pk}
    assert listed_ids(admin_client.get(LIST_URL, {"configuration_set": "alerts"})) == {alerts.pk}
    assert listed_ids(admin_client.get(LIST_URL, {"configuration_set": "(none)"})) == {neither.pk}


def backdate(row, *args):
    EmailLog.objects.filter(pk=row.pk).update(created_at=datetime.datetime(*args, tzinfo=datetime.timezone.utc))


def test_date_hierarchy(admin_client, send):
    recent = send("recent")
    old = send("old")
    backdate(old, 2021, 3, 4, 12)
    html = admin_client.get(LIST_URL).content.decode()
    years = [int(y) for y in re.findall(r"created_at__year=(\d{4})", html)]
    # The years from the first row to the last.
    assert years == list(range(2021, recent.created_at.year + 1))

    response = admin_client.get(LIST_URL, {"created_at__year": "2021"})
    assert listed_ids(response) == {old.pk}
    assert "created_at__month=3" in response.content.decode()
    response = admin_client.get(
        LIST_URL, {"created_at__year": "2021", "created_at__month": "3", "created_at__day": "4"}
    )
    assert listed_ids(response) == {old.pk}


def test_date_hierarchy_offers_the_days_between_first_and_last(admin_client, send):
    first, last, other_month = send("a"), send("b"), send("c")
    backdate(first, 2024, 2, 27, 8)
    backdate(last, 2024, 3, 2, 23)
    backdate(other_month, 2024, 5, 1, 0)

    html = admin_client.get(LIST_URL).content.decode()
    assert re.findall(r"created_at__month=(\d+)", html) == ["2", "3", "4", "5"]
    html = admin_client.get(LIST_URL, {"created_at__year": "2024", "created_at__month": "2"}).content.decode()
    assert re.findall(r"created_at__day=(\d+)", html) == ["27"]
    response = admin_client.get(LIST_URL, {"created_at__year": "2024", "created_at__month": "3"})
    assert re.findall(r"created_at__day=(\d+)", response.content.decode()) == ["2"]
    assert listed_ids(response) == {last.pk}


def test_date_hierarchy_needs_no_distinct_scan(admin_client, send):
    send("one")
    backdate(send("two"), 2020, 1, 1)
    with CaptureQueriesContext(connection) as queries:
        html = admin_client.get(LIST_URL).content.decode()
    assert "created_at__year=2020" in html
    log_queries = [q["sql"].upper() for q in queries if "DJANGO_SES_QUERY_EMAILLOG" in q["sql"].upper()]
    assert log_queries and not [sql for sql in log_queries if "DISTINCT" in sql]


def test_search_recipient_subject_and_message_id(admin_client, send):
    alice = send("Quarterly report", to=["alice@example.com"])
    bob = send("Password reset", to=["bob@example.org"])

    assert listed_ids(admin_client.get(LIST_URL, {"q": "bob@example"})) == {bob.pk}
    assert listed_ids(admin_client.get(LIST_URL, {"q": "quarterly"})) == {alice.pk}
    # A whole MessageId, and part of one.
    assert listed_ids(admin_client.get(LIST_URL, {"q": alice.message_id})) == {alice.pk}
    assert listed_ids(admin_client.get(LIST_URL, {"q": f"  {bob.message_id} "})) == {bob.pk}
    assert listed_ids(admin_client.get(LIST_URL, {"q": bob.message_id[17:30]})) == {bob.pk}


def test_search_finds_cc_and_bcc(admin_client, fake_ses):
    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"], cc=["carol@example.net"], bcc=["dave@example.net"])
    EmailBackend().send_messages([message])
    other = EmailMessage("s", "b", "from@example.com", ["to@example.com"])
    EmailBackend().send_messages([other])
    assert listed_ids(admin_client.get(LIST_URL, {"q": "carol@"})) == {message.ses_log.pk}
    assert listed_ids(admin_client.get(LIST_URL, {"q": "dave@"})) == {message.ses_log.pk}


def test_search_by_message_id_is_an_exact_indexed_lookup(admin_client, send):
    row = send()
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(LIST_URL, {"q": row.message_id})
    assert listed_ids(response) == {row.pk}
    selects = [q["sql"] for q in queries if "django_ses_query_emaillog" in q["sql"]]
    assert selects and all("LIKE" not in sql.upper() for sql in selects)


def test_list_never_counts_the_whole_table(admin_client, send):
    send("one")
    send("two", fail="MessageRejected")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(LIST_URL, {"q": "one"})
    assert response.status_code == 200
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    # One count, of the search's results (for the page links); none of the table.
    assert len(counts) == 1 and "LIKE" in counts[0].upper()
    html = response.content.decode()
    assert "1 result" in html and "Show all" in html and " total" not in html


def test_list_query_leaves_out_the_bodies(admin_client, send):
    send("one", html="<p>big body</p>")
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(LIST_URL)
    page_query = [q["sql"] for q in queries if '"subject"' in q["sql"] and "ORDER BY" in q["sql"]]
    assert page_query and all('"html_body"' not in sql and '"text_body"' not in sql for sql in page_query)


def test_pagination(admin_client):
    EmailLog.objects.bulk_create(
        EmailLog(status="sent", subject=f"bulk {i}", to=["to@example.com"]) for i in range(130)
    )
    first = admin_client.get(LIST_URL)
    second = admin_client.get(LIST_URL, {"p": "2"})
    assert len(listed_ids(first)) == 100 and len(listed_ids(second)) == 30
    assert not listed_ids(first) & listed_ids(second)
    assert "130 email log" in first.content.decode()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's row estimate (set SES_QUERY_TEST_POSTGRES)")
def test_postgresql_estimate_replaces_count_on_large_tables(admin_client, monkeypatch):
    EmailLog.objects.bulk_create(EmailLog(status="failed", subject=f"s{i}") for i in range(150))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {EmailLog._meta.db_table}")
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_above", 10)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(LIST_URL, {"status__exact": "failed"})
    assert response.status_code == 200
    assert not [q for q in queries if "COUNT(" in q["sql"].upper()]
    assert len(listed_ids(response)) == 100
    assert re.search(r"\b1\d\d email log\b", response.content.decode())


def test_paginator_counts_exactly_off_postgresql_or_below_the_threshold():
    EmailLog.objects.bulk_create(EmailLog(status="sent") for _ in range(3))
    paginator = EstimatedCountPaginator(EmailLog.objects.all(), 2)
    assert paginator.count == 3 and paginator.num_pages == 2


# -- The detail page -------------------------------------------------------


def test_detail_of_a_failed_send(admin_client, send):
    row = send(HOSTILE_SUBJECT, fail="MessageRejected", html="<p>Hi <img src=x onerror=alert(1)></p>")
    response = admin_client.get(change_url(row))
    assert response.status_code == 200
    html = response.content.decode()

    # The error comes first: it is what one opens a failed row for.
    assert fieldsets(html) == ["Error", "Message", "Amazon SES", "Body"]
    assert html.index("MessageRejected") < html.index("Example Sender") < html.index("from@example.com")
    assert '<span class="sesq-status sesq-status-failed">failed</span>' in html
    assert "MessageRejected" in html
    # SES's message, escaped: "... Example Sender <sender@example.com>".
    assert "Example Sender &lt;sender@example.com&gt;" in html
    assert ">400<" in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<script>alert" not in html and "<b>bold</b>" not in html
    # The HTML body is shown as its source.
    assert "&lt;p&gt;Hi &lt;img src=x onerror=alert(1)&gt;&lt;/p&gt;" in html
    assert "<img src=x" not in html
    assert "Plain body" in html
    # Read-only: no form fields to edit, no save button.
    assert 'name="_save"' not in html and "<textarea" not in html
    assert 'name="subject"' not in html


def test_detail_of_a_sent_message(admin_client, send, fake_ses):
    row = send("Sent fine", to=["alice@example.com", "bob@example.com"], headers={"X-SES-MESSAGE-TAGS": "campaign=spring"})
    html = admin_client.get(change_url(row)).content.decode()
    assert fieldsets(html) == ["Message", "Amazon SES", "Body"]
    assert fake_ses.sent[0].message_id in html
    assert row.request_id and row.request_id in html
    assert "alice@example.com, bob@example.com" in html
    assert "campaign=spring" in html
    assert "us-east-1" in html


def test_change_is_refused_even_for_a_superuser(admin_client, send):
    row = send("Original")
    response = admin_client.post(change_url(row), {"subject": "Edited", "status": "sent"})
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.subject == "Original"
    assert admin_client.post(ADD_URL, {"subject": "x", "status": "sent"}).status_code == 403
    assert EmailLog.objects.count() == 1


def test_superuser_can_delete(admin_client, send):
    row = send()
    assert admin_client.get(delete_url(row)).status_code == 200
    response = admin_client.post(delete_url(row), {"post": "yes"})
    assert response.status_code == 302
    assert not EmailLog.objects.filter(pk=row.pk).exists()


def test_delete_confirmation_escapes_subject(admin_client, send):
    row = send(HOSTILE_SUBJECT)
    html = admin_client.get(delete_url(row)).content.decode()
    assert "<script>alert" not in html and "&lt;script&gt;" in html


# -- Staff users -----------------------------------------------------------


def test_view_only_staff_can_view_but_not_add_change_or_delete(client, django_user_model, send):
    row = send("Visible", fail="MessageRejected")
    client.force_login(make_staff(django_user_model, "view_emaillog"))

    listing = client.get(LIST_URL)
    assert listing.status_code == 200 and listed_ids(listing) == {row.pk}
    assert 'name="action"' not in listing.content.decode()  # no delete_selected
    detail = client.get(change_url(row))
    assert detail.status_code == 200 and "MessageRejected" in detail.content.decode()
    assert delete_url(row) not in detail.content.decode()

    assert client.get(ADD_URL).status_code == 403
    assert client.post(change_url(row), {"subject": "Edited"}).status_code == 403
    assert client.get(delete_url(row)).status_code == 403
    assert client.post(delete_url(row), {"post": "yes"}).status_code == 403
    assert client.post(LIST_URL, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}).status_code in (200, 302)
    row.refresh_from_db()
    assert row.subject == "Visible"


def test_staff_with_delete_permission_can_delete(client, django_user_model, send):
    keep = send("keep")
    row = send("remove")
    client.force_login(make_staff(django_user_model, "view_emaillog", "delete_emaillog"))

    assert delete_url(row) in client.get(change_url(row)).content.decode()
    response = client.post(
        LIST_URL, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert list(EmailLog.objects.values_list("pk", flat=True)) == [keep.pk]
    assert client.post(delete_url(keep), {"post": "yes"}).status_code == 302
    assert not EmailLog.objects.exists()


def test_staff_without_view_permission_is_refused(client, django_user_model, send):
    row = send()
    client.force_login(make_staff(django_user_model))
    assert client.get(LIST_URL).status_code == 403
    assert client.get(change_url(row)).status_code == 403



def test_detail_of_an_unknown_outcome_shows_the_error_first(admin_client, fake_ses):
    from tests.fakeses import reset_connection

    fake_ses.enqueue(reset_connection())
    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"])
    EmailBackend(fail_silently=True).send_messages([message])
    html = admin_client.get(change_url(message.ses_log)).content.decode()
    assert fieldsets(html) == ["Error", "Message", "Amazon SES", "Body"]
    assert "sesq-status-unknown" in html


def test_search_for_non_ascii_recipients(admin_client, fake_ses):
    """Non-ASCII text matches however the log stores it: JSON \\u escapes on
    SQLite, punycode for the domains that were sent."""
    backend = EmailBackend(fail_silently=True)
    refused = EmailMessage("s", "b", "from@example.com", ["josé@example.com"])  # No SMTPUTF8: refused.
    idn = EmailMessage("s", "b", "from@example.com", ["anna@bücher.example"])
    plain = EmailMessage("s", "b", "from@example.com", ["jose@example.com"])
    backend.send_messages([refused, idn, plain])
    assert refused.ses_log.error_code == "NonAsciiLocalPart"

    assert listed_ids(admin_client.get(LIST_URL, {"q": "josé"})) == {refused.ses_log.pk}
    assert listed_ids(admin_client.get(LIST_URL, {"q": "josé@example.com"})) == {refused.ses_log.pk}
    assert listed_ids(admin_client.get(LIST_URL, {"q": "anna@bücher.example"})) == {idn.ses_log.pk}
    assert listed_ids(admin_client.get(LIST_URL, {"q": "jose@"})) == {plain.ses_log.pk}
