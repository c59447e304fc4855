"""SNS signing certificates: which URLs may be fetched, fetching, caching.

Trusts nothing in the URL it is given (it comes from the message being
verified). Checks, before any request: ``https``; the host exactly
``sns.<region>.amazonaws.com``, or ``sns.<region>.amazonaws.com.cn`` if and
only if the region starts with ``cn-`` (a region such as ``us-east-1``,
``us-gov-west-1``, ``cn-north-1``: two letters, dash-separated words, a
number); no user info, no port; the path
``/SimpleNotificationService-<hex>.pem``; no query and no fragment.
``SubscribeURL`` follows the same host rule. The answer must be a 200 (no
redirect followed), at most :data:`MAX_BYTES`, parse as an X.509 PEM
certificate, and pass ``trust`` (names, chain).

A URL whose certificate was refused is remembered for
:data:`REFUSED_SECONDS`: forged messages naming it are refused without
another request. A failure that may pass (the host or the network; see
``fetch``) is :class:`CertificateUnavailable` and is remembered for
:data:`UNAVAILABLE_SECONDS`, less than SNS waits before it retries. Only
verified certificates are cached: by URL and trust store in the process, and
in Django's default cache (as PEM text) when the project configures
``CACHES``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
import time
from urllib.parse import urlsplit

from . import fetch, trust
from ..logsafe import shown
from .sns import CertificateRefused

logger = logging.getLogger("django_ses_query")

MAX_BYTES = 16 * 1024
TIMEOUT = 10.0  # seconds, for the certificate and its issuer together
CACHE_SECONDS = 24 * 3600
REFUSED_SECONDS = 3600
UNAVAILABLE_SECONDS = 5
_PROCESS_CACHE_SIZE = 32
_REMEMBERED_SIZE = 1024

_HOST = re.compile(r"sns\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?P<china>\.cn)?\Z")
_CERT_PATH = re.compile(r"/SimpleNotificationService-[0-9a-f]+\.pem\Z")

_lock = threading.Lock()
_certificates: dict[tuple, object] = {}
#: (URL, trust store) → (monotonic time it is forgotten, the exception to
#: raise until then).
_remembered: dict[tuple, tuple[float, Exception]] = {}
#: URL → [the lock of its fetch, how many threads want it].
_fetching: dict[str, list] = {}


class CertificateUnavailable(Exception):
    """The certificate cannot be had now (its host, the network, our trust
    store): retry later (503)."""


def sns_host(url: str, what: str = "URL") -> tuple[str, bool]:
    """The host rules shared by SigningCertURL and SubscribeURL: the URL's
    region, and whether it is a China (``.cn``) host."""
    if not isinstance(url, str) or not url.isascii() or any(c.isspace() or ord(c) < 32 for c in url):
        raise CertificateRefused(f"{what} is not a plain ASCII URL")
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise CertificateRefused(f"{what} {shown(url)} is not https")
    if "@" in parts.netloc:
        raise CertificateRefused(f"{what} {shown(url)} has user info")
    if ":" in parts.netloc:
        raise CertificateRefused(f"{what} {shown(url)} has a port")
    match = _HOST.match(parts.netloc)
    if not match or bool(match["china"]) != match["region"].startswith("cn-"):
        raise CertificateRefused(f"{what} {shown(url)} is not on an SNS host (sns.<region>.amazonaws.com)")
    if "#" in url:
        raise CertificateRefused(f"{what} {shown(url)} has a fragment")
    return match["region"], bool(match["china"])


def check_sns_url(url: str, what: str = "URL") -> None:
    sns_host(url, what)


def check_certificate_url(url: str) -> None:
    """Raise :class:`CertificateRefused` unless ``url`` may be fetched."""
    sns_host(url, "SigningCertURL")
    if "?" in url:
        raise CertificateRefused(f"SigningCertURL {shown(url)} has a query")
    if not _CERT_PATH.match(urlsplit(url).path):
        raise CertificateRefused(
            f"SigningCertURL {shown(url)} is not /SimpleNotificationService-<hex>.pem"
        )


def load_pem(data: bytes):
    """A ``cryptography`` certificate, or :class:`CertificateRefused`."""
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise CertificateRefused("the signing certificate is not an X.509 PEM certificate") from None


def _fetch_and_check(url: str):
    """The certificate at ``url``, fetched and checked (names, chain)."""
    region, china = sns_host(url)
    deadline = time.monotonic() + TIMEOUT
    try:
        answer = fetch.get(url, timeout=TIMEOUT, max_bytes=MAX_BYTES)
        if fetch.transient_status(answer.status):
            raise CertificateUnavailable(f"fetching {shown(url)} answered HTTP {answer.status}")
        if answer.status != 200:
            raise CertificateRefused(f"fetching {shown(url)} answered HTTP {answer.status}")
        certificate = load_pem(answer.body)
        trust.check_certificate(certificate, region, china, timeout=max(deadline - time.monotonic(), 0.001))
    except fetch.Permanent as error:
        raise CertificateRefused(str(error)) from None
    except (fetch.Transient, trust.StoreUnavailable) as error:
        raise CertificateUnavailable(str(error)) from None
    return answer.body, certificate


def _django_cache():
    from django.conf import settings

    if not settings.is_overridden("CACHES"):
        return None
    from django.core.cache import cache

    return cache


def _cache_key(url: str, store: tuple) -> str:
    # The trust store is part of the key: a certificate verified against
    # another store is verified again.
    text = "\n".join(map(str, (url, *store)))
    return "django_ses_query:sns-verified-certificate:" + hashlib.sha256(text.encode()).hexdigest()


def _remembered_failure(key: tuple) -> Exception | None:
    with _lock:
        entry = _remembered.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del _remembered[key]
            return None
        return entry[1]


def _remember(key: tuple, error: Exception) -> None:
    seconds = UNAVAILABLE_SECONDS if isinstance(error, CertificateUnavailable) else REFUSED_SECONDS
    with _lock:
        _remembered.pop(key, None)
        if len(_remembered) >= _REMEMBERED_SIZE:
            _remembered.pop(next(iter(_remembered)))
        _remembered[key] = (time.monotonic() + seconds, error)


def _cached(url: str, store: tuple):
    with _lock:
        certificate = _certificates.get((url, store))
    if certificate is not None:
        return certificate
    cache = _django_cache()
    if cache is None:
        return None
    try:
        pem = cache.get(_cache_key(url, store))
    except Exception:
        logger.warning("Could not read the SNS certificate cache.", exc_info=True)
        return None
    if not isinstance(pem, str):
        return None
    certificate = load_pem(pem.encode("latin-1"))
    _keep(url, store, certificate, None)
    return certificate


def _keep(url: str, store: tuple, certificate, pem: bytes | None) -> None:
    with _lock:
        if len(_certificates) >= _PROCESS_CACHE_SIZE:
            _certificates.pop(next(iter(_certificates)))
        _certificates[(url, store)] = certificate
    cache = _django_cache() if pem is not None else None
    if cache is not None:
        try:
            cache.set(_cache_key(url, store), pem.decode("latin-1"), CACHE_SECONDS)
        except Exception:
            logger.warning("Could not write the SNS certificate cache.", exc_info=True)


def get_certificate(url: str):
    """The certificate at ``url``: checked, then cached or fetched and verified."""
    check_certificate_url(url)
    try:
        store = trust.store_key()
    except trust.StoreUnavailable as error:
        raise CertificateUnavailable(str(error)) from None
    certificate = _cached(url, store)
    if certificate is not None:
        return certificate
    with _one_fetch_at_a_time(url):
        failure = _remembered_failure((url, store))
        if failure is not None:
            raise type(failure)(f"{failure} (remembered)")
        certificate = _cached(url, store)
        if certificate is not None:
            return certificate
        try:
            pem, certificate = _fetch_and_check(url)
        except (CertificateRefused, CertificateUnavailable) as error:
            _remember((url, store), error)
            raise
        _keep(url, store, certificate, pem)
    return certificate


@contextlib.contextmanager
def _one_fetch_at_a_time(url: str):
    """Threads wanting the same URL wait for the one fetching it (and then
    find its outcome cached or remembered)."""
    with _lock:
        entry = _fetching.setdefault(url, [threading.Lock(), 0])
        entry[1] += 1
    try:
        with entry[0]:
            yield
    finally:
        with _lock:
            entry[1] -= 1
            if not entry[1]:
                _fetching.pop(url, None)


def clear_cache() -> None:
    """Forget the certificates, failures, issuers and trust store held in
    this process (for tests)."""
    with _lock:
        _certificates.clear()
        _remembered.clear()
    trust.clear_caches()


def verify_message(message: dict[str, str], *, min_version: int = 1) -> None:
    """Check the signature's form and version and the certificate URL (no
    request yet), then get the certificate and verify the signature."""
    from .sns import check_signature, verify

    check_signature(message, min_version)
    # SNS signs with its own region's certificate: a URL in another region
    # than the topic's is refused before anything is fetched.
    region, _ = sns_host(message["SigningCertURL"])
    topic_region = message["TopicArn"].split(":")[3:4]
    if topic_region != [region]:
        raise CertificateRefused(
            f"SigningCertURL {shown(message['SigningCertURL'])} is not in the region of "
            f"TopicArn {shown(message['TopicArn'])}"
        )
    verify(message, get_certificate(message["SigningCertURL"]))
