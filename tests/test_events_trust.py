"""Whether a signing certificate is SNS's (events/trust.py): the names
accepted per region, the real AWS chain of the golden certificate, the trust
store and the issuer URL rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from django_ses_query.events import certificates, trust
from django_ses_query.events.sns import CertificateRefused
from tests import snskeys

GOLDEN = Path(__file__).resolve().parent / "sns_golden"
GOLDEN_CERT = x509.load_pem_x509_certificate(
    (GOLDEN / "SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem").read_bytes()
)
SCA1B_PEM = (GOLDEN / "amazon-server-ca-1b.pem").read_bytes()
SCA1B_URL = "http://crt.sca1b.amazontrust.com/sca1b.crt"


@pytest.mark.parametrize(
    "region, china, names",
    [
        ("us-east-1", False, {"sns.amazonaws.com", "sns-signing.us-east-1.amazonaws.com"}),
        ("af-south-1", False, {"sns.amazonaws.com", "sns-signing.af-south-1.amazonaws.com"}),
        ("us-gov-east-1", False, {"sns.amazonaws.com", "sns-signing.us-gov-east-1.amazonaws.com",
                                  "sns-us-gov-west-1.amazonaws.com"}),
        ("cn-north-1", True, {"sns.amazonaws.com", "sns.amazonaws.com.cn", "sns-cn-north-1.amazonaws.com.cn"}),
    ],
)
def test_accepted_names(region, china, names):
    assert trust.accepted_names(region, china) == names


@pytest.mark.parametrize(
    "url, region, names, accepted",
    [
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-0a.pem", "cn-north-1",
         ("sns-cn-north-1.amazonaws.com.cn",), True),
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-0a.pem", "cn-north-1",
         ("sns-cn-northwest-1.amazonaws.com.cn",), False),
        ("https://sns.us-gov-east-1.amazonaws.com/SimpleNotificationService-0a.pem", "us-gov-east-1",
         ("sns-us-gov-west-1.amazonaws.com",), True),
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem", "us-east-1",
         ("sns-us-gov-west-1.amazonaws.com",), False),
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem", "us-east-1",
         ("SNS.amazonaws.com",), False),
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem", "us-east-1",
         ("sns.amazonaws.com.",), False),
    ],
)
def test_names_follow_the_region_of_the_url(sns_adapter, url, region, names, accepted):
    sns_adapter.routes[url] = (200, snskeys.issue(snskeys.KEY, *names))
    if accepted:
        certificates.get_certificate(url)
    else:
        with pytest.raises(CertificateRefused, match="none of"):
            certificates.get_certificate(url)


def test_a_certificate_with_no_subject_alt_name_is_refused(sns_adapter):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")]))
        .issuer_name(snskeys.CA.subject).public_key(snskeys.KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(snskeys.now() - snskeys.DAY).not_valid_after(snskeys.now() + snskeys.DAY)
    )
    pem = builder.sign(snskeys.CA_KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    sns_adapter.routes[snskeys.CERT_URL] = (200, pem)
    with pytest.raises(CertificateRefused, match="subjectAltName"):
        certificates.get_certificate(snskeys.CERT_URL)


def test_a_certificate_whose_extensions_cannot_be_read_is_refused(sns_adapter):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtensionOID, NameOID

    truncated_san = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x03\x82\x01")
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")]))
        .issuer_name(snskeys.CA.subject).public_key(snskeys.KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(snskeys.now() - snskeys.DAY).not_valid_after(snskeys.now() + snskeys.DAY)
        .add_extension(truncated_san, critical=False)
    )
    pem = builder.sign(snskeys.CA_KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    sns_adapter.routes[snskeys.CERT_URL] = (200, pem)
    with pytest.raises(CertificateRefused, match="cannot be read"):
        certificates.get_certificate(snskeys.CERT_URL)


# -- The real chain of the golden certificate ---------------------------------------------------------


@pytest.fixture
def certifi_store(monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    trust.clear_caches()
    yield
    trust.clear_caches()


def test_the_golden_certificate_chains_to_amazon_root_ca_1(sns_adapter, certifi_store):
    """As of its last valid moment (2022-08-17), through Amazon Server CA 1B
    fetched from its CA Issuers URL, to the root in certifi's bundle."""
    import certifi

    assert trust.store_path() == certifi.where()
    sns_adapter.routes[SCA1B_URL] = (200, SCA1B_PEM)
    assert trust.issuer_url(GOLDEN_CERT) == SCA1B_URL
    trust.check_certificate(GOLDEN_CERT, "us-east-1", False, timeout=5)
    assert [r.url for r in sns_adapter.requests] == [SCA1B_URL]


def test_a_wrong_copy_of_the_intermediate_does_not_chain(sns_adapter, certifi_store):
    """So the intermediate in tests/sns_golden is checked, not trusted."""
    intermediate = x509.load_pem_x509_certificate(SCA1B_PEM)
    from cryptography.hazmat.primitives import serialization

    der = bytearray(intermediate.public_bytes(serialization.Encoding.DER))
    der[-20] ^= 0x01  # One bit of the root's signature.
    sns_adapter.routes[SCA1B_URL] = (200, bytes(der))
    with pytest.raises(CertificateRefused, match="does not chain"):
        trust.check_certificate(GOLDEN_CERT, "us-east-1", False, timeout=5)


def test_the_golden_certificate_is_refused_by_another_store(sns_adapter):
    """REQUESTS_CA_BUNDLE holds the test CA only (sns_adapter): no Amazon root."""
    sns_adapter.routes[SCA1B_URL] = (200, SCA1B_PEM)
    with pytest.raises(CertificateRefused, match="does not chain"):
        trust.check_certificate(GOLDEN_CERT, "us-east-1", False, timeout=5)


# -- The trust store ----------------------------------------------------------------------------------


def test_a_store_directory_is_read(sns_adapter, monkeypatch, tmp_path):
    (tmp_path / "one.pem").write_bytes(b"not a certificate\n")
    (tmp_path / "test-ca.pem").write_bytes(snskeys.CA_PEM)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path))
    certificates.get_certificate(snskeys.CERT_URL)


@pytest.mark.parametrize("content", [None, b"", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_an_unusable_store_is_unavailable_not_refused(sns_adapter, monkeypatch, tmp_path, content):
    path = tmp_path / "bundle.pem"
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(path))
    with pytest.raises(certificates.CertificateUnavailable, match="CA bundle"):
        certificates.get_certificate(snskeys.CERT_URL)


# -- Issuer URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, fetched",
    [
        ("http://crt.r2m01.amazontrust.com/r2m01.cer", True),
        ("https://crt.r2m01.amazontrust.com/r2m01.cer", True),
        ("http://amazontrust.com/r.cer", True),
        ("http://crt.amazontrust.com:8080/r.cer", False),
        ("http://user@crt.amazontrust.com/r.cer", False),
        ("http://evilamazontrust.com/r.cer", False),
        ("http://amazontrust.com.evil.example/r.cer", False),
        ("ftp://crt.amazontrust.com/r.cer", False),
        ("http://CRT.amazontrust.com/r.cer", False),
    ],
)
def test_issuer_urls(url, fetched):
    certificate = x509.load_pem_x509_certificate(
        snskeys.issue(snskeys.KEY, issuer="intermediate", issuer_url=url)
    )
    if fetched:
        assert trust.issuer_url(certificate) == url
    else:
        with pytest.raises(CertificateRefused, match="amazontrust.com"):
            trust.issuer_url(certificate)
