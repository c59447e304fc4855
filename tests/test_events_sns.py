"""SNS signature verification (v1 and v2, all three types, AWS's own
vectors) and the certificate URL rules, fetch and cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from django_ses_query.events import certificates, sns
from django_ses_query.events.certificates import (
    CertificateUnavailable,
    check_certificate_url,
    get_certificate,
)
from tests.snskeys import CA_PEM, CERT_PEM, CERT_URL, OTHER_KEY, envelope

GOLDEN = Path(__file__).resolve().parent / "sns_golden"
GOLDEN_CERT = x509.load_pem_x509_certificate(
    (GOLDEN / "SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem").read_bytes()
)
CERT = x509.load_pem_x509_certificate(CERT_PEM)
TYPES = ["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]


def golden(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text())


# -- AWS's own signatures ----------------------------------------------------


@pytest.mark.parametrize("name", ["notification-v1.json", "notification-v2.json", "ses-complaint-event-v1.json"])
def test_golden_vectors_verify_though_the_certificate_expired(name):
    message = golden(name)
    sns.check_shape(message)
    check_certificate_url(message["SigningCertURL"])
    assert GOLDEN_CERT.not_valid_after_utc.year == 2022
    sns.verify(message, GOLDEN_CERT)


def test_golden_event_message_keeps_its_signed_trailing_newline():
    message = golden("ses-complaint-event-v1.json")
    assert message["Message"].endswith("}\n")
    message["Message"] = message["Message"].rstrip("\n")
    with pytest.raises(sns.SignatureInvalid):
        sns.verify(message, GOLDEN_CERT)


@pytest.mark.parametrize("name", ["notification-v1.json", "notification-v2.json", "ses-complaint-event-v1.json"])
def test_golden_vectors_with_the_other_hash_fail(name):
    message = golden(name)
    message["SignatureVersion"] = "2" if message["SignatureVersion"] == "1" else "1"
    with pytest.raises(sns.SignatureInvalid):
        sns.verify(message, GOLDEN_CERT)


def test_golden_subject_is_signed():
    message = golden("ses-complaint-event-v1.json")
    message["Subject"] = "Amazon SES Email Event Notification!"
    with pytest.raises(sns.SignatureInvalid):
        sns.verify(message, GOLDEN_CERT)
    del message["Subject"]
    with pytest.raises(sns.SignatureInvalid):
        sns.verify(message, GOLDEN_CERT)


# -- Our own signatures --------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("kind", TYPES)
def test_signed_messages_verify(kind, version):
    sns.verify(envelope(kind, version=version), CERT)


def test_notification_with_subject_verifies():
    sns.verify(envelope(subject="Amazon SES Email Event Notification"), CERT)


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize(
    "kind, field",
    [("Notification", f) for f in ("Message", "MessageId", "Subject", "Timestamp", "TopicArn")]
    + [(k, f) for k in TYPES[1:] for f in
       ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn")],
)
def test_tampering_with_any_signed_field_fails(kind, field, version):
    message = envelope(kind, version=version, subject="A subject" if kind == "Notification" else None)
    message[field] = message[field] + "x"
    with pytest.raises(sns.SignatureInvalid):
        sns.verify(message, CERT)


@pytest.mark.parametrize("kind", TYPES[1:])
def test_type_is_signed(kind):
    # A SubscriptionConfirmation re-labelled UnsubscribeConfirmation (same
    # field set) must not verify.
    message = envelope(kind)
    message["Type"] = TYPES[1] if kind == TYPES[2] else TYPES[2]
    with pytest.raises(sns.SignatureInvalid):
        sns.verify(message, CERT)


def test_other_key_fails():
    with pytest.raises(sns.SignatureInvalid):
        sns.verify(envelope(key=OTHER_KEY), CERT)


@pytest.mark.parametrize("version", ["", "3", "0", None])
def test_unknown_signature_version_fails(version):
    message = envelope()
    message["SignatureVersion"] = version
    with pytest.raises(sns.SignatureInvalid, match="SignatureVersion"):
        sns.verify(message, CERT)


def test_signature_not_base64_fails():
    message = envelope()
    message["Signature"] = "not base64!"
    with pytest.raises(sns.SignatureInvalid, match="base64"):
        sns.verify(message, CERT)


# -- Shape ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[1]", b'"x"', json.dumps({"Type": "Other"}).encode(),
     json.dumps({"Type": "Notification", "Message": "x"}).encode()],
)
def test_malformed_bodies(body):
    with pytest.raises(sns.MalformedMessage):
        sns.parse_envelope(body)


@pytest.mark.parametrize("field", ["Message", "MessageId", "Timestamp", "TopicArn", "Signature",
                                   "SignatureVersion", "SigningCertURL"])
def test_missing_or_non_string_field_is_malformed(field):
    message = envelope()
    del message[field]
    with pytest.raises(sns.MalformedMessage, match=field):
        sns.check_shape(message)
    message[field] = 1
    with pytest.raises(sns.MalformedMessage, match=field):
        sns.check_shape(message)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("[" * 65 + "]" * 65, "deeper than 64"),
        ("[" * 200_000 + "]" * 200_000, "deeper than 64"),
        ("[" * 200_000, "too deep|not JSON"),
        (r'{"a": "\\ud800"}', None),  # An escaped backslash, then text: no surrogate.
        (r'{"a": "\\\ud800"}', "lone surrogate"),
        (r'["\udc00"]', "lone surrogate"),
        (r'["\ud83d\ude00"]', None),  # A pair: one character.
        ('"[[[[ brackets in a string are not nesting"', None),
    ],
)
def test_load_json(text, problem):
    if problem is None:
        sns.load_json(text, "x")
        sns.load_json(text.encode(), "x")
    else:
        with pytest.raises(sns.MalformedMessage, match=problem):
            sns.load_json(text, "x")
    assert sns.load_json("[" * 64 + "]" * 64, "x") is not None


def test_load_json_refuses_a_str_holding_a_lone_surrogate():
    with pytest.raises(sns.MalformedMessage, match="lone surrogate"):
        sns.load_json('["\ud800"]', "x")
    with pytest.raises(sns.MalformedMessage, match="UTF-8"):
        sns.load_json(b'["\xed\xa0\x80"]', "x")  # A surrogate encoded: not UTF-8.


@pytest.mark.parametrize(
    "value, ok",
    [("2026-01-02T03:04:05.678Z", True), ("2026-01-02T03:04:05Z", True), ("2026-01-02T03:04:05+02:00", True),
     ("2026-01-02T03:04:05.123456789Z", True), ("2026-01-02T03:04:05", False), ("2026-02-30T03:04:05Z", False),
     ("2026-01-02t03:04:05Z", False), (" 2026-01-02T03:04:05Z", False)],
)
def test_timestamps(value, ok):
    message = envelope(Timestamp=value)
    if ok:
        sns.check_shape(message)
    else:
        with pytest.raises(sns.MalformedMessage, match="Timestamp"):
            sns.check_shape(message)


def test_check_age():
    import datetime

    message = envelope(Timestamp="2026-01-02T03:04:05.678Z")
    moment = datetime.datetime(2026, 1, 16, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)
    sns.check_age(message, 14, moment)
    with pytest.raises(sns.TooOld):
        sns.check_age(message, 14, moment + datetime.timedelta(milliseconds=1))
    sns.check_age(message, None, moment + datetime.timedelta(days=10_000))


@pytest.mark.parametrize("length, ok", [(255, False), (256, True), (384, True), (512, True), (513, False)])
def test_signature_length(length, ok):
    import base64

    message = envelope()
    message["Signature"] = base64.b64encode(b"\x01" * length).decode()
    if ok:
        sns.check_signature(message, 1)
    else:
        with pytest.raises(sns.SignatureInvalid, match="bytes"):
            sns.check_signature(message, 1)


def test_minimum_signature_version():
    sns.check_signature(envelope(version="1"), 1)
    sns.check_signature(envelope(version="2"), 2)
    with pytest.raises(sns.VersionRefused, match="SignatureVersion attribute to 2"):
        sns.check_signature(envelope(version="1"), 2)


def test_topic_list():
    message = envelope()
    sns.check_topic(message, (message["TopicArn"],))
    with pytest.raises(sns.TopicRefused):
        sns.check_topic(message, ("arn:aws:sns:us-east-1:123456789012:other",))
    with pytest.raises(sns.TopicRefused):
        sns.check_topic(message, ())


# -- Certificate URL rules -------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-0abc.pem",
        "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-0.pem",
        "https://sns.ap-southeast-5.amazonaws.com/SimpleNotificationService-0.pem",
        "https://sns.cn-northwest-1.amazonaws.com.cn/SimpleNotificationService-0.pem",
    ],
)
def test_accepted_certificate_urls(url):
    check_certificate_url(url)


@pytest.mark.parametrize(
    "url, problem",
    [
        ("http://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem", "https"),
        ("https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://evil.com/sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://s3.amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://my-bucket.s3.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://sns.us-east-1.amazonaws.com.cn.evil/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://sns.us_east_1.amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://sns.US-EAST-1.amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://sns.us.east.1.amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://sns..amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://xsns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://sns.s3.amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://sns.s3-us-west-2.amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://sns.execute-api.amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://sns.--.amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://sns.x.amazonaws.com.cn/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://sns.us-east-1.amazonaws.com.cn/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://sns.cn-north-1.amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://sns.us-east.amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://sns.useast-1.amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://sns.u-east-1.amazonaws.com/SimpleNotificationService-ab.pem", "SNS host"),
        ("https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem", "user info"),
        ("https://evil.com@sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem", "user info"),
        ("https://sns.us-east-1.amazonaws.com:443/SimpleNotificationService-ab.pem", "port"),
        ("https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-ab.pem", "port"),
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem?x=1", "query"),
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem?", "query"),
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem#f", "fragment"),
        ("https://sns.us-east-1.amazonaws.com/other.pem", "SimpleNotificationService"),
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-XYZ.pem", "SimpleNotificationService"),
        ("https://sns.us-east-1.amazonaws.com/x/SimpleNotificationService-ab.pem", "SimpleNotificationService"),
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem.exe", "SimpleNotificationService"),
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem/", "SimpleNotificationService"),
        ("https://sns.us-east-1.amazonaws.com/%53impleNotificationService-ab.pem", "SimpleNotificationService"),
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem\n", "plain ASCII"),
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem ", "plain ASCII"),
        ("https://sns.us-east-1.amazonaws.сom/SimpleNotificationService-ab.pem", "plain ASCII"),
        ("//sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem", "https"),
        ("", "https"),
    ],
)
def test_refused_certificate_urls(url, problem):
    with pytest.raises(sns.CertificateRefused, match=problem):
        check_certificate_url(url)


# -- Fetching and caching ----------------------------------------------------------


def test_certificate_is_fetched_once_and_cached_in_the_process(sns_adapter):
    first = get_certificate(CERT_URL)
    second = get_certificate(CERT_URL)
    assert first.fingerprint(hashes.SHA256()) == CERT.fingerprint(hashes.SHA256())
    assert second is first
    assert [r.url for r in sns_adapter.requests] == [CERT_URL]
    assert sns_adapter.kwargs[0]["timeout"] == certificates.TIMEOUT
    assert sns_adapter.requests[0].method == "GET"


def test_refused_url_is_never_fetched(sns_adapter):
    with pytest.raises(sns.CertificateRefused):
        get_certificate(CERT_URL.replace("https://", "http://"))
    assert sns_adapter.requests == []


def test_django_cache_is_used_when_configured(sns_adapter, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "sns-cert-test"}}
    from django.core.cache import cache

    cache.clear()
    get_certificate(CERT_URL)
    certificates.clear_cache()  # Another process: the Django cache has it.
    get_certificate(CERT_URL)
    assert len(sns_adapter.requests) == 1
    cache.clear()


@pytest.mark.parametrize(
    "status, body, headers, problem",
    [
        (302, b"", {"Location": "https://evil.example/cert.pem"}, "HTTP 302"),
        (404, b"not found", {}, "HTTP 404"),
        (200, b"-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----\n", {}, "X.509"),
        (200, CERT_PEM + b"x" * certificates.MAX_BYTES, {}, "larger"),
        (200, CERT_PEM, {"Content-Length": str(certificates.MAX_BYTES + 1)}, "larger"),
    ],
)
def test_bad_certificate_answers_are_refused(sns_adapter, status, body, headers, problem):
    sns_adapter.routes[CERT_URL] = (status, body, headers)
    with pytest.raises(sns.CertificateRefused, match=problem):
        get_certificate(CERT_URL)
    assert len(sns_adapter.requests) == 1  # The redirect was not followed.


def test_unreachable_certificate_is_unavailable_not_refused(sns_adapter):
    del sns_adapter.routes[CERT_URL]
    with pytest.raises(CertificateUnavailable):
        get_certificate(CERT_URL)


def test_fetch_honours_proxy_and_ca_bundle_environment(sns_adapter, monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(CA_PEM)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    get_certificate(CERT_URL)
    assert sns_adapter.kwargs[0]["proxies"].get("https") == "http://proxy.example:3128"
    assert sns_adapter.kwargs[0]["verify"] == str(bundle)
    certificates.clear_cache()
    monkeypatch.setenv("NO_PROXY", ".amazonaws.com")
    get_certificate(CERT_URL)
    assert "https" not in sns_adapter.kwargs[1]["proxies"]
