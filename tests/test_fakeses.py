"""Tests for the local SES endpoint in tests/fakeses.py, driven with plain requests."""

from __future__ import annotations

import json
import re
import threading
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from tests.fakeses import (
    DTD_EXTERNAL,
    ENTITY_BOMB,
    HTML_502,
    NOT_XML,
    RESPONSES_DIR,
    FakeSES,
    close_before_reading,
    delay,
    error,
    free_port,
    new_message_id,
    ok,
    raw,
    refused_endpoint,
    reset_connection,
    response_file,
    xml,
)

NS = {"ses": "http://ses.amazonaws.com/doc/2010-12-01/"}
MESSAGE_ID = re.compile(r"^01[0-9a-f]{14}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-000000$")
TIMEOUT = 5.0


@pytest.fixture
def ses():
    with FakeSES() as fake:
        yield fake
        assert fake.errors == []


def post(ses, action="SendEmail", session=None, timeout=TIMEOUT, **params):
    return (session or requests).post(ses.endpoint_url + "/", data={"Action": action, **params}, timeout=timeout)


def find(body: bytes, path: str) -> str | None:
    return ET.fromstring(body).findtext(path, namespaces=NS)


# -- default answers ---------------------------------------------------------


def test_endpoint_url_is_local_port(ses):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", ses.endpoint_url)
    assert ses.endpoint_url.endswith(f":{ses.port}")


def test_send_email_default_success(ses):
    response = post(ses, "SendEmail", Source="a@example.com")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml"
    assert int(response.headers["Content-Length"]) == len(response.content)
    root = ET.fromstring(response.content)
    assert root.tag == "{%s}SendEmailResponse" % NS["ses"]
    message_id = find(response.content, "ses:SendEmailResult/ses:MessageId")
    assert MESSAGE_ID.match(message_id)
    assert find(response.content, "ses:ResponseMetadata/ses:RequestId")
    [recorded] = ses.requests
    assert recorded.message_id == message_id
    assert recorded.status == 200
    assert ses.sent == [recorded]


def test_send_raw_email_default_success_and_ids_are_unique(ses):
    ids = set()
    for _ in range(3):
        response = post(ses, "SendRawEmail", **{"RawMessage.Data": "c3ViamVjdA=="})
        assert response.status_code == 200
        ids.add(find(response.content, "ses:SendRawEmailResult/ses:MessageId"))
    assert len(ids) == 3
    assert {r.message_id for r in ses.sent} == ids
    assert [r.action for r in ses.sent] == ["SendRawEmail"] * 3


def test_ok_with_fixed_message_id(ses):
    ses.enqueue(ok(message_id="fixed-id"))
    response = post(ses)
    assert find(response.content, "ses:SendEmailResult/ses:MessageId") == "fixed-id"
    assert ses.sent[0].message_id == "fixed-id"


def test_new_message_id_format():
    assert MESSAGE_ID.match(new_message_id())
    assert new_message_id() != new_message_id()


@pytest.mark.parametrize(
    ("action", "filename"),
    [("GetSendQuota", "get_send_quota_ok.xml"), ("GetSendStatistics", "get_send_statistics_ok.xml")],
)
def test_quota_and_statistics_use_canned_bodies(ses, action, filename):
    response = post(ses, action)
    assert response.status_code == 200
    assert response.content == (RESPONSES_DIR / filename).read_bytes()
    assert ses.requests[0].action == action
    assert ses.sent == []


def test_other_action_gets_empty_result(ses):
    response = post(ses, "VerifyEmailIdentity", EmailAddress="a@example.com")
    assert response.status_code == 200
    assert ET.fromstring(response.content).find("ses:VerifyEmailIdentityResult", NS) is not None
    assert ses.sent == []


def test_missing_action_is_an_error(ses):
    response = requests.post(ses.endpoint_url, data={"Source": "a@example.com"}, timeout=TIMEOUT)
    assert response.status_code == 400
    assert find(response.content, "ses:Error/ses:Code") == "MissingAction"
    assert ses.requests[0].action is None


# -- what is recorded ----------------------------------------------------------


def test_records_utf8_form_fields_headers_and_body(ses):
    params = {
        "Message.Subject.Data": "Grüße ✉ — 日本語",
        "Source": '"Zoë" <zoe@example.com>',
        "Empty": "",
        "Plus": "a+b c&d=e",
    }
    requests.post(
        ses.endpoint_url + "/",
        data={"Action": "SendEmail", **params},
        headers={"X-Amz-Date": "20240101T000000Z"},
        timeout=TIMEOUT,
    )
    [recorded] = ses.requests
    assert recorded.method == "POST"
    assert recorded.path == "/"
    assert recorded.params == {"Action": "SendEmail", **params}
    assert recorded.action == "SendEmail"
    assert recorded.headers["x-amz-date"] == "20240101T000000Z"
    assert recorded.headers["X-AMZ-DATE"] == "20240101T000000Z"
    assert recorded.headers["content-type"] == "application/x-www-form-urlencoded"
    assert b"Action=SendEmail" in recorded.body
    assert int(recorded.headers["Content-Length"]) == len(recorded.body)


def test_records_query_string_of_a_get(ses):
    requests.get(ses.endpoint_url + "/", params={"Action": "GetSendQuota", "Note": "é"}, timeout=TIMEOUT)
    [recorded] = ses.requests
    assert recorded.method == "GET"
    assert recorded.params == {"Action": "GetSendQuota", "Note": "é"}
    assert recorded.body == b""


def test_records_chunked_body(ses):
    body = iter([b"Action=SendEmail&", "Source=s%C3%A9@example.com".encode()])
    response = requests.post(
        ses.endpoint_url,
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert ses.requests[0].params == {"Action": "SendEmail", "Source": "sé@example.com"}


def test_reset_clears_requests_and_queue(ses):
    post(ses)
    ses.enqueue(error("Throttling"))
    assert ses.pending == 1
    ses.reset()
    assert ses.requests == [] and ses.sent == [] and ses.pending == 0
    assert post(ses).status_code == 200


def test_concurrent_requests_are_all_recorded(ses):
    def worker():
        with requests.Session() as session:
            for _ in range(5):
                assert post(ses, session=session).status_code == 200

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert len(ses.requests) == 40
    assert len({r.message_id for r in ses.sent}) == 40
    assert len({r.connection_id for r in ses.requests}) == 8


# -- scripted answers ---------------------------------------------------------


def test_enqueued_responses_are_used_in_order_then_default(ses):
    ses.enqueue(xml(400, "error_Throttling_rate.xml"), xml(503, "error_ServiceUnavailable.xml"))
    first, second, third = (post(ses) for _ in range(3))

    assert first.status_code == 400
    assert first.content == (RESPONSES_DIR / "error_Throttling_rate.xml").read_bytes()
    assert second.status_code == 503
    assert third.status_code == 200
    assert [r.status for r in ses.requests] == [400, 503, 200]
    assert ses.sent == [ses.requests[2]]
    assert ses.pending == 0


def test_xml_with_literal_body_and_headers(ses):
    ses.enqueue(xml(500, "<Broken>", retry_after="3"))
    response = post(ses)
    assert response.status_code == 500
    assert response.content == b"<Broken>"
    assert response.headers["Retry-After"] == "3"
    assert ses.sent == []


def test_xml_unknown_file_fails_at_scripting_time():
    with pytest.raises(FileNotFoundError):
        xml(400, "no_such_file.xml")
    with pytest.raises(FileNotFoundError):
        response_file("../fakeses.py")


@pytest.mark.parametrize(
    ("code", "status", "filename"),
    [
        ("Throttling", 400, "error_Throttling_rate.xml"),
        ("Throttling_daily", 400, "error_Throttling_daily.xml"),
        ("MessageRejected", 400, "error_MessageRejected.xml"),
        ("MailFromDomainNotVerifiedException", 400, "error_MailFromDomainNotVerified.xml"),
        ("SignatureDoesNotMatch", 403, "error_SignatureDoesNotMatch.xml"),
        ("SignatureDoesNotMatch_expired", 403, "error_SignatureDoesNotMatch_expired.xml"),
        ("ServiceUnavailable", 503, "error_ServiceUnavailable.xml"),
        ("InternalFailure", 500, "error_InternalFailure.xml"),
    ],
)
def test_error_picks_file_and_status_from_index(ses, code, status, filename):
    ses.enqueue(error(code))
    response = post(ses)
    assert response.status_code == status
    assert response.content == (RESPONSES_DIR / filename).read_bytes()
    assert ses.requests[0].status == status
    assert ses.sent == []


def test_every_indexed_error_is_reachable():
    index = json.loads((RESPONSES_DIR / "index.json").read_text())
    for name, meta in index.items():
        if name.startswith("error_"):
            reply = error(name[len("error_") : -len(".xml")])
            assert reply.status == meta["status"]
            assert reply.body == (RESPONSES_DIR / name).read_bytes()


def test_error_unknown_code():
    with pytest.raises(KeyError, match="Throttling"):
        error("NoSuchCode")


def test_raw_html_502(ses):
    ses.enqueue(raw(502, HTML_502))
    response = post(ses)
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert response.content == HTML_502
    assert ses.requests[0].status == 502
    assert ses.sent == []


def test_raw_other_content_type(ses):
    ses.enqueue(raw(200, NOT_XML, content_type="text/plain"))
    response = post(ses)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain"
    assert response.content == NOT_XML
    assert ses.sent == []


def test_delay_then_answer(ses):
    ses.enqueue(delay(0.2, then=error("Throttling")))
    started = time.monotonic()
    response = post(ses)
    assert time.monotonic() - started >= 0.2
    assert response.status_code == 400


def test_delay_beyond_client_timeout_raises_read_timeout(ses):
    ses.enqueue(delay(30))
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        post(ses, timeout=(TIMEOUT, 0.3))
    assert time.monotonic() - started < 5
    [recorded] = ses.requests
    assert recorded.status is None
    assert ses.sent == []


def test_delayed_success_counts_as_sent_once_answered(ses):
    # A client that gave up may still have had its message accepted.
    ses.enqueue(delay(0.5))
    with pytest.raises(requests.ReadTimeout):
        post(ses, timeout=(TIMEOUT, 0.1))
    deadline = time.monotonic() + TIMEOUT
    while not ses.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(ses.sent) == 1


def test_stop_interrupts_a_delay():
    fake = FakeSES().start()
    fake.enqueue(delay(60))
    with pytest.raises(requests.ReadTimeout):
        post(fake, timeout=(TIMEOUT, 0.2))
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2
    assert fake.sent == []


def test_reset_connection_raises_connection_error(ses):
    ses.enqueue(reset_connection())
    with pytest.raises(requests.ConnectionError):
        post(ses)
    [recorded] = ses.requests
    assert recorded.action == "SendEmail"
    assert recorded.status is None
    assert ses.sent == []
    assert post(ses).status_code == 200


def test_delay_then_reset(ses):
    ses.enqueue(delay(0.1, then=reset_connection()))
    with pytest.raises(requests.ConnectionError):
        post(ses)
    assert ses.sent == []


def test_close_before_reading_raises_connection_error_and_records_nothing(ses):
    ses.enqueue(close_before_reading())
    with pytest.raises(requests.ConnectionError):
        post(ses)
    assert ses.requests == []
    assert ses.pending == 0
    assert post(ses).status_code == 200
    assert len(ses.sent) == 1


# -- connections ---------------------------------------------------------------


def test_session_reuses_one_connection(ses):
    with requests.Session() as session:
        for _ in range(3):
            assert post(ses, session=session).status_code == 200
    assert len({r.connection_id for r in ses.requests}) == 1


def test_separate_requests_use_separate_connections(ses):
    for _ in range(3):
        post(ses)
    assert len({r.connection_id for r in ses.requests}) == 3


def test_session_reconnects_after_reset(ses):
    with requests.Session() as session:
        post(ses, session=session)
        ses.enqueue(reset_connection())
        with pytest.raises(requests.ConnectionError):
            post(ses, session=session)
        post(ses, session=session)
        post(ses, session=session)
    first, reset, after, again = (r.connection_id for r in ses.requests)
    assert first == reset
    assert after != first
    assert again == after


def test_close_before_reading_on_a_kept_alive_connection(ses):
    with requests.Session() as session:
        post(ses, session=session)
        ses.enqueue(close_before_reading())
        with pytest.raises(requests.ConnectionError):
            post(ses, session=session)
        post(ses, session=session)
    assert len(ses.requests) == 2
    assert ses.requests[0].connection_id != ses.requests[1].connection_id


def test_connection_close_is_honoured(ses):
    response = requests.post(
        ses.endpoint_url, data={"Action": "SendEmail"}, headers={"Connection": "close"}, timeout=TIMEOUT
    )
    assert response.status_code == 200
    assert response.headers["Connection"] == "close"


def test_stop_with_idle_keep_alive_connection_is_quick():
    fake = FakeSES().start()
    session = requests.Session()
    post(fake, session=session)
    started = time.monotonic()
    fake.stop()
    fake.stop()
    assert time.monotonic() - started < 2
    session.close()
    with pytest.raises(requests.ConnectionError):
        requests.post(fake.endpoint_url, data={"Action": "SendEmail"}, timeout=1)


def test_not_started():
    fake = FakeSES()
    with pytest.raises(RuntimeError):
        fake.endpoint_url
    fake.stop()


def test_enqueue_rejects_non_responses(ses):
    with pytest.raises(TypeError):
        ses.enqueue(b"<xml/>")


def test_refused_endpoint():
    url = refused_endpoint()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        requests.post(url, data={"Action": "SendEmail"}, timeout=TIMEOUT)
    assert time.monotonic() - started < 2


def test_free_port():
    port = free_port()
    assert 0 < port < 65536
    with FakeSES(port=port) as fake:
        assert fake.endpoint_url == f"http://127.0.0.1:{port}"
        assert post(fake).status_code == 200


# -- hostile bodies ------------------------------------------------------------


def test_hostile_bodies_are_served_verbatim(ses):
    ses.enqueue(xml(200, ENTITY_BOMB), xml(200, DTD_EXTERNAL))
    assert post(ses).content == ENTITY_BOMB
    assert post(ses).content == DTD_EXTERNAL
    assert ses.sent == []


def test_hostile_bodies_are_what_they_claim():
    defusedxml_elementtree = pytest.importorskip("defusedxml.ElementTree")
    from defusedxml import EntitiesForbidden

    assert b"<!ENTITY lol9" in ENTITY_BOMB
    assert b'SYSTEM "file:///etc/passwd"' in DTD_EXTERNAL
    for body in (ENTITY_BOMB, DTD_EXTERNAL):
        with pytest.raises(EntitiesForbidden):
            defusedxml_elementtree.fromstring(body)
    with pytest.raises(ET.ParseError):
        ET.fromstring(NOT_XML)
    assert b"502 Bad Gateway" in HTML_502
