"""SNS signing certificates: which URLs may be fetched, fetching, caching.

Trusts nothing in the URL it is given (it comes from the message being
verified). Checks, before any request: ``https``; the host exactly
``sns.<region>.amazonaws.com`` or ``sns.<region>.amazonaws.com.cn`` (a region
label of lower-case letters, digits and dashes); no user info, no port; the
path ``/SimpleNotificationService-<hex>.pem``; no query and no fragment. The
answer must be a 200, at most :data:`MAX_BYTES`, and parse as an X.509 PEM
certificate. Redirects are not followed.

The proxies and CA bundle come from the environment (``HTTPS_PROXY``,
``NO_PROXY``, ``REQUESTS_CA_BUNDLE``...) exactly as for the SES client.
Certificates are cached by URL in the process and, when the project
configures ``CACHES``, in Django's default cache (as PEM text).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from urllib.parse import urlsplit

from .sns import CertificateRefused

logger = logging.getLogger("django_ses_query")

MAX_BYTES = 16 * 1024
TIMEOUT = 10.0  # seconds
CACHE_SECONDS = 24 * 3600
_PROCESS_CACHE_SIZE = 32

_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\Z")
_CERT_PATH = re.compile(r"/SimpleNotificationService-[0-9a-f]+\.pem\Z")

_certificates: dict[str, object] = {}
_lock = threading.Lock()


class CertificateUnavailable(Exception):
    """The certificate could not be fetched (network): retry later (500)."""


def check_sns_url(url: str, what: str = "URL") -> None:
    """The host rules shared by SigningCertURL and SubscribeURL."""
    if not isinstance(url, str) or not url.isascii() or any(c.isspace() or ord(c) < 32 for c in url):
        raise CertificateRefused(f"{what} is not a plain ASCII URL")
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise CertificateRefused(f"{what} {url!r} is not https")
    if "@" in parts.netloc:
        raise CertificateRefused(f"{what} {url!r} has user info")
    if ":" in parts.netloc:
        raise CertificateRefused(f"{what} {url!r} has a port")
    if not _HOST.match(parts.netloc):
        raise CertificateRefused(f"{what} {url!r} is not on an SNS host (sns.<region>.amazonaws.com)")
    if "#" in url:
        raise CertificateRefused(f"{what} {url!r} has a fragment")


def check_certificate_url(url: str) -> None:
    """Raise :class:`CertificateRefused` unless ``url`` may be fetched."""
    check_sns_url(url, "SigningCertURL")
    parts = urlsplit(url)
    if "?" in url:
        raise CertificateRefused(f"SigningCertURL {url!r} has a query")
    if not _CERT_PATH.match(parts.path):
        raise CertificateRefused(
            f"SigningCertURL {url!r} is not /SimpleNotificationService-<hex>.pem"
        )


def new_session():
    """A requests session with the environment's proxies and CA bundle."""
    import requests

    from ..transport.endpoint import USER_AGENT, environment_settings

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    # Read once, for an SNS host, as the SES client does (and no ~/.netrc).
    session.proxies, session.verify = environment_settings("https://sns.us-east-1.amazonaws.com/")
    session.trust_env = False
    return session


def load_pem(data: bytes):
    """A ``cryptography`` certificate, or :class:`CertificateRefused`."""
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise CertificateRefused("the signing certificate is not an X.509 PEM certificate") from None


def fetch(url: str) -> bytes:
    """The PEM at ``url`` (already checked), or an exception."""
    import requests

    session = new_session()
    try:
        with session.get(url, timeout=TIMEOUT, allow_redirects=False, stream=True) as response:
            if response.status_code != 200:
                raise CertificateRefused(f"fetching {url} answered HTTP {response.status_code}")
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > MAX_BYTES:
                raise CertificateRefused(f"the certificate at {url} is larger than {MAX_BYTES} bytes")
            data = b""
            for chunk in response.iter_content(4096):
                data += chunk
                if len(data) > MAX_BYTES:
                    raise CertificateRefused(f"the certificate at {url} is larger than {MAX_BYTES} bytes")
            return data
    except requests.RequestException as error:
        raise CertificateUnavailable(f"could not fetch {url}: {error}") from None
    finally:
        session.close()


def _django_cache():
    from django.conf import settings

    if not settings.is_overridden("CACHES"):
        return None
    from django.core.cache import cache

    return cache


def _cache_key(url: str) -> str:
    return "django_ses_query:sns-certificate:" + hashlib.sha256(url.encode()).hexdigest()


def get_certificate(url: str):
    """The certificate at ``url``: checked, then cached or fetched."""
    check_certificate_url(url)
    with _lock:
        certificate = _certificates.get(url)
    if certificate is not None:
        return certificate
    cache = _django_cache()
    pem = None
    if cache is not None:
        try:
            pem = cache.get(_cache_key(url))
        except Exception:
            logger.warning("Could not read the SNS certificate cache.", exc_info=True)
    if isinstance(pem, str):
        certificate = load_pem(pem.encode("latin-1"))
    else:
        data = fetch(url)
        certificate = load_pem(data)
        if cache is not None:
            try:
                cache.set(_cache_key(url), data.decode("latin-1"), CACHE_SECONDS)
            except Exception:
                logger.warning("Could not write the SNS certificate cache.", exc_info=True)
    with _lock:
        if len(_certificates) >= _PROCESS_CACHE_SIZE:
            _certificates.pop(next(iter(_certificates)))
        _certificates[url] = certificate
    return certificate


def clear_cache() -> None:
    """Forget the certificates held in this process (for tests)."""
    with _lock:
        _certificates.clear()


def verify_message(message: dict[str, str]) -> None:
    """Check the certificate URL, get the certificate, verify the signature."""
    from .sns import verify

    verify(message, get_certificate(message["SigningCertURL"]))
