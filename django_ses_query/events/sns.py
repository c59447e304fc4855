"""SNS messages: their shape, and their signature.

Trusts nothing in the message. Checks that the body is a JSON object of a
known ``Type`` with every field SNS signs for that type, as strings; that the
``TopicArn`` is one the project accepts; and that ``Signature`` is a valid
``SignatureVersion`` 1 (SHA1withRSA) or 2 (SHA256withRSA) signature over
exactly those fields, made by the key of the certificate given. The
certificate itself (where it comes from) is ``certificates``'s business;
its validity period is not checked, as the AWS SDKs' verifiers do not.

Pure: no I/O. ``cryptography`` is imported only when a signature is checked.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

#: The fields SNS signs, in the order of the string to sign, per Type.
#: ``Subject`` is signed only when the message has one.
SIGNED_FIELDS = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
    UNSUBSCRIBE_CONFIRMATION: (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}
OPTIONAL_FIELDS = frozenset({"Subject"})
#: Besides the signed ones, what every message must carry.
ENVELOPE_FIELDS = ("Signature", "SignatureVersion", "SigningCertURL")

#: SignatureVersion → the hash SNS signs with.
HASHES = {"1": "SHA1", "2": "SHA256"}


class MalformedMessage(ValueError):
    """Not an SNS message we can read (the webhook answers 400)."""


class Refused(Exception):
    """A message that must not be acted on (the webhook answers 403)."""


class SignatureInvalid(Refused):
    pass


class CertificateRefused(Refused):
    pass


class TopicRefused(Refused):
    pass


def parse_envelope(body: bytes | str) -> dict[str, str]:
    """The SNS message in ``body``, with its shape checked (not its signature)."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedMessage(f"the body is not JSON ({error})") from None
    if not isinstance(message, dict):
        raise MalformedMessage("the body is not a JSON object")
    check_shape(message)
    return message


def check_shape(message: dict[str, Any]) -> None:
    kind = message.get("Type")
    if kind not in SIGNED_FIELDS:
        raise MalformedMessage(f"unknown SNS message Type {kind!r}")
    for name in (*SIGNED_FIELDS[kind], *ENVELOPE_FIELDS):
        value = message.get(name)
        if value is None and name in OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            raise MalformedMessage(f"the {kind} has no {name} string")


def check_topic(message: dict[str, str], accepted_topics) -> None:
    """A valid signature only proves that *some* topic signed the message."""
    if message["TopicArn"] not in accepted_topics:
        raise TopicRefused(f"TopicArn {message['TopicArn']!r} is not in EVENT_TOPIC_ARNS")


def string_to_sign(message: dict[str, str]) -> bytes:
    """``name\\nvalue\\n`` for each signed field of the message's Type."""
    lines = []
    for name in SIGNED_FIELDS[message["Type"]]:
        value = message.get(name)
        if value is None and name in OPTIONAL_FIELDS:
            continue
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode("utf-8")


def verify(message: dict[str, str], certificate) -> None:
    """Raise :class:`SignatureInvalid` unless ``Signature`` is the signature
    of ``certificate``'s key (a ``cryptography`` X.509 certificate) over the
    message's signed fields, with the hash of its ``SignatureVersion``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    version = message.get("SignatureVersion")
    if version not in HASHES:
        raise SignatureInvalid(f"unsupported SignatureVersion {version!r}")
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid("the Signature is not base64") from None
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureInvalid("the signing certificate's key is not RSA")
    algorithm = hashes.SHA1() if HASHES[version] == "SHA1" else hashes.SHA256()
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise SignatureInvalid("the signature does not match the message") from None
