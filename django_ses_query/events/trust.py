"""Whether a signing certificate is SNS's: its names, and its chain to a
root of the trust store ``requests`` uses for the fetch.

Trusts the trust store (the file or directory named by
``REQUESTS_CA_BUNDLE``, else ``CURL_CA_BUNDLE``, else certifi's bundle: read
when the check runs, kept while its modification time and size stay the same).
Trusts nothing in the certificate. Checks:

* its subjectAltName holds, exactly (no wildcard, no suffix match), a name
  SNS signs with for the region of the URL it came from:
  ``sns.amazonaws.com``; ``sns.amazonaws.com.cn`` and
  ``sns-<region>.amazonaws.com.cn`` for a ``.cn`` host; otherwise
  ``sns-signing.<region>.amazonaws.com``, and
  ``sns-us-gov-west-1.amazonaws.com`` in the ``us-gov`` regions (the names
  the AWS SDK for Java's SNS message manager accepts);
* it chains to a root of the store, checked with ``cryptography``'s
  ``x509.verification`` (web PKI rules) as of now, or as of the last moment
  an expired certificate was valid: SNS keeps signing with an expired
  certificate, so expiry is not what is checked. SNS serves the certificate
  alone; its issuer, when not a root itself, comes from the certificate's
  Authority Information Access "CA Issuers" URL (``amazontrust.com`` hosts
  only, http or https, DER or PEM, at most :data:`MAX_ISSUER_BYTES`), is
  cached by URL, and is only ever path material, never trusted itself.

A certificate refused is :class:`~.sns.CertificateRefused`; an issuer that
cannot be fetched now is :class:`~.fetch.Transient`.
"""

from __future__ import annotations

import datetime
import os
import re
import threading
import warnings
from urllib.parse import urlsplit

from . import fetch
from ..logsafe import shown
from .sns import CertificateRefused

MAX_ISSUER_BYTES = 16 * 1024
_ISSUERS_CACHE_SIZE = 32

_ISSUER_HOST = re.compile(r"([a-z0-9-]+\.)*amazontrust\.com\Z")
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)

_lock = threading.Lock()
_stores: dict[tuple, tuple] = {}
_issuers: dict[str, object] = {}


class StoreUnavailable(Exception):
    """The trust store cannot be read: a problem of ours, not the message's."""


def store_path() -> str:
    """Where ``requests`` takes its trust store from for the fetch."""
    path = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if path:
        return path
    from requests.certs import where

    return where()


def store_key() -> tuple:
    """The store's path, modification time and size: what its cache is keyed by."""
    path = store_path()
    try:
        status = os.stat(path)
        return path, status.st_mtime_ns, status.st_size
    except OSError as error:
        raise StoreUnavailable(f"the CA bundle {shown(path)} cannot be read ({error.strerror})") from None


def _load_store(key: tuple):
    from cryptography import x509
    from cryptography.x509.verification import Store

    path = key[0]
    if os.path.isdir(path):
        files = [os.path.join(path, name) for name in sorted(os.listdir(path))]
    else:
        files = [path]
    roots = []
    for name in files:
        try:
            with open(name, "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        for block in _PEM.findall(data):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # A root with an old-style serial is still a root.
                try:
                    roots.append(x509.load_pem_x509_certificate(block))
                except ValueError:
                    continue
    if not roots:
        raise StoreUnavailable(f"the CA bundle {shown(path)} holds no certificate")
    return Store(roots), {root.subject for root in roots}


def trust_store(key: tuple | None = None):
    """``(Store, subjects of its roots)`` for the current trust store."""
    key = key or store_key()
    with _lock:
        cached = _stores.get(key)
    if cached is None:
        cached = _load_store(key)
        with _lock:
            _stores.clear()  # Only the current one is kept.
            _stores[key] = cached
    return cached


def accepted_names(region: str, china: bool) -> frozenset[str]:
    """The names a signing certificate for ``region`` may carry."""
    names = {"sns.amazonaws.com"}
    if china:
        names |= {"sns.amazonaws.com.cn", f"sns-{region}.amazonaws.com.cn"}
    else:
        names.add(f"sns-signing.{region}.amazonaws.com")
        if region.startswith("us-gov-"):
            names.add("sns-us-gov-west-1.amazonaws.com")
    return frozenset(names)


def _extension(certificate, kind):
    """The certificate's extension of this class, or None; a certificate
    whose extensions cannot be read is refused."""
    from cryptography import x509

    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as error:
        raise CertificateRefused(
            f"the signing certificate's extensions cannot be read ({shown(str(error))})"
        ) from None


def _name_in_certificate(certificate, accepted: frozenset[str]) -> str:
    from cryptography import x509

    san = _extension(certificate, x509.SubjectAlternativeName)
    if san is None:
        raise CertificateRefused("the signing certificate has no subjectAltName")
    names = san.get_values_for_type(x509.DNSName)
    for name in names:
        if name in accepted:
            return name
    raise CertificateRefused(
        f"the signing certificate is for {shown(names)}, none of {sorted(accepted)}"
    )


def check_certificate(certificate, region: str, china: bool, *, timeout: float) -> None:
    """Raise unless ``certificate`` is an SNS signing certificate for
    ``region`` chaining to a root of the trust store (the issuer's fetch,
    if needed, gets ``timeout`` seconds)."""
    from cryptography import x509
    from cryptography.x509.verification import PolicyBuilder, VerificationError

    name = _name_in_certificate(certificate, accepted_names(region, china))
    store, root_subjects = trust_store()
    intermediates = []
    if certificate.issuer not in root_subjects:
        intermediates.append(issuer_of(certificate, timeout=timeout))
    moment = min(datetime.datetime.now(datetime.timezone.utc), certificate.not_valid_after_utc)
    verifier = PolicyBuilder().store(store).time(moment).build_server_verifier(x509.DNSName(name))
    try:
        verifier.verify(certificate, intermediates)
    except VerificationError as error:
        raise CertificateRefused(
            f"the signing certificate does not chain to a root of {shown(store_path())} ({error})"
        ) from None


def issuer_url(certificate) -> str:
    """The certificate's "CA Issuers" URL, if it is one that may be fetched."""
    from cryptography import x509
    from cryptography.x509.oid import AuthorityInformationAccessOID

    access = _extension(certificate, x509.AuthorityInformationAccess) or []
    urls = [
        d.access_location.value for d in access
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]
    if not urls:
        raise CertificateRefused(
            f"the issuer of the signing certificate ({shown(certificate.issuer.rfc4514_string())}) is not a "
            "root and the certificate names no CA Issuers URL"
        )
    for url in urls:
        parts = urlsplit(url)
        if (
            url.isascii() and parts.scheme in ("http", "https") and parts.hostname
            and _ISSUER_HOST.match(parts.netloc) and not parts.fragment
        ):
            return url
    raise CertificateRefused(f"the signing certificate's CA Issuers URL {shown(urls[0])} is not on amazontrust.com")


def issuer_of(certificate, *, timeout: float):
    """The certificate's issuer, fetched from its CA Issuers URL (cached)."""
    url = issuer_url(certificate)
    with _lock:
        issuer = _issuers.get(url)
    if issuer is not None:
        return issuer
    try:
        answer = fetch.get(url, timeout=timeout, max_bytes=MAX_ISSUER_BYTES)
    except fetch.Permanent as error:
        raise CertificateRefused(f"the issuer certificate: {error}") from None
    if fetch.transient_status(answer.status):
        raise fetch.Transient(f"fetching the issuer certificate {shown(url)} answered HTTP {answer.status}")
    if answer.status != 200:
        raise CertificateRefused(f"fetching the issuer certificate {shown(url)} answered HTTP {answer.status}")
    issuer = _load_any(answer.body)
    if issuer is None:
        raise CertificateRefused(f"the issuer certificate at {shown(url)} is neither DER nor PEM")
    with _lock:
        if len(_issuers) >= _ISSUERS_CACHE_SIZE:
            _issuers.pop(next(iter(_issuers)))
        _issuers[url] = issuer
    return issuer


def _load_any(data: bytes):
    from cryptography import x509

    for load in (x509.load_der_x509_certificate, x509.load_pem_x509_certificate):
        try:
            return load(data)
        except ValueError:
            continue
    return None


def clear_caches() -> None:
    """Forget the trust store and the issuers held in this process."""
    with _lock:
        _stores.clear()
        _issuers.clear()
