"""Replays and signature versions at the webhook: EVENT_MAX_AGE_DAYS (with
``ses_prunelog`` keeping the events that window needs) and
EVENT_MIN_SIGNATURE_VERSION."""

from __future__ import annotations

import datetime
import logging
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_ses_query.models import EmailEvent, EmailLog, Suppression
from django_ses_query.signals import ses_event
from tests import sesevents
from tests.sesevents import post
from tests.snskeys import TOPIC_ARN, envelope, now, timestamp

pytestmark = pytest.mark.django_db

URL = "/ses/events/"
MID = "0100018c4f6a1b2c-11111111-2222-3333-4444-555555555555-000000"


def complaint(days_ago: float, **fields) -> dict:
    moment = now() - datetime.timedelta(days=days_ago)
    return envelope(message=sesevents.complaint(MID, "a@example.net"), Timestamp=timestamp(moment), **fields)


@pytest.fixture
def signals():
    events = []
    ses_event.connect(lambda sender, event, **kw: events.append(event), weak=False, dispatch_uid="replay")
    yield events
    ses_event.disconnect(dispatch_uid="replay")


def refused_warnings(caplog):
    return [r.getMessage() for r in caplog.records
            if r.name == "django_ses_query" and r.levelno == logging.WARNING and "refused" in r.getMessage()]


# -- EVENT_MAX_AGE_DAYS -----------------------------------------------------------------------


def test_a_notification_older_than_the_limit_is_refused(client, events_on, caplog, signals,
                                                       django_capture_on_commit_callbacks):
    EmailLog.objects.create(status="sent", message_id=MID, to=["a@example.net"])
    with caplog.at_level(logging.INFO), django_capture_on_commit_callbacks(execute=True):
        response = post(client, complaint(14.01))
    assert response.status_code == 403
    [warning] = refused_warnings(caplog)
    assert "EVENT_MAX_AGE_DAYS" in warning
    assert not EmailEvent.objects.exists() and not Suppression.objects.exists()
    assert signals == []
    assert events_on.requests == []  # Before any fetch.


def test_a_fresh_complaint_still_suppresses(client, events_on, signals, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, complaint(13.9)).status_code == 200
    assert Suppression.objects.get().address == "a@example.net"
    assert len(signals) == 1


@pytest.mark.parametrize("max_age, days_ago, status", [(1, 1.1, 403), (1, 0.9, 200), (None, 4000, 200),
                                                      (30, 20, 200)])
def test_the_limit_is_a_setting(client, events_on, settings, max_age, days_ago, status):
    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_MAX_AGE_DAYS": max_age}
    assert post(client, complaint(days_ago)).status_code == status


def test_a_400_day_old_complaint_replayed_after_pruning_does_not_suppress_again(client, events_on, settings):
    """The operator prunes the log and deletes the suppression; a replay of
    the year-old complaint must not put the address back."""
    message = complaint(400)
    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_MAX_AGE_DAYS": None}  # As received back then.
    log = EmailLog.objects.create(status="sent", message_id=MID, to=["a@example.net"])
    assert post(client, message).status_code == 200
    EmailLog.objects.filter(pk=log.pk).update(created_at=timezone.now() - datetime.timedelta(days=400))
    EmailEvent.objects.update(created_at=timezone.now() - datetime.timedelta(days=400))
    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_MAX_AGE_DAYS": 14}
    call_command("ses_prunelog", "--days", "30", stdout=StringIO())
    assert not EmailEvent.objects.exists()
    Suppression.objects.all().delete()
    assert post(client, message).status_code == 403
    assert not Suppression.objects.exists()


def test_a_replay_within_the_window_after_pruning_is_recognised(client, events_on, signals,
                                                                django_capture_on_commit_callbacks):
    """``ses_prunelog`` keeps (detached) the events a replay could still
    match: the replay stores nothing and suppresses no one."""
    message = complaint(10)
    log = EmailLog.objects.create(status="sent", message_id=MID, to=["a@example.net"])
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, message).status_code == 200
    EmailLog.objects.filter(pk=log.pk).update(created_at=timezone.now() - datetime.timedelta(days=10))
    EmailEvent.objects.update(created_at=timezone.now() - datetime.timedelta(days=10))
    call_command("ses_prunelog", "--days", "5", stdout=StringIO())
    assert not EmailLog.objects.exists()
    assert EmailEvent.objects.get().log is None
    Suppression.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, message).status_code == 200
    assert not Suppression.objects.exists()
    assert EmailEvent.objects.count() == 1
    assert len(signals) == 1


# -- EVENT_MIN_SIGNATURE_VERSION ------------------------------------------------------------------


@pytest.mark.parametrize("minimum, version, status", [(1, "1", 200), (1, "2", 200), (2, "2", 200), (2, "1", 403)])
def test_minimum_signature_version(client, events_on, settings, caplog, minimum, version, status):
    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_MIN_SIGNATURE_VERSION": minimum}
    with caplog.at_level(logging.INFO):
        response = post(client, envelope(version=version, message=sesevents.delivery(MID, "a@example.net")))
    assert response.status_code == status
    assert EmailEvent.objects.count() == (status == 200)
    if status == 403:
        [warning] = refused_warnings(caplog)
        assert TOPIC_ARN in warning
        assert "set the topic's SignatureVersion attribute to 2" in warning
        assert events_on.requests == []


def test_minimum_signature_version_applies_to_confirmations(client, events_on, settings):
    from tests.snskeys import SUBSCRIBE_URL

    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_MIN_SIGNATURE_VERSION": 2}
    events_on.routes[SUBSCRIBE_URL] = (200, b"<ConfirmSubscriptionResponse/>")
    assert post(client, envelope("SubscriptionConfirmation", version="1")).status_code == 403
    assert post(client, envelope("SubscriptionConfirmation", version="2")).status_code == 200
