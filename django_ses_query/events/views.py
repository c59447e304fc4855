"""The SNS webhook: ``POST`` an SNS message, get an HTTP status SNS acts on.

Trusts nothing in the request. Checks, in order: the method (405); the
basic-auth credentials when ``EVENT_BASIC_AUTH`` is set (401, constant-time);
the size, from ``Content-Length`` before the body is read (413); the JSON
and the envelope's shape (400, see ``sns``); then, before any network call,
the TopicArn against ``EVENT_TOPIC_ARNS``, the Timestamp against
``EVENT_MAX_AGE_DAYS``, the signature's form and version against
``EVENT_MIN_SIGNATURE_VERSION``, the certificate URL (and a confirmation's
SubscribeURL); then the certificate and the signature (403). A 400 or a 403
is one WARNING line; nothing is stored.

A failure that may pass (the certificate host or the network) is a 503, one
ERROR line, so SNS retries; a failure of ours (the database) is a 500.
Every value from the request is logged escaped and cut (``logsafe``).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
import logging

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from .. import handoff
from ..conf import get_config
from . import fetch, sns
from .certificates import TIMEOUT, CertificateUnavailable, check_sns_url, verify_message
from ..logsafe import escaped, shown

logger = logging.getLogger("django_ses_query")

REALM = "Amazon SES events"
#: Holds an envelope of SNS's largest message (256 KiB) with its JSON escaping.
MAX_BODY = 1024 * 1024
#: The answer to a subscription's confirmation is a short XML document.
MAX_CONFIRMATION_BYTES = 64 * 1024


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


def _client(request: HttpRequest) -> str:
    return shown(request.META.get("REMOTE_ADDR", "?"))


def _body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is over MAX_BODY (the header says so, or
    the stream does: it is never read past MAX_BODY + 1 bytes)."""
    length = request.META.get("CONTENT_LENGTH") or ""
    if length.isdigit() and int(length) > MAX_BODY:
        return None
    body = request.read(MAX_BODY + 1)
    return None if len(body) > MAX_BODY else body


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
    body = _body(request)
    if body is None:
        logger.warning("SES events: a body over %d bytes from %s: refused.", MAX_BODY, _client(request))
        return _text(413, "Too large.")
    try:
        message = sns.parse_envelope(body)
    except sns.MalformedMessage as error:
        logger.warning("SES events: malformed SNS message from %s: %s", _client(request), escaped(error))
        return _text(400, "Malformed SNS message.")
    try:
        sns.check_topic(message, config.event_topic_arns)
        sns.check_age(message, config.event_max_age_days, datetime.datetime.now(datetime.timezone.utc))
        if message["Type"] != sns.NOTIFICATION:
            check_sns_url(message["SubscribeURL"], "SubscribeURL")
        verify_message(message, min_version=config.event_min_signature_version)
    except sns.Refused as error:
        logger.warning(
            "SES events: refused SNS %s %s from %s: %s",
            shown(message["Type"]), shown(message["MessageId"]), _client(request), escaped(error),
        )
        return _text(403, "Refused.")
    except CertificateUnavailable as error:
        logger.error(
            "SES events: could not verify SNS %s %s now (SNS will retry): %s",
            shown(message["Type"]), shown(message["MessageId"]), escaped(error),
        )
        return _text(503, "Could not verify the message now; try again.", **{"Retry-After": "20"})
    handler = _HANDLERS[message["Type"]]
    return handler(message)


def _notification(message: dict[str, str]) -> HttpResponse:
    from .parse import MalformedEvent
    from .store import store_payload

    try:
        payload = sns.load_json(message["Message"], "the SNS Message")
        handler = handoff.handler_for(payload)  # SES receiving's "Received": inbound mail.
        if handler is not None:
            handled = handler(payload, message["MessageId"], message["TopicArn"])
            return _text(handled.status, handled.text)
        events = store_payload(payload, message["MessageId"])
    except (sns.MalformedMessage, MalformedEvent) as error:
        logger.warning("SES events: SNS %s holds no SES event: %s", shown(message["MessageId"]), escaped(error))
        return _text(400, "Not an SES event.")
    except Exception:
        logger.exception("SES events: could not store SNS %s.", shown(message["MessageId"]))
        return _text(500, "Could not store the event; try again.")
    return _text(200, f"Stored {len(events)} event(s).")


def _subscription_confirmation(message: dict[str, str]) -> HttpResponse:
    topic = shown(message["TopicArn"])
    try:
        answer = fetch.get(message["SubscribeURL"], timeout=TIMEOUT, max_bytes=MAX_CONFIRMATION_BYTES)
    except fetch.FetchFailed as error:
        logger.error("SES events: confirming the subscription to %s failed: %s", topic, escaped(error))
        status = 503 if isinstance(error, fetch.Transient) else 500
        return _text(status, "Could not confirm the subscription; try again.")
    if answer.status != 200:
        logger.error("SES events: confirming the subscription to %s answered HTTP %s.", topic, answer.status)
        status = 503 if fetch.transient_status(answer.status) else 500
        return _text(status, "Could not confirm the subscription; try again.")
    logger.info("SES events: confirmed the subscription to %s.", topic)
    return _text(200, "Subscription confirmed.")


def _unsubscribe_confirmation(message: dict[str, str]) -> HttpResponse:
    # Never followed: re-subscribing is a decision for a person.
    logger.warning(
        "SES events: the endpoint was unsubscribed from %s (not re-subscribing).", shown(message["TopicArn"])
    )
    return _text(200, "Noted.")


_HANDLERS = {
    sns.NOTIFICATION: _notification,
    sns.SUBSCRIPTION_CONFIRMATION: _subscription_confirmation,
    sns.UNSUBSCRIBE_CONFIRMATION: _unsubscribe_confirmation,
}
