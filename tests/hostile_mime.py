"""Received messages built to hurt a MIME parser, each with what must still
come out of it. ``python -m tests.hostile_mime`` parses every case and
prints the results as JSON (the suite runs it in a child process)."""

from __future__ import annotations

import json
import sys
import time


def nested_multipart(depth: int) -> bytes:
    head, tail = b"", b""
    for level in range(depth):
        head += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level)
        tail = b"\r\n--b%d--\r\n" % level + tail
    return b"From: deep@example.net\r\nSubject: deep\r\n" + head + b"Content-Type: text/plain\r\n\r\ninner" + tail


def nested_messages(depth: int) -> bytes:
    return b"From: rfc822@example.net\r\nSubject: attached\r\n" + (
        b"Content-Type: message/rfc822\r\n\r\n" * depth
    ) + b"Subject: inner\r\n\r\nbody"


def many_parts(count: int) -> bytes:
    parts = b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(count))
    return b"From: parts@example.net\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n" + parts + b"--p--\r\n"


def nested_comments(count: int) -> bytes:
    return (b"From: comments@example.net\r\nTo: " + b"(" * count + b"x" + b")" * count
            + b" victim@example.net\r\nSubject: comments\r\n\r\nbody")


def encoded_words(count: int) -> bytes:
    return (b"From: words@example.net\r\nSubject: " + b" ".join([b"=?utf-8?q?a?="] * count)
            + b"\r\n\r\nbody")


UNKNOWN_CHARSET = (
    b"From: charset@example.net\r\nSubject: =?x-unknown?q?caf=E9?=\r\n"
    b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\ncaf\xc3\xa9"
)
BROKEN_BASE64 = (
    b"From: b64@example.net\r\nSubject: b64\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29y!!bGQ"
)
BROKEN_QP = (
    b"From: qp@example.net\r\nSubject: qp\r\nContent-Type: text/html; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>caf=E9 =ZZ</p>"
)
CONTENT_TYPE_COMMENTS = (
    b"From: ct@example.net\r\nSubject: content type\r\nContent-Type: multipart/mixed; "
    + b"(" * 5000 + b")" * 5000 + b" boundary=x\r\n\r\n--x\r\n\r\nhi\r\n--x--\r\n"
)
NOT_A_TEXT_CODEC = b"From: codec@example.net\r\nSubject: zlib\r\nContent-Type: text/plain; charset=zlib\r\n\r\nhello"

#: name → (raw message, what the parse must give).
CASES = {
    "multipart 1,000 deep": (nested_multipart(1000), {"subject": "deep", "problem": "nests more than 100"}),
    "multipart 100 deep": (nested_multipart(100), {"subject": "deep", "text_body": "inner"}),
    "message/rfc822 1,000 deep": (nested_messages(1000), {"subject": "attached", "problem": "nests more than 100"}),
    "5,000 parts": (many_parts(5000), {"subject": "parts", "problem": "more than 1000 parts"}),
    "5,000 nested comments in To": (nested_comments(5000), {"subject": "comments", "problem": "To header"}),
    "10,000 encoded-words": (encoded_words(10_000), {"subject": "a" * 10_000, "problem": "Subject header"}),
    "unknown charset": (UNKNOWN_CHARSET, {"text_body": "café", "problem": "x-no-such-charset"}),
    "broken base64": (BROKEN_BASE64, {"text_body": "hello world", "problem": "broken base64"}),
    "broken quoted-printable": (BROKEN_QP, {"html_body": "<p>café =ZZ</p>", "problem": "quoted-printable"}),
    "5,000 nested comments in Content-Type": (
        CONTENT_TYPE_COMMENTS, {"subject": "content type", "from_email": "ct@example.net",
                                "problem": "only the top-level headers"}),
    "not a text codec": (NOT_A_TEXT_CODEC, {"text_body": "hello", "problem": "zlib"}),
}


def main() -> None:
    from django_ses_query.inbound.parse import parse_message

    results = {}
    for name, (raw, _) in CASES.items():
        started = time.monotonic()
        parsed = parse_message(raw)
        results[name] = {
            "seconds": time.monotonic() - started,
            "subject": parsed.subject, "text_body": parsed.text_body, "html_body": parsed.html_body,
            "from_email": parsed.from_email, "problems": parsed.problems,
        }
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
