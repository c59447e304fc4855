"""The SNS webhook: ``POST`` an SNS message, get an HTTP status SNS acts on.

Trusts nothing in the request. Checks, in order: the method (405); the
basic-auth credentials when ``EVENT_BASIC_AUTH`` is set (401, constant-time);
the JSON shape (400); the TopicArn against ``EVENT_TOPIC_ARNS``, the
certificate URL and the signature (403, logged at WARNING, nothing stored).
A failure of our own (the database, the certificate fetch) is a 500, so SNS
retries. Everything else is a 200.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from .. import handoff
from ..conf import get_config
from . import sns
from . import certificates
from .certificates import CertificateUnavailable, check_sns_url, verify_message

logger = logging.getLogger("django_ses_query")

REALM = "Amazon SES events"


def _text(status: int, text: str, **headers: str) -> HttpResponse:
    response = HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")
    for name, value in headers.items():
        response[name] = value
    return response


def _authorized(request: HttpRequest, expected: str) -> bool:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(credentials.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, expected.encode("utf-8"))


@csrf_exempt
def events(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        config = get_config()
    except Exception:
        logger.exception("SES events: the SES_QUERY setting is invalid.")
        return _text(500, "Server misconfigured.")
    if config.event_basic_auth is not None and not _authorized(request, config.event_basic_auth):
        return _text(401, "Authentication required.", **{"WWW-Authenticate": f'Basic realm="{REALM}"'})
    try:
        message = sns.parse_envelope(request.body)
    except sns.MalformedMessage as error:
        logger.info("SES events: malformed SNS message: %s", error)
        return _text(400, f"Malformed SNS message: {error}")
    try:
        sns.check_topic(message, config.event_topic_arns)
        verify_message(message)
    except sns.Refused as error:
        logger.warning(
            "SES events: refused SNS %s %s from %s: %s",
            message["Type"], message["MessageId"], request.META.get("REMOTE_ADDR", "?"), error,
        )
        return _text(403, "Refused.")
    except CertificateUnavailable as error:
        logger.error("SES events: %s", error)
        return _text(500, "Could not verify the message now; try again.")
    handler = _HANDLERS[message["Type"]]
    return handler(message)


def _notification(message: dict[str, str]) -> HttpResponse:
    from .parse import MalformedEvent
    from .store import store_payload

    try:
        payload = json.loads(message["Message"])
        handler = handoff.handler_for(payload)  # SES receiving's "Received": inbound mail.
        if handler is not None:
            handled = handler(payload, message["MessageId"], message["TopicArn"])
            return _text(handled.status, handled.text)
        events = store_payload(payload, message["MessageId"])
    except (ValueError, MalformedEvent) as error:
        logger.warning("SES events: SNS %s holds no SES event: %s", message["MessageId"], error)
        return _text(400, f"Not an SES event: {error}")
    except Exception:
        logger.exception("SES events: could not store SNS %s.", message["MessageId"])
        return _text(500, "Could not store the event; try again.")
    return _text(200, f"Stored {len(events)} event(s).")


def _subscription_confirmation(message: dict[str, str]) -> HttpResponse:
    import requests

    url = message["SubscribeURL"]
    try:
        check_sns_url(url, "SubscribeURL")
    except sns.Refused as error:
        logger.warning("SES events: not confirming the subscription to %s: %s", message["TopicArn"], error)
        return _text(403, "Refused.")
    session = certificates.new_session()
    try:
        response = session.get(url, timeout=10, allow_redirects=False)
    except requests.RequestException as error:
        logger.error("SES events: confirming the subscription to %s failed: %s", message["TopicArn"], error)
        return _text(500, "Could not confirm the subscription; try again.")
    finally:
        session.close()
    if response.status_code != 200:
        logger.error(
            "SES events: confirming the subscription to %s answered HTTP %s.",
            message["TopicArn"], response.status_code,
        )
        return _text(500, "Could not confirm the subscription; try again.")
    logger.info("SES events: confirmed the subscription to %s.", message["TopicArn"])
    return _text(200, "Subscription confirmed.")


def _unsubscribe_confirmation(message: dict[str, str]) -> HttpResponse:
    # Never followed: re-subscribing is a decision for a person.
    logger.warning(
        "SES events: the endpoint was unsubscribed from %s (not re-subscribing).", message["TopicArn"]
    )
    return _text(200, "Noted.")


_HANDLERS = {
    sns.NOTIFICATION: _notification,
    sns.SUBSCRIPTION_CONFIRMATION: _subscription_confirmation,
    sns.UNSUBSCRIBE_CONFIRMATION: _unsubscribe_confirmation,
}
