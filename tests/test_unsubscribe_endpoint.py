"""The one-click unsubscribe endpoint, as a mail provider and a reader
reach it: no CSRF token, no cookie, no session."""

from __future__ import annotations

import time
from unittest import mock

import pytest
from django.db import connections
from django.test import Client

from django_ses_query.models import Suppression
from django_ses_query.signals import unsubscribed
from django_ses_query.unsubscribe import make_token, unsubscribe_url

pytestmark = pytest.mark.django_db

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def client(django_capture_on_commit_callbacks):
    """A mail provider: no cookie, CSRF checks enforced as in production.
    Each request's on-commit callbacks (the signal) run when it returns, as
    they would outside the test's transaction."""

    class Provider(Client):
        def request(self, **request):
            with django_capture_on_commit_callbacks(execute=True):
                return super().request(**request)

    return Provider(enforce_csrf_checks=True)


@pytest.fixture
def received():
    calls = []

    def receiver(sender, address, topic, suppression, **kwargs):
        calls.append((sender, address, topic, suppression.pk))

    unsubscribed.connect(receiver)
    yield calls
    unsubscribed.disconnect(receiver)


def url(address="Reader@Example.com", topic="newsletter"):
    return f"/ses/unsubscribe/{make_token(address, topic)}/"


def rows():
    return list(Suppression.objects.values_list("address", "topic", "reason"))


def test_the_one_click_post_unsubscribes_once(client, received):
    response = client.post(url(), ONE_CLICK)
    assert response.status_code == 200
    assert rows() == [("reader@example.com", "newsletter", "unsubscribe")]
    assert received == [(Suppression, "reader@example.com", "newsletter", Suppression.objects.get().pk)]
    assert not response.cookies and "csrftoken" not in response.cookies
    assert response["Cache-Control"] == "no-store"

    again = client.post(url("reader@example.com"), ONE_CLICK)
    assert again.status_code == 200
    assert len(rows()) == 1 and len(received) == 1


def test_multipart_and_empty_posts_work_too(client):
    assert client.post(url(topic="a"), ONE_CLICK).status_code == 200  # multipart (the test client's default)
    assert client.post(url(topic="b"), "List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded").status_code == 200
    assert sorted(t for _, t, _ in rows()) == ["a", "b"]


def test_get_and_head_show_the_page_and_change_nothing(client, received):
    for method in (client.get, client.head):
        response = method(url())
        assert response.status_code == 200
        assert not response.cookies
    page = client.get(url()).content.decode()
    assert page.count("<form") == 2 and 'method="post"' in page
    assert 'name="scope" value="all"' in page and "newsletter" in page
    assert "csrfmiddlewaretoken" not in page
    assert rows() == [] and received == []


def test_the_page_forms_unsubscribe_from_the_topic_or_every_topic(client):
    assert client.post(url(), {"List-Unsubscribe": "One-Click"}).status_code == 200
    done = client.post(url(), {"scope": "all"})
    assert done.status_code == 200 and b"any of our topics" in done.content
    assert sorted(rows()) == [("reader@example.com", "*", "unsubscribe"),
                              ("reader@example.com", "newsletter", "unsubscribe")]


@pytest.mark.parametrize("bad", ["not-a-token", "abc:def:ghi", "tampered", "spliced", "other-key", "forged-shape"])
def test_an_invalid_token_is_a_400_that_shows_nothing(client, received, settings, bad):
    good = make_token("reader@example.com", "newsletter")
    other = make_token("victim@example.com", "newsletter")
    if bad == "tampered":
        token = good[:-1] + ("A" if good[-1] != "A" else "B")
    elif bad == "spliced":
        token = good.rsplit(":", 1)[0] + ":" + other.rsplit(":", 1)[1]
    elif bad == "other-key":
        with mock.patch.object(settings, "SECRET_KEY", "another-key"):
            token = make_token("reader@example.com", "newsletter")
    elif bad == "forged-shape":
        from django.core import signing
        from django_ses_query.topics import TOKEN_SALT
        token = signing.Signer(salt=TOKEN_SALT).sign_object({"address": "reader@example.com"})
    else:
        token = bad
    for method in (client.get, client.post):
        response = method(f"/ses/unsubscribe/{token}/")
        assert response.status_code == 400
        page = response.content.decode()
        assert token not in page and "reader" not in page and "victim" not in page
    assert rows() == [] and received == []


def test_other_methods_are_405(client):
    for method in (client.put, client.delete, client.patch):
        assert method(url()).status_code == 405
    assert rows() == []


def test_a_year_old_link_still_works_and_rotated_keys_are_honoured(client, settings):
    settings.SES_QUERY = {**settings.SES_QUERY, "UNSUBSCRIBE_BASE_URL": "https://example.com"}
    token_url = unsubscribe_url("reader@example.com", "newsletter")
    assert token_url.startswith("https://example.com/ses/unsubscribe/")
    path = token_url.removeprefix("https://example.com")
    with mock.patch("time.time", return_value=time.time() + 400 * 86400):
        settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
        settings.SECRET_KEY = "a-new-key-after-rotation"
        assert client.post(path, ONE_CLICK).status_code == 200
    assert rows() == [("reader@example.com", "newsletter", "unsubscribe")]


def test_a_database_error_is_a_500_never_a_200(client, received, caplog, monkeypatch):
    from django.db.models.query import QuerySet

    def broken(*args, **kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr(QuerySet, "get_or_create", broken)
    response = client.post(url(), ONE_CLICK)
    assert response.status_code == 500
    assert "Could not store an unsubscribe" in caplog.text
    assert received == []


def test_a_failing_receiver_is_logged_and_the_answer_is_still_200(client, caplog):
    def failing(**kwargs):
        raise ValueError("receiver bug")

    unsubscribed.connect(failing)
    try:
        assert client.post(url(), ONE_CLICK).status_code == 200
    finally:
        unsubscribed.disconnect(failing)
    assert "An unsubscribed receiver failed" in caplog.text
    assert len(rows()) == 1


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "sendlog"], transaction=True)
def test_two_unsubscribes_at_once_leave_one_row():
    """Another request stores the same unsubscribe between our check and our
    insert (simulated through a second connection): the constraint stops the
    second row, the answer is still a 200, and only the first sends the signal."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("needs two connections to one database (SES_QUERY_TEST_POSTGRES)")
    from django.db.models.signals import pre_save

    received = []
    unsubscribed.connect(lambda **kwargs: received.append(kwargs["address"]), weak=False, dispatch_uid="t")

    def race(sender, instance, **kwargs):
        pre_save.disconnect(race, sender=Suppression)
        Suppression.objects.using("sendlog").create(address=instance.address, topic=instance.topic,
                                                    reason="unsubscribe")

    pre_save.connect(race, sender=Suppression)
    try:
        answer = Client().post(url(), ONE_CLICK)
    finally:
        pre_save.disconnect(race, sender=Suppression)
        unsubscribed.disconnect(dispatch_uid="t")
    assert answer.status_code == 200
    assert rows() == [("reader@example.com", "newsletter", "unsubscribe")]
    assert received == []  # the other request's insert, not ours
