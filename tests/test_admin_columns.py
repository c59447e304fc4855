"""The send log list's columns, through Django's test client: what they
show, what they cut (with the whole in a ``title``), what they escape, and
what is left to the detail page. How they fit a 1280 px window is in
``test_browser.py``.
"""

from __future__ import annotations

import re
from html import escape, unescape

import pytest
from django.core.mail import EmailMessage
from django.urls import reverse

from django_ses_query.backend import EmailBackend
from tests.fakeses import error

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:django_ses_query_emaillog_changelist")
HOSTILE_SUBJECT = "<script>alert('x')</script><b>bold</b> & more"


def change_url(row):
    return reverse("admin:django_ses_query_emaillog_change", args=[row.pk])


@pytest.fixture
def send(fake_ses):
    """send(subject, to=..., fail="MessageRejected") → the message's log row."""
    backend = EmailBackend(fail_silently=True)

    def send(subject="Hello", *, fail=None, to=("to@example.com",)):
        if fail:
            fake_ses.enqueue(error(fail))
        message = EmailMessage(subject, "Plain body", "from@example.com", list(to))
        backend.send_messages([message])
        return message.ses_log

    return send


def listed_ids(response) -> set[int]:
    return {int(pk) for pk in re.findall(r"/emaillog/(\d+)/change/", response.content.decode())}


def column_headings(html: str) -> list[str]:
    """The list's column headings, in order (the checkbox column has none)."""
    return re.findall(r'<th scope="col" class="[^"]*column-[^"]*">.*?<div class="text">(?:<a [^>]*>|<span>)([^<]*)<', html, re.S)


def cell_text(html: str, field: str) -> list[str]:
    """The text of the list's cells for ``field``, tags left out."""
    cells = re.findall(rf'<t[dh] class="field-{field}[^"]*">(.*?)</t[dh]>', html, re.S)
    return [unescape(re.sub(r"<[^>]+>", "", cell)) for cell in cells]


def test_list_shows_columns_and_both_statuses(admin_client, send, fake_ses):
    sent = send("Welcome aboard", to=["alice@example.com", "bob@example.com"])
    failed = send("Rejected one", fail="MessageRejected")

    response = admin_client.get(LIST_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert column_headings(html) == ["Created at", "Status", "Outcome", "To", "Subject"]
    assert listed_ids(response) == {sent.pk, failed.pk}
    assert cell_text(html, "subject_summary") == ["Rejected one", "Welcome aboard"]
    assert cell_text(html, "to_summary") == ["to@example.com", "alice@example.com, bob@example.com"]
    assert cell_text(html, "outcome") == ["no event yet", "no event yet"]
    assert '<span class="sesq-status sesq-status-failed">failed</span>' in html
    assert '<span class="sesq-status sesq-status-sent">sent</span>' in html
    assert "django_ses_query/admin.css" in html
    # Only the date sorts (served by its index): one sortable column header.
    assert re.findall(r'<th scope="col" class="([^"]*)"', html).count("sortable column-created_at sorted descending") == 1
    assert len(re.findall(r'<th scope="col" class="sortable', html)) == 1


def test_list_leaves_from_message_id_and_error_code_to_the_detail_page(admin_client, send, fake_ses):
    sent = send("Welcome aboard")
    failed = send("Rejected one", fail="MessageRejected")

    html = admin_client.get(LIST_URL).content.decode()
    for absent in ("From", "SES MessageId", "Error code"):
        assert absent not in column_headings(html)
    assert sent.message_id not in html and "MessageRejected" not in html and "from@example.com" not in html

    sent_page = admin_client.get(change_url(sent)).content.decode()
    assert sent.message_id in sent_page and "from@example.com" in sent_page
    assert "MessageRejected" in admin_client.get(change_url(failed)).content.decode()
    # The MessageId still finds its row.
    assert listed_ids(admin_client.get(LIST_URL, {"q": sent.message_id})) == {sent.pk}


def test_list_cuts_long_subjects_and_address_lists_with_the_whole_in_a_title(admin_client, send):
    subject = "The quarterly results, the roadmap for the next year, and what the team is hiring for"
    to = [f"person{n}@example.com" for n in range(5)]
    send(subject, to=to)
    send("x" * 80, to=to[:3])

    html = admin_client.get(LIST_URL).content.decode()

    assert len(subject) > 80
    assert cell_text(html, "subject_summary") == ["x" * 80, subject[:79] + "…"]
    assert f'<span title="{subject}">' in html
    assert cell_text(html, "to_summary") == [
        "person0@example.com, person1@example.com, person2@example.com",
        "person0@example.com, person1@example.com, person2@example.com and 2 more",
    ]
    assert f'<span title="{", ".join(to)}">' in html
    # Lines break after the "@", not inside a name or a domain.
    assert "person0@<wbr>example.com" in html


def test_list_escapes_long_subjects_and_addresses(admin_client, send):
    subject = "<b>bold</b> & more " * 6
    to = [f'"<i>x</i>" <p{n}@example.com>' for n in range(4)]
    send(subject, to=to)

    html = admin_client.get(LIST_URL).content.decode()

    assert "<b>" not in html and "<i>" not in html
    assert f'<span title="{escape(subject)}">' in html
    assert f'<span title="{escape(", ".join(to))}">' in html
    assert cell_text(html, "subject_summary") == [subject[:79] + "…"]
    assert cell_text(html, "to_summary") == [", ".join(to[:3]) + " and 1 more"]


def test_list_escapes_subject(admin_client, send):
    send(HOSTILE_SUBJECT, fail="MessageRejected")
    html = admin_client.get(LIST_URL).content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; &amp; more" in html
    assert "<script>alert" not in html
    assert "<b>bold</b>" not in html
