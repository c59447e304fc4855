"""SNS messages: their shape, and their signature.

Trusts nothing in the message. Checks, in this order:

1. the body (:func:`parse_envelope`, a :class:`MalformedMessage`: 400): JSON
   nested at most :data:`MAX_DEPTH` levels with no lone surrogate, an object
   of a known ``Type`` with every field SNS signs for that type as strings;
   no field but ``Message`` holding a line break or another control
   character (SNS signs ``name\\nvalue\\n`` pairs: a Subject moved into the
   MessageId would still verify); a ``MessageId`` of at most 128 characters;
   a ``Timestamp`` in ISO 8601 with its time zone;
2. before any certificate is fetched (a :class:`Refused`: 403): the
   ``TopicArn`` is one the project accepts, the ``SignatureVersion`` is 1 or
   2 and not below the project's minimum, the ``Timestamp`` is not older than
   the project's limit, the ``Signature`` is base64 for 256 to 512 bytes;
3. that ``Signature`` is the version's signature (1: SHA1withRSA, 2:
   SHA256withRSA) over exactly the signed fields, made by the key of the
   certificate given. Where the certificate comes from is ``certificates``'s
   business; its validity period is not checked, as the AWS SDKs' verifiers
   do not.

:func:`load_json` holds the JSON rules for a signed ``Message`` too. Pure: no
I/O. ``cryptography`` is imported only when a signature is checked.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
from typing import Any

from ..logsafe import shown

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

#: Deeper than SES event JSON ever is (it nests a handful of levels).
MAX_DEPTH = 64
MAX_MESSAGE_ID = 128
#: An RSA signature is as long as the key: 2048 to 4096 bits.
SIGNATURE_BYTES = (256, 512)

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
#: Control characters, and the other characters ``str.splitlines()`` splits on.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d\d):(\d\d))\Z"
)


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


class VersionRefused(Refused):
    pass


class TooOld(Refused):
    pass


def _depth(text: str) -> int:
    """How deep the JSON in ``text`` nests (stops counting past MAX_DEPTH).
    Strings are taken out first; each pass then removes the innermost pairs."""
    brackets = _NOT_A_BRACKET.sub("", _STRING.sub("", text))
    depth = 0
    while brackets and depth <= MAX_DEPTH:
        shorter = _INNERMOST.sub("", brackets)
        if shorter == brackets:
            break  # Unbalanced: json.loads says what is wrong.
        brackets = shorter
        depth += 1
    return depth


def load_json(text: bytes | str, what: str) -> Any:
    """The JSON in ``text``, or :class:`MalformedMessage`: not UTF-8, not
    JSON, nested deeper than :data:`MAX_DEPTH`, or holding a lone surrogate
    (which no database stores)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedMessage(f"{what} is not UTF-8") from None
    elif not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedMessage(f"{what} holds a lone surrogate") from None
    if _depth(text) > MAX_DEPTH:
        raise MalformedMessage(f"{what} nests deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text)
    except RecursionError:
        raise MalformedMessage(f"{what} nests too deep") from None
    except ValueError as error:
        raise MalformedMessage(f"{what} is not JSON ({error})") from None
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedMessage(f"{what} holds a lone surrogate") from None
    return value


def parse_envelope(body: bytes | str) -> dict[str, Any]:
    """The SNS message in ``body``, with its shape checked (not its signature)."""
    message = load_json(body, "the body")
    if not isinstance(message, dict):
        raise MalformedMessage("the body is not a JSON object")
    check_shape(message)
    return message


def check_shape(message: dict[str, Any]) -> None:
    kind = message.get("Type")
    if kind not in SIGNED_FIELDS:
        raise MalformedMessage(f"unknown SNS message Type {shown(kind)}")
    for name in (*SIGNED_FIELDS[kind], *ENVELOPE_FIELDS):
        value = message.get(name)
        if value is None and name in OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            raise MalformedMessage(f"the {kind} has no {name} string")
    for name, value in message.items():
        if name != "Message" and isinstance(value, str) and _CONTROL.search(value):
            raise MalformedMessage(f"the {kind}'s {shown(name)} holds a line break or control character")
    if len(message["MessageId"]) > MAX_MESSAGE_ID:
        raise MalformedMessage(f"the MessageId is longer than {MAX_MESSAGE_ID} characters")
    timestamp(message)


def timestamp(message: dict[str, str]) -> datetime.datetime:
    """The message's ``Timestamp`` (ISO 8601, with a time zone)."""
    match = _TIMESTAMP.match(message["Timestamp"])
    if match is None:
        raise MalformedMessage(f"the Timestamp {shown(message['Timestamp'])} is not ISO 8601")
    year, month, day, hour, minute, second, fraction, utc, sign, zone_h, zone_m = match.groups()
    try:
        offset = datetime.timedelta(0) if utc else datetime.timedelta(hours=int(zone_h), minutes=int(zone_m))
        return datetime.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=datetime.timezone(-offset if sign == "-" else offset),
        )
    except ValueError:
        raise MalformedMessage(f"the Timestamp {shown(message['Timestamp'])} is not a valid time") from None


def check_topic(message: dict[str, str], accepted_topics) -> None:
    """A valid signature only proves that *some* topic signed the message."""
    if message["TopicArn"] not in accepted_topics:
        raise TopicRefused(f"TopicArn {shown(message['TopicArn'])} is not in EVENT_TOPIC_ARNS")


def check_age(message: dict[str, str], max_age_days: int | None, now: datetime.datetime) -> None:
    """A genuine message replayed long after it was sent is refused."""
    if max_age_days is None:
        return
    if now - timestamp(message) > datetime.timedelta(days=max_age_days):
        raise TooOld(
            f"the Timestamp {shown(message['Timestamp'])} is older than EVENT_MAX_AGE_DAYS ({max_age_days} days)"
        )


def check_signature(message: dict[str, str], min_version: int) -> None:
    """The signature's form, before any certificate is fetched: a known
    ``SignatureVersion``, not below ``min_version``, and a ``Signature``
    that is base64 for as many bytes as an RSA key of 2048 to 4096 bits."""
    version = message["SignatureVersion"]
    if version not in HASHES:
        raise SignatureInvalid(f"unsupported SignatureVersion {shown(version)}")
    if int(version) < min_version:
        raise VersionRefused(
            f"topic {shown(message['TopicArn'])} signs with SignatureVersion {version} ({HASHES[version]}) "
            f"and EVENT_MIN_SIGNATURE_VERSION is {min_version}: set the topic's SignatureVersion "
            f"attribute to {min_version} (aws sns set-topic-attributes --attribute-name SignatureVersion "
            f"--attribute-value {min_version} --topic-arn ...)"
        )
    signature = _signature_bytes(message)
    low, high = SIGNATURE_BYTES
    if not low <= len(signature) <= high:
        raise SignatureInvalid(f"the Signature is {len(signature)} bytes, not {low} to {high}")


def _signature_bytes(message: dict[str, str]) -> bytes:
    try:
        return base64.b64decode(message["Signature"], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid("the Signature is not base64") from None


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
        raise SignatureInvalid(f"unsupported SignatureVersion {shown(version)}")
    signature = _signature_bytes(message)
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureInvalid("the signing certificate's key is not RSA")
    algorithm = hashes.SHA1() if HASHES[version] == "SHA1" else hashes.SHA256()
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise SignatureInvalid("the signature does not match the message") from None
