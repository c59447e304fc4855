"""Genuinely signed SNS messages for tests: a test CA (a root and an
intermediate, "Amazon Trust"-like), RSA keys and signing certificates it
issues, messages signed v1 (SHA1withRSA) or v2 (SHA256withRSA) with a current
Timestamp, and a requests transport adapter that serves the certificate at an
SNS URL (no network; the URL rules still apply). Tests put :data:`CA_PEM` in
``REQUESTS_CA_BUNDLE``, the trust store the certificate must chain to."""

from __future__ import annotations

import base64
import datetime
import io
import json
import uuid

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from django_ses_query.events.sns import string_to_sign

REGION = "us-east-1"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:ses-events"
OTHER_TOPIC_ARN = "arn:aws:sns:us-east-1:999999999999:someone-elses"
CERT_URL = f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
SUBSCRIBE_URL = (
    f"https://sns.{REGION}.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC_ARN}&Token=tok"
)
#: Where certificates issued by the intermediate say it can be fetched.
ISSUER_URL = "http://crt.test-m01.amazontrust.com/test-m01.cer"

DAY = datetime.timedelta(days=1)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ca_certificate(common_name: str, key, issuer=None, issuer_key=None) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.subject if issuer else _name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - DAY)
        .not_valid_after(now() + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


CA_KEY = _new_key()
CA = ca_certificate("Test Amazon Root CA", CA_KEY)
CA_PEM = CA.public_bytes(serialization.Encoding.PEM)
INTERMEDIATE_KEY = _new_key()
INTERMEDIATE = ca_certificate("Test Amazon RSA 2048 M01", INTERMEDIATE_KEY, CA, CA_KEY)
INTERMEDIATE_DER = INTERMEDIATE.public_bytes(serialization.Encoding.DER)


def issue(key, *names: str, issuer: str = "root", issuer_url: str | None = None,
          not_after: datetime.datetime | None = None) -> bytes:
    """A PEM certificate for ``key`` with these subjectAltName DNS names,
    issued by the test root, the intermediate, or ``"self"``."""
    names = names or ("sns.amazonaws.com",)
    if issuer == "self":
        signer, issuer_name = key, _name(names[0])
    else:
        ca, signer = (CA, CA_KEY) if issuer == "root" else (INTERMEDIATE, INTERMEDIATE_KEY)
        issuer_name = ca.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now(), not_after or now()) - 30 * DAY)
        .not_valid_after(not_after or now() + 30 * DAY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if issuer_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(issuer_url))]),
            critical=False)
    return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def make_key_and_certificate(*names: str, **options):
    key = _new_key()
    return key, issue(key, *names, **options)


KEY, CERT_PEM = make_key_and_certificate()
OTHER_KEY, OTHER_CERT_PEM = make_key_and_certificate()


def timestamp(moment: datetime.datetime | None = None) -> str:
    """SNS's form: ``2026-01-02T03:04:05.678Z``."""
    return (moment or now()).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sign(message: dict, key=KEY) -> dict:
    """``message`` with ``Signature`` set (for its ``SignatureVersion``)."""
    algorithm = hashes.SHA1() if message["SignatureVersion"] == "1" else hashes.SHA256()
    signature = key.sign(string_to_sign(message), padding.PKCS1v15(), algorithm)
    return {**message, "Signature": base64.b64encode(signature).decode("ascii")}


def envelope(kind: str = "Notification", *, version: str = "1", message: str | dict = "{}", key=KEY,
             subject: str | None = None, **fields) -> dict:
    """A signed SNS message of ``kind``; ``fields`` override before signing."""
    if isinstance(message, dict):
        message = json.dumps(message)
    data = {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "TopicArn": TOPIC_ARN,
        "Message": message,
        "Timestamp": timestamp(),
        "SignatureVersion": version,
        "SigningCertURL": CERT_URL,
    }
    if kind == "Notification":
        data["UnsubscribeURL"] = f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&x=1"
        if subject is not None:
            data["Subject"] = subject
    else:
        data["SubscribeURL"] = SUBSCRIBE_URL
        data["Token"] = "2336412f37fb687f5d51e6e2425a8a58"
    data.update(fields)
    return sign(data, key)


class SNSAdapter(requests.adapters.BaseAdapter):
    """Answers GETs for registered URLs; records every request it gets."""

    def __init__(self, routes: dict[str, tuple[int, bytes]] | None = None) -> None:
        super().__init__()
        self.routes = dict(routes or {})
        self.requests: list[requests.PreparedRequest] = []
        self.kwargs: list[dict] = []

    def send(self, request, **kwargs):
        self.requests.append(request)
        self.kwargs.append(kwargs)
        if request.url not in self.routes:
            raise requests.ConnectionError(f"no route to {request.url}")
        status, body, *headers = self.routes[request.url]
        response = requests.Response()
        response.status_code = status
        response.raw = io.BytesIO(body)
        response.url = request.url
        response.request = request
        response.headers.update(headers[0] if headers else {})
        return response

    def close(self) -> None:
        pass
