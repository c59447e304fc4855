"""Genuinely signed SNS messages for tests: an RSA key and a self-signed
certificate made here, messages signed v1 (SHA1withRSA) or v2
(SHA256withRSA), and a requests transport adapter that serves the
certificate at an SNS URL (no network; the URL rules still apply)."""

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
from cryptography.x509.oid import NameOID

from django_ses_query.events.sns import string_to_sign

REGION = "us-east-1"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:ses-events"
OTHER_TOPIC_ARN = "arn:aws:sns:us-east-1:999999999999:someone-elses"
CERT_URL = f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
SUBSCRIBE_URL = (
    f"https://sns.{REGION}.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC_ARN}&Token=tok"
)


def make_key_and_certificate(common_name: str = "sns.amazonaws.com"):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


KEY, CERT_PEM = make_key_and_certificate()
OTHER_KEY, OTHER_CERT_PEM = make_key_and_certificate()


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
        "Timestamp": "2026-01-02T03:04:05.678Z",
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
