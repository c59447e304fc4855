"""Tests for django_ses_query.signing: AWS's SigV4 test suite, then botocore."""

from __future__ import annotations

import hashlib
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock
from urllib.parse import quote, urlencode

import pytest

from django_ses_query import signing
from django_ses_query.credentials import Credentials

SUITE = Path(__file__).parent / "aws4_testsuite"

# The suite's fixed inputs (its README and AWS's documentation).
ACCESS_KEY_ID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
AMZ_DATE = "20150830T123600Z"
SUITE_TIME = datetime(2015, 8, 30, 12, 36, tzinfo=timezone.utc)
REGION = "us-east-1"
SERVICE = "service"

DOT_SEGMENTS = "needs dot-segment removal; our client's path is always /"
DOUBLE_SLASHES = "needs repeated slashes merged; our client's path is always /"
SKIPPED = {
    "normalize-path/get-relative": DOT_SEGMENTS,
    "normalize-path/get-relative-relative": DOT_SEGMENTS,
    "normalize-path/get-slash": DOUBLE_SLASHES,
    "normalize-path/get-slash-dot-slash": DOT_SEGMENTS,
    "normalize-path/get-slash-pointless-dot": DOT_SEGMENTS,
    "normalize-path/get-slashes": DOUBLE_SLASHES,
}

# Cases whose signed X-Amz-Security-Token is only in the .sreq, not the .req.
TOKEN_ONLY_IN_SREQ = {"get-vanilla-with-session-token"}

# The families that must never be skipped: what a POST-form client sends.
REQUIRED_PREFIXES = (
    "post-x-www-form-urlencoded",
    "post-vanilla",
    "post-header-",
    "post-sts-token/",
    "get-vanilla",
    "get-header-",
    "get-unreserved",
    "get-utf8",
)
MINIMUM_CASES_RUN = 28


def discover_cases() -> list[str]:
    """Each directory holding a ``<name>.req`` is a case, named by its path."""
    return sorted(
        req.parent.relative_to(SUITE).as_posix()
        for req in SUITE.rglob("*.req")
        if req.stem == req.parent.name
    )


CASES = discover_cases()
RUN_CASES = [case for case in CASES if case not in SKIPPED]


def case_params() -> list:
    return [
        pytest.param(case, id=case, marks=pytest.mark.skip(reason=SKIPPED[case]))
        if case in SKIPPED
        else pytest.param(case, id=case)
        for case in CASES
    ]


def read(case: str, extension: str) -> str:
    # Bytes, then UTF-8: the files are LF-only and some have raw UTF-8 paths.
    return (SUITE / case / f"{Path(case).name}{extension}").read_bytes().decode("utf-8")


@dataclass
class RawRequest:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ",".join(values) if values else None


def parse_request(raw: str) -> RawRequest:
    head, _, body = raw.partition("\n\n")
    request_line, *header_lines = head.split("\n")
    method, rest = request_line.split(" ", 1)
    target = rest.rsplit(" ", 1)[0]  # The path may hold a space.
    path, _, query = target.partition("?")
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        if not line:
            continue
        if line[0] in " \t":  # A folded continuation of the previous header.
            name, value = headers[-1]
            headers[-1] = (name, f"{value}\n{line}")
        else:
            name, _, value = line.partition(":")
            headers.append((name, value))
    return RawRequest(method, path, query, headers, body.encode("utf-8"))


def case_request(case: str) -> RawRequest:
    request = parse_request(read(case, ".req"))
    if case in TOKEN_ONLY_IN_SREQ:
        token = parse_request(read(case, ".sreq")).header("X-Amz-Security-Token")
        assert token
        request.headers.append(("X-Amz-Security-Token", token))
    return request


# AWS's test suite


def test_suite_is_complete():
    assert (SUITE / "LICENSE").is_file()
    assert (SUITE / "NOTICE").is_file()
    assert len(CASES) >= 34


def test_skip_list_names_only_existing_cases():
    assert set(SKIPPED) <= set(CASES)
    assert TOKEN_ONLY_IN_SREQ <= set(RUN_CASES)


def test_enough_cases_run():
    assert len(RUN_CASES) >= MINIMUM_CASES_RUN
    skipped_required = [case for case in SKIPPED if case.startswith(REQUIRED_PREFIXES)]
    assert skipped_required == []
    for prefix in REQUIRED_PREFIXES:
        assert any(case.startswith(prefix) for case in RUN_CASES), prefix


@pytest.mark.parametrize("case", case_params())
def test_suite_stages(case):
    request = case_request(case)
    payload_hash = hashlib.sha256(request.body).hexdigest()

    creq = signing.canonical_request(
        request.method, request.path, request.query, request.headers, payload_hash
    )
    assert creq == read(case, ".creq")

    scope = signing.credential_scope(AMZ_DATE[:8], REGION, SERVICE)
    sts = signing.string_to_sign(AMZ_DATE, scope, creq)
    assert sts == read(case, ".sts")

    key = signing.signing_key(SECRET, AMZ_DATE[:8], REGION, SERVICE)
    authz = signing.authorization_header(
        ACCESS_KEY_ID,
        scope,
        signing.signed_headers(request.headers),
        signing.signature(key, sts),
    )
    assert authz == read(case, ".authz")


@pytest.mark.parametrize("case", case_params())
def test_suite_sign(case):
    """The whole of sign(), with what it sets itself taken out of the .req."""
    request = case_request(case)
    headers: dict[str, str] = {}
    for name, value in request.headers:
        if name.lower() in ("host", "x-amz-date", "x-amz-security-token"):
            continue
        # A mapping holds a repeated header once, its values comma-joined,
        # which signs the same as the repeated lines.
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    url = f"https://{request.header('Host')}{request.path}"
    if request.query:
        url += f"?{request.query}"
    credentials = Credentials(ACCESS_KEY_ID, SECRET, request.header("X-Amz-Security-Token"))

    signed = signing.sign(
        method=request.method,
        url=url,
        headers=headers,
        body=request.body,
        credentials=credentials,
        region=REGION,
        service=SERVICE,
        timestamp=SUITE_TIME,
    )

    assert signed["Authorization"] == read(case, ".authz")
    assert signed["X-Amz-Date"] == AMZ_DATE
    assert signed["Host"] == request.header("Host")


def test_post_sts_header_after_is_signed_before_the_token_is_added():
    # sign() always signs the token; this case adds it unsigned afterwards.
    case = "post-sts-token/post-sts-header-after"
    sreq = parse_request(read(case, ".sreq"))
    assert "x-amz-security-token" not in read(case, ".creq")
    assert sreq.header("X-Amz-Security-Token")


# Stage functions on their own


def test_signing_key_matches_aws_documentation():
    key = signing.signing_key(SECRET, "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", ""),
        ("b=2&a=1", "a=1&b=2"),
        ("a=2&a=1", "a=1&a=2"),
        ("a=1&&b", "a=1&b="),
        ("k=a b", "k=a%20b"),
        ("k=a%20b", "k=a%20b"),
        ("k=a+b", "k=a%2Bb"),
        ("k=-_.~!*'()", "k=-_.~%21%2A%27%28%29"),
        ("k=%e1%88%b4", "k=%E1%88%B4"),
        ("k=\u1234", "k=%E1%88%B4"),
        ("k=/?=&", "k=%2F%3F%3D"),
    ],
)
def test_canonical_query_string(query, expected):
    assert signing.canonical_query_string(query) == expected


@pytest.mark.parametrize(
    "path, expected",
    [
        ("", "/"),
        ("/", "/"),
        ("/a b/", "/a%20b/"),
        ("/a%20b", "/a%2520b"),
        ("/-._~", "/-._~"),
        ("/\u1234", "/%E1%88%B4"),
    ],
)
def test_canonical_uri(path, expected):
    assert signing.canonical_uri(path) == expected


def test_canonical_request_accepts_a_one_shot_iterator_of_pairs():
    pairs = iter([("Host", "example.com"), ("X-A", " 1 "), ("x-a", "2")])
    creq = signing.canonical_request("POST", "/", "", pairs, "hash")
    assert creq == "POST\n/\n\nhost:example.com\nx-a:1,2\n\nhost;x-a\nhash"


def test_header_values_are_trimmed_and_inner_spaces_collapsed():
    headers = {"X-B": "  a   b \t c  ", "x-a": "v"}
    assert signing.canonical_headers(headers) == "x-a:v\nx-b:a b c\n"
    assert signing.signed_headers(headers) == "x-a;x-b"


# sign()

CREDENTIALS = Credentials("AKIDEXAMPLE", SECRET)
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def sign(url: str = "https://email.us-east-1.amazonaws.com/", **kwargs) -> dict[str, str]:
    arguments = {
        "method": "POST",
        "url": url,
        "headers": FORM_HEADERS,
        "body": b"Action=GetSendQuota&Version=2010-12-01",
        "credentials": CREDENTIALS,
        "region": "us-east-1",
        "timestamp": SUITE_TIME,
    }
    arguments.update(kwargs)
    return signing.sign(**arguments)


def test_sign_returns_a_new_dict_with_the_signing_headers():
    headers = dict(FORM_HEADERS)
    signed = sign(headers=headers)
    assert headers == FORM_HEADERS
    assert list(signed) == ["Content-Type", "Host", "X-Amz-Date", "Authorization"]
    assert signed["X-Amz-Date"] == AMZ_DATE
    assert signed["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ses/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature="
    )


def test_sign_signs_the_session_token():
    signed = sign(credentials=Credentials("AKIDEXAMPLE", SECRET, "the-token"))
    assert signed["X-Amz-Security-Token"] == "the-token"
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token," in (
        signed["Authorization"]
    )


def test_sign_replaces_the_headers_it_sets():
    stale = {
        **FORM_HEADERS,
        "authorization": "old",
        "X-Amz-Date": "20000101T000000Z",
        "x-amz-security-token": "old-token",
    }
    assert sign(headers=stale) == sign()


def test_sign_keeps_a_host_given():
    signed = sign(headers={**FORM_HEADERS, "host": "email.example.net"})
    assert signed["host"] == "email.example.net"
    assert "Host" not in signed
    assert signed["Authorization"] != sign()["Authorization"]


def test_sign_timestamps():
    naive = sign(timestamp=datetime(2015, 8, 30, 12, 36, 0, 999999))
    other_zone = sign(timestamp=datetime(2015, 8, 30, 14, 36, tzinfo=timezone(timedelta(hours=2))))
    assert naive == other_zone == sign()

    before = datetime.now(timezone.utc).replace(microsecond=0)
    now = sign(timestamp=None)["X-Amz-Date"]
    after = datetime.now(timezone.utc)
    assert before <= datetime.strptime(now, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc) <= after


def test_sign_upper_cases_the_method():
    assert sign(method="post") == sign(method="POST")


@pytest.mark.parametrize(
    "url, host",
    [
        ("https://email.us-east-1.amazonaws.com/", "email.us-east-1.amazonaws.com"),
        ("https://email.us-east-1.amazonaws.com", "email.us-east-1.amazonaws.com"),
        ("https://email.us-east-1.amazonaws.com:443/", "email.us-east-1.amazonaws.com"),
        ("HTTPS://Email.US-East-1.AmazonAWS.com:443/", "email.us-east-1.amazonaws.com"),
        ("https://localhost:8443/", "localhost:8443"),
        ("https://localhost:80/", "localhost:80"),
        ("http://127.0.0.1:80/", "127.0.0.1"),
        ("http://127.0.0.1/", "127.0.0.1"),
        ("http://127.0.0.1:8123/", "127.0.0.1:8123"),
        ("http://127.0.0.1:443/", "127.0.0.1:443"),
        ("http://user:password@127.0.0.1:8123/", "127.0.0.1:8123"),
        ("http://[::1]:8123/", "[::1]:8123"),
        ("http://[::1]/", "[::1]"),
    ],
)
def test_host_omits_default_ports(url, host):
    assert sign(url)["Host"] == host


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:80/",
        "http://127.0.0.1:8123/",
        "http://127.0.0.1:443/",
        "http://Localhost:8123/?a=1",
    ],
)
def test_host_is_what_requests_sends(url):
    """Capture the request requests writes to the socket."""
    requests = pytest.importorskip("requests")
    client, server = socket.socketpair()
    received = bytearray()

    def answer() -> None:
        with server:
            while b"\r\n\r\n" not in received:
                received.extend(server.recv(65536))
            server.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        with requests.Session() as session, mock.patch(
            "urllib3.util.connection.create_connection", return_value=client
        ):
            session.trust_env = False  # No proxy from the environment.
            session.post(url, data=b"x", timeout=5)
    finally:
        thread.join(5)
    lines = bytes(received).split(b"\r\n\r\n")[0].decode("ascii").split("\r\n")
    sent = [line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("host:")]
    assert sent == [sign(url)["Host"]]


@pytest.mark.parametrize("url", ["https:///", "/relative", "https://bücher.example/"])
def test_sign_rejects_urls_without_a_usable_host(url):
    with pytest.raises(ValueError, match="cannot sign"):
        sign(url)


# The signing key, remembered


def test_the_remembered_key_is_the_derived_key():
    signing._cached_signing_key.cache_clear()
    first = sign()
    second = sign()
    rotated = sign(credentials=Credentials("AKIDEXAMPLE", SECRET + "2"))
    next_day = sign(timestamp=SUITE_TIME + timedelta(days=1))

    assert first == second
    assert rotated["Authorization"] != first["Authorization"]
    assert next_day["Authorization"] != first["Authorization"]
    info = signing._cached_signing_key.cache_info()
    assert (info.hits, info.misses) == (1, 3)
    assert signing._cached_signing_key(SECRET, "20120215", "us-east-1", "iam") == signing.signing_key(
        SECRET, "20120215", "us-east-1", "iam"
    )


def test_the_key_cache_is_bounded():
    signing._cached_signing_key.cache_clear()
    for day in range(40):
        sign(timestamp=SUITE_TIME + timedelta(days=day))
    info = signing._cached_signing_key.cache_info()
    assert info.maxsize == 16
    assert info.currsize == 16


def test_the_key_cache_does_not_show_the_secret():
    sign()
    for text in (repr(signing._cached_signing_key), str(signing._cached_signing_key.cache_info()),
                 repr(signing._cached_signing_key.cache_parameters())):
        assert SECRET not in text


# Secrets stay out of reprs, printouts and errors


def test_credentials_repr_hides_the_secret():
    credentials = Credentials("AKIDEXAMPLE", SECRET, "session-token-value")
    assert SECRET not in repr(credentials)
    assert "session-token-value" not in repr(credentials)
    assert "AKIDEXAMPLE" in repr(credentials)


def test_redact():
    signed = sign(credentials=Credentials("AKIDEXAMPLE", SECRET, "session-token-value"))
    signature = signed["Authorization"].rsplit("Signature=", 1)[1]
    redacted = signing.redact(signed)

    assert redacted is not signed
    assert list(redacted) == list(signed)
    assert redacted["X-Amz-Security-Token"] == "<redacted>"
    assert redacted["Authorization"] == signed["Authorization"].replace(signature, "<redacted>")
    assert redacted["Host"] == signed["Host"]
    text = repr(redacted)
    for secret in (SECRET, "session-token-value", signature):
        assert secret not in text
    assert signed["X-Amz-Security-Token"] == "session-token-value"


def test_redact_is_case_insensitive():
    headers = {"authorization": "AWS4-HMAC-SHA256 Signature=abc123", "x-amz-security-token": "t"}
    assert signing.redact(headers) == {
        "authorization": "AWS4-HMAC-SHA256 Signature=<redacted>",
        "x-amz-security-token": "<redacted>",
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"credentials": Credentials("", SECRET)},
        {"credentials": Credentials("AKIDEXAMPLE", "")},
        {"body": "not bytes"},
        {"url": "https://host:port/"},
        {"url": "https://bücher.example/"},
    ],
)
def test_errors_do_not_show_the_secret(kwargs):
    with pytest.raises((ValueError, TypeError)) as caught:
        sign(**kwargs)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


# Byte-for-byte agreement with botocore

SEND_EMAIL = urlencode(
    {
        "Action": "SendEmail",
        "Version": "2010-12-01",
        "Source": "Zoë Brontë <zoe@example.com>",
        "Destination.ToAddresses.member.1": "jürgen@example.de",
        "Destination.ToAddresses.member.2": "ops+ses@example.com",
        "Message.Subject.Data": "Grüße ✓ — 日本語の件名",
        "Message.Subject.Charset": "UTF-8",
        "Message.Body.Text.Data": "Line one\r\nLine two: 100% & more ~ * ' ( )",
        "Message.Body.Text.Charset": "UTF-8",
    },
    quote_via=quote,
).encode("ascii")


def botocore_sign(
    *, url: str, body: bytes, credentials: Credentials, region: str, when: datetime
) -> tuple[dict[str, str], str]:
    botocore_auth = pytest.importorskip("botocore.auth")
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotocoreCredentials

    request = AWSRequest(method="POST", url=url, data=body, headers=dict(FORM_HEADERS))
    auth = botocore_auth.SigV4Auth(
        BotocoreCredentials(
            credentials.access_key_id, credentials.secret_access_key, credentials.session_token
        ),
        "ses",
        region,
    )
    # botocore.auth imports get_current_datetime by name and reads the clock
    # through it: a naive datetime in UTC.
    naive_utc = when.astimezone(timezone.utc).replace(tzinfo=None)
    with mock.patch.object(botocore_auth, "get_current_datetime", return_value=naive_utc):
        auth.add_auth(request)
    return dict(request.headers.items()), auth.headers_to_sign(request)["host"]


@pytest.mark.parametrize(
    "url, region",
    [
        ("https://email.us-east-1.amazonaws.com/", "us-east-1"),
        ("https://email.eu-west-1.amazonaws.com/", "eu-west-1"),
        ("https://email.ap-southeast-2.amazonaws.com", "ap-southeast-2"),
        ("https://email.us-gov-west-1.amazonaws.com:443/", "us-gov-west-1"),
        ("http://127.0.0.1:8123/", "us-east-1"),
        ("http://127.0.0.1:8123/", "eu-central-1"),
    ],
)
@pytest.mark.parametrize("session_token", [None, "FwoGZXIvYXdzEXAMPLE//token+with/slashes=="])
@pytest.mark.parametrize("body", [SEND_EMAIL, b"Action=GetSendQuota&Version=2010-12-01", b""])
@pytest.mark.parametrize(
    "when",
    [
        datetime(2015, 8, 30, 12, 36, tzinfo=timezone.utc),
        datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
        datetime(2025, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=5))),
    ],
)
def test_agrees_with_botocore(url, region, session_token, body, when):
    credentials = Credentials("AKIAIOSFODNN7EXAMPLE", SECRET, session_token)
    expected, expected_host = botocore_sign(
        url=url, body=body, credentials=credentials, region=region, when=when
    )

    signed = signing.sign(
        method="POST",
        url=url,
        headers=FORM_HEADERS,
        body=body,
        credentials=credentials,
        region=region,
        timestamp=when,
    )

    assert signed["Authorization"] == expected["Authorization"]
    assert signed["X-Amz-Date"] == expected["X-Amz-Date"]
    assert signed.get("X-Amz-Security-Token") == expected.get("X-Amz-Security-Token")
    assert signed["Host"] == expected_host
    assert {name: value for name, value in signed.items() if name != "Host"} == expected


def test_send_email_body_is_realistic():
    assert b"%C3%BC" in SEND_EMAIL  # ü, percent-encoded UTF-8
    assert SEND_EMAIL.isascii()


# -- S3: the path encoded once, x-amz-content-sha256 signed (checked against botocore) ----


@pytest.mark.parametrize("key", ["plain.eml", "a space+plus", "non-ascii é 日本/x", "~tilde/a%20b"])
@pytest.mark.parametrize("token", [None, "session-token"])
def test_s3_get_signed_as_botocore_signs_it(key, token):
    from datetime import datetime

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    from django_ses_query.signing import s3_path, sign

    url = "https://inbound-mail.s3.eu-west-1.amazonaws.com" + s3_path(key)
    request = AWSRequest(method="GET", url=url, data=b"")
    S3SigV4Auth(BotoCredentials("AKIDEXAMPLE", "secret", token), "s3", "eu-west-1").add_auth(request)
    when = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")

    class Creds:
        access_key_id, secret_access_key, session_token = "AKIDEXAMPLE", "secret", token

    ours = sign(method="GET", url=url, headers={}, body=b"", credentials=Creds(), region="eu-west-1",
                service="s3", timestamp=when)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Content-SHA256"] == request.headers["X-Amz-Content-SHA256"]
    assert "x-amz-content-sha256" in ours["Authorization"] and "host;" in ours["Authorization"]
