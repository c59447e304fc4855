"""Django's own ``SharedEmailBackendTests``, run against this backend.

The test case lives in Django's source distribution
(``tests/mail/test_backends.py``, Django 6.1 and later), not in the wheel.
This module finds the ``tests/`` directory of an unpacked sdist of the
*installed* Django version:

* ``$DJANGO_TESTS_DIR`` when set (an error if it is not that version's);
* else the cache that ``tests/fetch_django_tests.py`` fills
  (``$DJANGO_TESTS_CACHE`` or ``.django-src``, then ``django-<version>/tests``).
  When that is missing the shared tests are skipped, saying how to fetch
  them, except under CI (``$CI`` set), where that is an error.

Django's ``mail`` test package is imported under a name of its own
(``_django_upstream_mail_tests``) straight from its directory: nothing is
added to ``sys.path``, so it cannot clash with this repository's ``tests``
package or with anything else called ``mail``.

The backend sends to a local recording SES endpoint (tests/fakeses.py). The
"mailbox" is what that endpoint received, as ``email.message.EmailMessage``
objects (``policy=email.policy.default``): SendRawEmail's ``RawMessage.Data``
decoded and parsed, and SendEmail's parameters turned back into the message
SES builds from them (Subject, From = Source, To, Cc, Reply-To, the text
and/or HTML body; Bcc is never a header).
"""

from __future__ import annotations

import base64
import email.errors
import email.policy
import importlib
import importlib.util
import io
import os
import sys
import tarfile
import unittest
from contextlib import contextmanager
from email.message import EmailMessage as PyEmailMessage
from email.policy import default as default_policy
from pathlib import Path
from unittest import mock

import django
import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.test import TestCase

from django_ses_query.backend import EmailBackend
from django_ses_query.exceptions import SESMessageRejectedError
from tests import fetch_django_tests
from tests.fakeses import FakeSES, error

#: Shared tests this backend cannot pass, with the reason. Each must name a
#: test of SharedEmailBackendTests (test_skips_and_overrides_name_shared_tests).
SKIPS: dict[str, str] = {}

#: Shared tests replaced below, and why (each must name a shared test too).
OVERRIDES: dict[str, str] = {
    "test_fail_silently_arg_accepted": (
        "this backend keeps supporting fail_silently, as Django's SMTP, console "
        "and file backends do; upstream asks such backends to override this test"
    ),
}

UPSTREAM_PACKAGE = "_django_upstream_mail_tests"


# -- finding and importing Django's tests ------------------------------------


def find_tests_dir() -> tuple[Path | None, str]:
    """``(tests_dir, "")``, or ``(None, why not)``; fails on a bad ``DJANGO_TESTS_DIR``."""
    version = django.__version__
    if django.VERSION[:2] < fetch_django_tests.FIRST_VERSION_WITH_SHARED_TESTS:
        return None, f"SharedEmailBackendTests is new in Django 6.1 (installed: {version})"
    configured = os.environ.get("DJANGO_TESTS_DIR")
    if configured:
        tests_dir = Path(configured).expanduser().resolve()
        if not fetch_django_tests.is_usable(tests_dir):
            pytest.fail(
                f"DJANGO_TESTS_DIR={configured!r} is not the tests/ directory of a Django "
                "source tree (it has no mail/test_backends.py).",
                pytrace=False,
            )
        found = fetch_django_tests.sdist_version(tests_dir)
        if found is not None and found != version:
            pytest.fail(
                f"DJANGO_TESTS_DIR={configured!r} holds Django {found}'s tests, but "
                f"Django {version} is installed.",
                pytrace=False,
            )
        return tests_dir, ""
    tests_dir = fetch_django_tests.cached_tests_dir(version)
    if fetch_django_tests.is_usable(tests_dir) and (
        fetch_django_tests.sdist_version(tests_dir) == version
    ):
        return tests_dir, ""
    reason = (
        f"Django {version}'s own tests are not in {fetch_django_tests.CACHE_DIR}: run "
        "`python tests/fetch_django_tests.py`, or set DJANGO_TESTS_DIR to the tests/ "
        "directory of its unpacked sdist"
    )
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    return None, reason


@contextmanager
def _header_write_error_for_old_pythons():
    """test_backends.py imports ``email.errors.HeaderWriteError``, which is in
    Python 3.13 and in the 3.12 security releases (3.12.5+) only. Django 6.1
    runs on any 3.12 and only the SMTP backend's tests use that name, so on
    a Python without it a stand-in is there while the module is imported,
    and removed afterwards."""
    if hasattr(email.errors, "HeaderWriteError"):
        yield
        return
    stand_in = type("HeaderWriteError", (email.errors.MessageError,), {})
    with mock.patch.object(email.errors, "HeaderWriteError", stand_in, create=True):
        yield


def import_upstream(tests_dir: Path):
    """Import Django's ``tests/mail`` package as ``_django_upstream_mail_tests``;
    return its ``test_backends`` module."""
    if UPSTREAM_PACKAGE not in sys.modules:
        package_dir = tests_dir / "mail"
        spec = importlib.util.spec_from_file_location(
            UPSTREAM_PACKAGE,
            package_dir / "__init__.py",
            submodule_search_locations=[str(package_dir)],
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules[UPSTREAM_PACKAGE] = package
        try:
            spec.loader.exec_module(package)
        except BaseException:
            del sys.modules[UPSTREAM_PACKAGE]
            raise
    with _header_write_error_for_old_pythons():
        return importlib.import_module(f"{UPSTREAM_PACKAGE}.test_backends")


TESTS_DIR, NOT_RUN_REASON = find_tests_dir()
upstream = import_upstream(TESTS_DIR) if TESTS_DIR is not None else None


# -- the mailbox: what the SES endpoint received -----------------------------


def message_from_bytes(data: bytes) -> PyEmailMessage:
    if upstream is not None:  # Django's, with its CPython workarounds.
        return upstream.message_from_bytes(data)
    return email.message_from_bytes(data, policy=default_policy)


def _members(params: dict[str, str], prefix: str) -> list[str]:
    values, n = [], 1
    while f"{prefix}.member.{n}" in params:
        values.append(params[f"{prefix}.member.{n}"])
        n += 1
    return values


def message_from_send_email(params: dict[str, str]) -> PyEmailMessage:
    """The message SES builds from SendEmail parameters."""
    message = PyEmailMessage(policy=default_policy)
    message["Subject"] = params.get("Message.Subject.Data", "")
    message["From"] = params["Source"]
    for header, prefix in (
        ("To", "Destination.ToAddresses"),
        ("Cc", "Destination.CcAddresses"),
        ("Reply-To", "ReplyToAddresses"),
    ):
        addresses = _members(params, prefix)
        if addresses:
            message[header] = ", ".join(addresses)
    text = params.get("Message.Body.Text.Data")
    html = params.get("Message.Body.Html.Data")
    if html is not None and text is not None:
        message.set_content(text)
        message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    else:
        message.set_content(text or "")
    # Serialised and parsed again, as a mailbox would hold it.
    return message_from_bytes(message.as_bytes())


def received_message(params: dict[str, str]) -> PyEmailMessage:
    if params["Action"] != "SendRawEmail":
        return message_from_send_email(params)
    data = base64.b64decode(params["RawMessage.Data"])
    # CRLF to LF, as Django's own SMTP test server does "to simplify content
    # checks in shared test cases" (SES takes, and gets, CRLF).
    message = message_from_bytes(data.replace(b"\r\n", b"\n"))
    # Like that server's MAIL FROM check: the envelope sender is the From.
    [source] = email.policy.default.header_factory("From", params["Source"]).addresses
    sender = message["From"].addresses[0].addr_spec
    assert sender == source.addr_spec, (params["Source"], message["From"])
    return message


# -- the shared tests --------------------------------------------------------


class MailboxMixin:
    """A FakeSES per class; a backend pointed at it; its mailbox."""

    databases = {"default", "sendlog"}  # The backend writes its send log.

    @classmethod
    def setUpClass(cls):
        cls.ses = FakeSES().start()
        cls.addClassCleanup(cls.ses.stop)
        super().setUpClass()

    def setUp(self):
        super().setUp()
        self.ses.reset()

    def backend_options(self) -> dict:
        return {
            "endpoint_url": self.ses.endpoint_url,
            "access_key_id": "AKIDEXAMPLE",
            "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "region": "us-east-1",
            "max_retries": 0,
            # One request at a time, so the endpoint receives messages in the
            # order given (test_send_many checks the order).
            "max_concurrency": 1,
        }

    def get_mailbox_content(self):
        return [received_message(request.params) for request in self.ses.sent]

    def flush_mailbox(self):
        self.ses.reset()


if upstream is not None:

    class SESQuerySharedEmailBackendTests(
        MailboxMixin, upstream.SharedEmailBackendTests, TestCase
    ):
        backend_class = EmailBackend

        def create_backend(self, *, alias="test_alias", **kwargs):
            return super().create_backend(alias=alias, **{**self.backend_options(), **kwargs})

        def test_fail_silently_arg_accepted(self):
            # See OVERRIDES. Accepted with or without an alias, no warning
            # (warnings are errors here), and honoured.
            for alias in ("test_alias", None):
                for value in (True, False):
                    with self.subTest(alias=alias, fail_silently=value):
                        backend = self.create_backend(alias=alias, fail_silently=value)
                        self.assertIs(backend.fail_silently, value)
                        self.ses.enqueue(error("MessageRejected"))
                        message = EmailMessage(
                            "Subject", "Content\n", "from@example.com", ["to@example.com"]
                        )
                        if value:
                            self.assertEqual(backend.send_messages([message]), 0)
                        else:
                            with self.assertRaises(SESMessageRejectedError):
                                backend.send_messages([message])
                        self.assertEqual(self.get_mailbox_content(), [])

    for _name, _reason in SKIPS.items():
        setattr(
            SESQuerySharedEmailBackendTests,
            _name,
            unittest.skip(_reason)(getattr(upstream.SharedEmailBackendTests, _name)),
        )

    def test_skips_and_overrides_name_shared_tests():
        shared = {n for n in dir(upstream.SharedEmailBackendTests) if n.startswith("test_")}
        assert set(SKIPS) <= shared, sorted(set(SKIPS) - shared)
        assert set(OVERRIDES) <= shared, sorted(set(OVERRIDES) - shared)
        assert not set(SKIPS) & set(OVERRIDES)
        assert all(reason.strip() for reason in [*SKIPS.values(), *OVERRIDES.values()])
        for name in OVERRIDES:
            assert name in vars(SESQuerySharedEmailBackendTests), f"{name} is not overridden"

else:

    @pytest.mark.skip(reason=NOT_RUN_REASON)
    def test_shared_email_backend_tests():
        """Stands for Django's SharedEmailBackendTests where they cannot run."""


# -- the mailbox is faithful -------------------------------------------------


class MailboxTests(MailboxMixin, TestCase):
    """The same message read back from SendEmail and from SendRawEmail."""

    def send(self, message) -> tuple[str, PyEmailMessage]:
        self.ses.reset()
        self.assertEqual(EmailBackend(**self.backend_options()).send_messages([message]), 1)
        [request] = self.ses.sent
        [received] = self.get_mailbox_content()
        return request.params["Action"], received

    def test_send_email_and_raw_read_back_alike(self):
        def build(**headers):
            message = EmailMultiAlternatives(
                "Chère maman", "Je t'aime très fort\n", "Zoë <from@example.com>",
                ["to@example.com", "Ünï <two@bücher.example>"], cc=["cc@example.com"],
                bcc=["bcc@example.com"], reply_to=["reply@example.com"], headers=headers,
            )
            message.attach_alternative("<p>Je t'aime très fort</p>", "text/html")
            return message

        action, via_send_email = self.send(build())
        self.assertEqual(action, "SendEmail")
        action, via_raw = self.send(build(**{"X-Custom": "forces SendRawEmail"}))
        self.assertEqual(action, "SendRawEmail")

        for action, received in (("SendEmail", via_send_email), ("SendRawEmail", via_raw)):
            with self.subTest(action=action):
                self.assertEqual(received["Subject"], "Chère maman")
                self.assertEqual(received["From"].addresses[0].display_name, "Zoë")
                self.assertEqual(received["From"].addresses[0].addr_spec, "from@example.com")
                self.assertEqual(
                    [a.addr_spec for a in received["To"].addresses],
                    ["to@example.com", "two@xn--bcher-kva.example"],
                )
                self.assertEqual(received["To"].addresses[1].display_name, "Ünï")
                self.assertEqual(received["Cc"], "cc@example.com")
                self.assertEqual(received["Reply-To"], "reply@example.com")
                self.assertNotIn("Bcc", received)
                self.assertEqual(
                    received.get_body(("plain",)).get_content(), "Je t'aime très fort\n"
                )
                self.assertEqual(
                    received.get_body(("html",)).get_content().rstrip("\n"),
                    "<p>Je t'aime très fort</p>",
                )
        self.assertEqual(via_raw["X-Custom"], "forces SendRawEmail")

    def test_html_only_and_empty_bodies(self):
        html = EmailMessage("Subject", "<b>bold</b>", "from@example.com", ["to@example.com"])
        html.content_subtype = "html"
        action, received = self.send(html)
        self.assertEqual(action, "SendEmail")
        self.assertEqual(received.get_content_type(), "text/html")
        self.assertEqual(received.get_content().rstrip("\n"), "<b>bold</b>")

        action, received = self.send(EmailMessage(to=["to@example.com"]))
        self.assertEqual(action, "SendEmail")
        self.assertEqual(received.get_content_type(), "text/plain")
        self.assertEqual(received.get_content().strip(), "")


# -- tests/fetch_django_tests.py ---------------------------------------------


def make_sdist(path: Path, version: str, extra: dict[str, bytes] | None = None) -> Path:
    files = {
        f"django-{version}/PKG-INFO": (
            f"Metadata-Version: 2.4\nName: Django\nVersion: {version}\n\n".encode()
        ),
        f"django-{version}/tests/mail/__init__.py": b"",
        f"django-{version}/tests/mail/test_backends.py": b"# shared tests\n",
        f"django-{version}/django/__init__.py": b"VERSION = ()\n",
        **(extra or {}),
    }
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo(f"django-{version}/tests/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    return path


def test_fetch_unpacks_only_the_tests_of_that_version(tmp_path):
    sdist = make_sdist(
        tmp_path / "django-6.1.3.tar.gz", "6.1.3",
        extra={"django-6.1.3/tests/../../escaped.txt": b"no"},
    )
    cache = tmp_path / "cache"

    tests_dir = fetch_django_tests.fetch("6.1.3", cache, sdist)

    assert tests_dir == cache / "django-6.1.3" / "tests"
    assert fetch_django_tests.is_usable(tests_dir)
    assert fetch_django_tests.sdist_version(tests_dir) == "6.1.3"
    assert not (cache / "django-6.1.3" / "django").exists()
    assert not (tests_dir / "link").exists()
    assert not list(tmp_path.rglob("escaped.txt"))
    assert sorted(p.name for p in cache.iterdir()) == ["django-6.1.3"]  # No staging left.
    # Already there: nothing to do, not even the sdist.
    assert fetch_django_tests.fetch("6.1.3", cache, tmp_path / "missing.tar.gz") == tests_dir


def test_fetch_refuses_an_sdist_of_another_version(tmp_path):
    sdist = make_sdist(tmp_path / "django-6.1.2.tar.gz", "6.1.2")

    with pytest.raises(SystemExit, match="Django 6.1.2, not 6.1.3"):
        fetch_django_tests.fetch("6.1.3", tmp_path / "cache", sdist)

    assert not (tmp_path / "cache" / "django-6.1.3").exists()


def test_fetch_main_prints_the_tests_dir(tmp_path, capsys):
    sdist = make_sdist(tmp_path / "django-6.1.3.tar.gz", "6.1.3")

    assert fetch_django_tests.main(
        ["--version", "6.1.3", "--dest", str(tmp_path), "--sdist", str(sdist)]
    ) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'django-6.1.3' / 'tests'}\n"

    assert fetch_django_tests.main(["--version", "5.2.19", "--dest", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "text, expected",
    [("6.1.3", (6, 1, 3)), ("6.1rc1", (6, 1)), ("6.1.dev20260101", (6, 1)), ("5.2", (5, 2))],
)
def test_version_tuple(text, expected):
    assert fetch_django_tests.version_tuple(text) == expected
