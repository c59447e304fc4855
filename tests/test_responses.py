"""SES's XML answers become typed errors (or results), never parser tracebacks.

Each file in tests/ses_responses is parsed directly, then some go through the
whole backend against the local endpoint (tests/fakeses.py).
"""

from __future__ import annotations

import json
import traceback
import xml.etree.ElementTree as ET

import pytest
from django.core.mail import EmailMessage

from django_ses_query.exceptions import (
    SESAuthenticationError,
    SESError,
    SESMessageRejectedError,
    SESQuotaExceededError,
    SESResponseError,
    SESServerError,
    SESThrottlingError,
)
from django_ses_query.responses import parse_error, parse_result, parse_send_result
from tests.fakeses import (
    DTD_EXTERNAL,
    ENTITY_BOMB,
    HTML_502,
    NOT_XML,
    RESPONSES_DIR,
    error,
    raw,
    response_file,
    xml,
)

INDEX = json.loads(response_file("index.json"))
ERROR_FILES = sorted(name for name, meta in INDEX.items() if "code" in meta)
SUCCESS_FILES = sorted(name for name, meta in INDEX.items() if "operation" in meta)

# What a caller should be able to catch for each SES error code.
EXPECTED_CLASS = {
    "error_AccessDenied.xml": SESAuthenticationError,
    "error_ConfigurationSetDoesNotExist.xml": SESMessageRejectedError,
    "error_ExpiredToken.xml": SESAuthenticationError,
    "error_InternalFailure.xml": SESServerError,
    "error_InvalidClientTokenId.xml": SESAuthenticationError,
    "error_InvalidParameterValue.xml": SESError,
    "error_MailFromDomainNotVerified.xml": SESMessageRejectedError,
    "error_MessageRejected.xml": SESMessageRejectedError,
    "error_RequestExpired.xml": SESAuthenticationError,
    "error_ServiceUnavailable.xml": SESServerError,
    "error_SignatureDoesNotMatch.xml": SESAuthenticationError,
    "error_SignatureDoesNotMatch_expired.xml": SESAuthenticationError,
    "error_Throttling_daily.xml": SESQuotaExceededError,
    "error_Throttling_rate.xml": SESThrottlingError,
    "moto_error_SignatureDoesNotMatch.xml": SESAuthenticationError,
}
RETRYABLE = {"error_Throttling_rate.xml", "error_ServiceUnavailable.xml", "error_InternalFailure.xml"}


def fixture_fields(name: str) -> dict:
    """RequestId and Message read straight from the file with the stdlib."""
    root = ET.fromstring(response_file(name))
    found = {}
    for node in root.iter():
        local = node.tag.rpartition("}")[2]
        if local in ("RequestId", "Message", "Code", "MessageId") and local not in found:
            found[local] = (node.text or "").strip()
    return found


def assert_no_parser_in_traceback(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc))
    assert "During handling of the above exception" not in text
    assert "The above exception was the direct cause" not in text
    for leak in ("ParseError", "xml/etree", "defusedxml/", "pyexpat"):
        assert leak not in text


def test_every_file_is_covered():
    files = {p.name for p in RESPONSES_DIR.glob("*.xml")}
    assert files == set(INDEX)
    assert set(ERROR_FILES) == set(EXPECTED_CLASS)


@pytest.mark.parametrize("name", ERROR_FILES)
def test_error_file_gives_typed_error(name):
    meta = INDEX[name]
    fields = fixture_fields(name)
    error = parse_error(response_file(name), meta["status"])

    assert type(error) is EXPECTED_CLASS[name]
    assert error.code == meta["code"]
    assert error.http_status == meta["status"]
    assert error.request_id == fields.get("RequestId")
    assert error.message == fields["Message"]
    assert error.retryable is (name in RETRYABLE)
    text = str(error)
    assert meta["code"] in text
    assert fields["Message"] in text
    assert f"HTTP {meta['status']}" in text
    if "RequestId" in fields:
        assert fields["RequestId"] in text
    assert "<" not in text.replace(fields["Message"], "")  # no raw XML
    assert type(error).__name__ in repr(error)


def test_entities_in_messages_are_decoded():
    error = parse_error(response_file("error_ConfigurationSetDoesNotExist.xml"), 400)
    assert error.message == "Configuration set <my-config-set> does not exist."


def test_rate_throttling_and_daily_quota_are_different_classes():
    rate = parse_error(response_file("error_Throttling_rate.xml"), 400)
    daily = parse_error(response_file("error_Throttling_daily.xml"), 400)
    assert rate.code == daily.code == "Throttling"
    assert isinstance(rate, SESThrottlingError) and not isinstance(rate, SESQuotaExceededError)
    assert isinstance(daily, SESQuotaExceededError) and not isinstance(daily, SESThrottlingError)
    # Waiting helps with the rate, not with the day's quota.
    assert rate.retryable and not daily.retryable


def test_errors_wrapper_with_request_id_at_the_root():
    body = response_file("moto_error_SignatureDoesNotMatch.xml").replace(
        b"</Errors>", b"</Errors><RequestId>req-123</RequestId>"
    )
    error = parse_error(body, 403)
    assert isinstance(error, SESAuthenticationError)
    assert error.code == "SignatureDoesNotMatch"
    assert error.request_id == "req-123"


def test_moto_shape_has_no_request_id():
    error = parse_error(response_file("moto_error_SignatureDoesNotMatch.xml"), 403)
    assert error.request_id is None
    assert "RequestId" not in str(error)


@pytest.mark.parametrize("name", SUCCESS_FILES)
def test_success_files_parse(name):
    action = INDEX[name]["operation"]
    result = parse_result(action, response_file(name))
    fields = fixture_fields(name)
    assert result.request_id == fields["RequestId"]
    if action in ("SendEmail", "SendRawEmail"):
        assert parse_send_result(action, response_file(name)).message_id == fields["MessageId"]


def test_send_quota_values():
    result = parse_result("GetSendQuota", response_file("get_send_quota_ok.xml"))
    assert float(result.values["MaxSendRate"]) == 1.0
    assert float(result.values["Max24HourSend"]) == 200.0


def test_send_statistics_members():
    result = parse_result("GetSendStatistics", response_file("get_send_statistics_ok.xml"))
    assert [m["DeliveryAttempts"] for m in result.members] == ["8", "7"]


# -- Malformed and hostile bodies -------------------------------------------------

SEND_EMAIL_WITHOUT_ID = (
    b'<SendEmailResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
    b"<SendEmailResult/><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>"
    b"</SendEmailResponse>"
)
EXTERNAL_DTD_ONLY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE SendEmailResponse SYSTEM "http://127.0.0.1:9/x.dtd">\n'
    b"<SendEmailResponse><SendEmailResult><MessageId>m</MessageId></SendEmailResult>"
    b"</SendEmailResponse>"
)

HOSTILE_SUCCESS = {
    "not xml": (NOT_XML, "MalformedResponse"),
    "entity bomb": (ENTITY_BOMB, "UnsafeResponse"),
    "external entity": (DTD_EXTERNAL, "UnsafeResponse"),
    "external dtd": (EXTERNAL_DTD_ONLY, "UnsafeResponse"),
    "html page": (HTML_502, "MalformedResponse"),
    "empty": (b"", "MalformedResponse"),
    "truncated": (response_file("send_email_ok.xml")[:60], "MalformedResponse"),
    "no message id": (SEND_EMAIL_WITHOUT_ID, "MissingMessageId"),
    "other action": (response_file("send_raw_email_ok.xml"), "MalformedResponse"),
}


@pytest.mark.parametrize("body,code", HOSTILE_SUCCESS.values(), ids=HOSTILE_SUCCESS.keys())
def test_hostile_or_broken_success_body(body, code):
    with pytest.raises(SESResponseError) as caught:
        parse_send_result("SendEmail", body, 200)
    error = caught.value
    assert error.code == code
    assert error.http_status == 200
    assert str(error).startswith(f"{code}: ")
    assert_no_parser_in_traceback(error)


def test_missing_message_id_says_the_message_may_have_been_sent():
    with pytest.raises(SESResponseError) as caught:
        parse_send_result("SendEmail", SEND_EMAIL_WITHOUT_ID, 200)
    assert caught.value.request_id == "r-1"
    assert "may have been sent" in str(caught.value)


@pytest.mark.parametrize(
    "body", [NOT_XML, ENTITY_BOMB, DTD_EXTERNAL, HTML_502, b"", b"<ErrorResponse/>"],
    ids=["not xml", "entity bomb", "external entity", "html", "empty", "no error element"],
)
@pytest.mark.parametrize("status", [400, 403, 502, 503])
def test_hostile_or_broken_error_body(body, status):
    error = parse_error(body, status)  # Returns; never raises.
    assert isinstance(error, SESError)
    assert error.http_status == status
    if status >= 500:
        # A proxy's page in place of SES's answer: still a server error.
        assert isinstance(error, SESServerError) and error.retryable
    else:
        assert isinstance(error, SESResponseError)
    assert str(error)
    assert_no_parser_in_traceback(error)


def test_a_long_junk_body_is_excerpted():
    error = parse_error(b"x" * 1_000_000, 400)
    assert isinstance(error, SESResponseError)
    assert len(str(error)) < 1000


# -- The same answers through the backend -------------------------------------

pytestmark_db = pytest.mark.django_db(databases=["default", "sendlog"])


def message():
    return EmailMessage("Subject", "Body", "from@example.com", ["to@example.com"])


@pytestmark_db
@pytest.mark.parametrize(
    "name", ["error_Throttling_rate", "error_Throttling_daily", "error_MessageRejected",
             "moto_error_SignatureDoesNotMatch"]
)
def test_backend_raises_the_typed_error(backend, fake_ses, name):
    filename = f"{name}.xml"
    fake_ses.enqueue(xml(INDEX[filename]["status"], filename))
    with pytest.raises(EXPECTED_CLASS[filename]) as caught:
        backend.send_messages([message()])
    assert caught.value.code == INDEX[filename]["code"]
    assert caught.value.request_id == fixture_fields(filename).get("RequestId")
    assert caught.value.http_status == INDEX[filename]["status"]
    assert fake_ses.sent == []


@pytestmark_db
@pytest.mark.parametrize(
    "reply,klass,code",
    [
        (raw(200, ENTITY_BOMB, "text/xml"), SESResponseError, "UnsafeResponse"),
        (raw(200, DTD_EXTERNAL, "text/xml"), SESResponseError, "UnsafeResponse"),
        (raw(200, NOT_XML, "text/plain"), SESResponseError, "MalformedResponse"),
        (raw(200, SEND_EMAIL_WITHOUT_ID, "text/xml"), SESResponseError, "MissingMessageId"),
        (raw(502, HTML_502), SESServerError, "HTTP502"),
        (raw(400, HTML_502), SESResponseError, "MalformedResponse"),
    ],
    ids=["entity bomb", "external entity", "not xml", "no message id", "html 502", "html 400"],
)
def test_backend_turns_hostile_answers_into_errors(backend, fake_ses, reply, klass, code):
    fake_ses.enqueue(reply)
    sent = message()
    with pytest.raises(klass) as caught:
        backend.send_messages([sent])
    assert caught.value.code == code
    assert_no_parser_in_traceback(caught.value)
    assert sent.ses_message_id is None
    assert len(fake_ses.requests) == 1


@pytestmark_db
def test_backend_fail_silently_on_error(fake_ses, settings):
    from django_ses_query.backend import EmailBackend

    fake_ses.enqueue(error("MessageRejected"))
    assert EmailBackend(fail_silently=True).send_messages([message()]) == 0
