"""Message to request: a Django ``EmailMessage`` as SendEmail or
SendRawEmail parameters, validated before anything is sent.

SendEmail is used when SES can build the MIME itself: a plain text and/or
one HTML body, no attachments, no custom headers. Everything else goes as
SendRawEmail with the MIME that Django builds.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from . import query
from .addresses import bare_address, check_header_text, format_address, format_addresses
from .exceptions import SESInvalidMessageError
from .mime import raw_message_bytes

SEND_EMAIL = "SendEmail"
SEND_RAW_EMAIL = "SendRawEmail"

# SES's own header names; SES reads them from raw messages as well.
CONFIGURATION_SET_HEADER = "X-SES-CONFIGURATION-SET"
MESSAGE_TAGS_HEADER = "X-SES-MESSAGE-TAGS"
SES_HEADERS = (CONFIGURATION_SET_HEADER, MESSAGE_TAGS_HEADER)

#: SES's limits.
MAX_RECIPIENTS = 50
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
MAX_TAG_LENGTH = 256
_TAG_PATTERN = re.compile(r"[A-Za-z0-9_-]+\Z")
_CONFIGURATION_SET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_TEMPLATE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
#: RFC 5322 field names: printable ASCII but the colon (no space, no CR/LF).
_HEADER_NAME_PATTERN = re.compile(r"[!-9;-~]+\Z")
#: Control characters Django lets through in a header value (it refuses CR
#: and LF only); TAB is allowed.
_HEADER_VALUE_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass
class SendRequest:
    """What will be sent for one message, and what the send log records."""

    action: str
    params: dict[str, Any]
    from_email: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    reply_to: list[str]
    subject: str
    configuration_set: str | None
    tags: dict[str, str]
    text_body: str | None = None
    html_body: str | None = None
    size_bytes: int = 0
    body: bytes = field(default=b"", repr=False)
    #: Recipients left out because they are on the suppression list.
    suppressed: list[str] = field(default_factory=list)
    #: The unsubscribe topic ("": transactional mail).
    topic: str = ""
    #: A stored template's name (``SendTemplatedEmail``,
    #: ``SendBulkTemplatedEmail``), and for ``SendTemplatedEmail`` the
    #: ``{"merge_global_data": ...}`` it is sent with.
    template_name: str | None = None
    template_data: dict | None = None
    #: ``SendBulkTemplatedEmail``: its destinations, in order (each has
    #: ``to``, ``address``, ``template_data`` and ``tags``); Cc and Bcc are
    #: copied into each one.
    destinations: list | None = None

    @property
    def recipients(self) -> list[str]:
        return [bare_address(a) for a in (*self.to, *self.cc, *self.bcc)]

    @property
    def recipient_count(self) -> int:
        """``len(self.recipients)`` less the suppressed, without parsing the
        addresses; for a bulk request, every destination's recipients."""
        if self.destinations is not None:
            return len(self.destinations) * (1 + len(self.cc) + len(self.bcc))
        return len(self.to) + len(self.cc) + len(self.bcc) - len(self.suppressed)


def _invalid(code: str, message: str) -> SESInvalidMessageError:
    return SESInvalidMessageError(message, code=code)


def message_header(message, name: str) -> str | None:
    """The value of the message's custom header ``name`` (any case), or None."""
    for key, value in (getattr(message, "extra_headers", None) or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def validate_headers(headers) -> None:
    """Custom header names and values, for SendEmail and SendRawEmail alike:
    a name with a colon, a space or CR/LF would add header lines of its own
    (``"X-Foo: a\\r\\nBcc: evil@example.com"``)."""
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not _HEADER_NAME_PATTERN.match(name):
            raise _invalid(
                "InvalidHeader",
                f"Header name {name!r} is not allowed: use printable ASCII without a colon "
                "or whitespace.",
            )
        if _HEADER_VALUE_CONTROLS.search(str(value)):
            raise _invalid(
                "InvalidHeader", f"Header {name!r} has a control character (CR, LF, NUL...) in its value."
            )


def parse_tags(value: str) -> dict[str, str]:
    """``"name=value, name2=value2"`` (the X-SES-MESSAGE-TAGS format)."""
    tags = {}
    for item in value.split(","):
        if not item.strip():
            continue
        name, equals, tag_value = item.partition("=")
        if not equals:
            raise _invalid(
                "InvalidTag",
                f"{MESSAGE_TAGS_HEADER} must be 'name=value, name2=value2', got {value!r}.",
            )
        tags[name.strip()] = tag_value.strip()
    return tags


def validate_tags(tags: dict[str, str]) -> None:
    for name, value in tags.items():
        for what, text in (("name", name), ("value", value)):
            if not isinstance(text, str) or not _TAG_PATTERN.match(text) or len(text) > MAX_TAG_LENGTH:
                raise _invalid(
                    "InvalidTag",
                    f"Message tag {what} {text!r} is not accepted by SES: use 1 to "
                    f"{MAX_TAG_LENGTH} ASCII letters, digits, '_' or '-'.",
                )


def validate_configuration_set(name: str | None) -> None:
    if name is not None and not _CONFIGURATION_SET_PATTERN.match(name):
        raise _invalid(
            "InvalidConfigurationSet",
            f"Configuration set name {name!r} is not accepted by SES: use 1 to 64 "
            "ASCII letters, digits, '_' or '-'.",
        )


def configuration_and_tags(
    message, default_configuration_set: str | None, default_tags: dict | None
) -> tuple[str | None, dict[str, str]]:
    """The configuration set and tags of a message: the ``X-SES-*``
    headers over the settings, validated."""
    configuration_set = message_header(message, CONFIGURATION_SET_HEADER)
    configuration_set = (configuration_set or "").strip() or default_configuration_set or None
    validate_configuration_set(configuration_set)
    tags = dict(default_tags or {})
    header_tags = message_header(message, MESSAGE_TAGS_HEADER)
    if header_tags is not None:
        tags.update(parse_tags(header_tags))
    validate_tags(tags)
    return configuration_set, tags


def validate_template_name(name) -> str:
    """A stored template's name, as SES accepts it."""
    if not isinstance(name, str) or not _TEMPLATE_NAME_PATTERN.match(name):
        raise _invalid(
            "InvalidTemplateName",
            f"Template name {name!r} is not accepted by SES: use 1 to 64 ASCII letters, digits, "
            "'_' or '-'.",
        )
    return name


def _unique(addresses) -> list[str]:
    """Each envelope recipient once (SES would deliver, and count, twice)."""
    seen: set[str] = set()
    unique = []
    for address in addresses:
        if address.lower() not in seen:
            seen.add(address.lower())
            unique.append(address)
    return unique


def _can_use_send_email(message) -> bool:
    if message.attachments:
        return False
    if (message.encoding or "utf-8").lower().replace("_", "-") not in ("utf-8", "utf8"):
        return False
    extra = [k for k in (message.extra_headers or {}) if k.upper() not in SES_HEADERS]
    if extra:
        return False
    alternatives = getattr(message, "alternatives", None) or []
    if message.content_subtype == "html":
        return not alternatives
    if message.content_subtype != "plain":
        return False
    return not alternatives or (len(alternatives) == 1 and alternatives[0][1] == "text/html")


def build_request(
    message, *, default_configuration_set: str | None = None, default_tags: dict | None = None,
    envelope: tuple[list, list, list] | None = None,
) -> SendRequest:
    """Turn one Django ``EmailMessage`` into a validated :class:`SendRequest`.

    ``envelope`` (to, cc, bcc): who this request goes to, when not the
    message's own recipients (one recipient's copy: its MIME keeps the To
    and Cc headers as written).

    Raises :class:`SESInvalidMessageError` with a local code when SES would
    refuse the message, before any HTTP.
    """
    if not message.from_email or not str(message.from_email).strip():
        raise _invalid("MissingSender", "The message has no sender (from_email is empty).")
    validate_headers(getattr(message, "extra_headers", None))
    source = format_address(message.from_email)
    to, cc, bcc = (format_addresses(part) for part in (envelope or (message.to, message.cc, message.bcc)))
    reply_to = format_addresses(message.reply_to)
    count = len(to) + len(cc) + len(bcc)
    if count > MAX_RECIPIENTS:
        raise _invalid(
            "TooManyRecipients",
            f"The message has {count} recipients; SES accepts at most {MAX_RECIPIENTS} "
            "per message (To, Cc and Bcc together).",
        )
    subject = check_header_text("Subject", str(message.subject or ""))

    configuration_set, tags = configuration_and_tags(message, default_configuration_set, default_tags)
    tag_params = [{"Name": name, "Value": value} for name, value in tags.items()] or None

    body_text = str(message.body) if message.body is not None else ""
    text_body = html_body = None
    if message.content_subtype == "html":
        html_body = body_text
    else:
        text_body = body_text
    for content, mimetype in getattr(message, "alternatives", None) or []:
        if mimetype == "text/html" and html_body is None:
            html_body = str(content)

    common = dict(
        from_email=source, to=to, cc=cc, bcc=bcc, reply_to=reply_to, subject=subject,
        configuration_set=configuration_set, tags=tags, text_body=text_body, html_body=html_body,
    )
    if envelope is None and _can_use_send_email(message):
        body: dict[str, Any] = {}
        if text_body or not html_body:
            body["Text"] = {"Data": text_body or "", "Charset": "UTF-8"}
        if html_body:
            body["Html"] = {"Data": html_body, "Charset": "UTF-8"}
        params = {
            "Source": source,
            "Destination": {"ToAddresses": to, "CcAddresses": cc, "BccAddresses": bcc},
            "Message": {"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body},
            "ReplyToAddresses": reply_to,
            "Tags": tag_params,
            "ConfigurationSetName": configuration_set,
        }
        request = SendRequest(SEND_EMAIL, params, **common)
    else:
        try:
            mime = raw_message_bytes(message, remove_headers=SES_HEADERS)
        except SESInvalidMessageError:
            raise
        except ValueError as error:  # Django's header safety (BadHeaderError).
            raise _invalid("InvalidHeader", str(error)) from None
        data = base64.b64encode(mime).decode("ascii")
        if len(data) > MAX_MESSAGE_BYTES:
            raise _invalid(
                "MessageTooLarge",
                f"The raw message is {len(data)} bytes once base64-encoded; SES accepts "
                f"at most {MAX_MESSAGE_BYTES} bytes (10 MB).",
            )
        params = {
            "Source": source,
            "Destinations": _unique(bare_address(a) for a in (*to, *cc, *bcc)),
            "RawMessage": {"Data": data},
            "Tags": tag_params,
            "ConfigurationSetName": configuration_set,
        }
        request = SendRequest(SEND_RAW_EMAIL, params, **common)
    request.body = query.encode(request.action, request.params)
    if len(request.body) > MAX_MESSAGE_BYTES + 64 * 1024:
        raise _invalid(
            "MessageTooLarge",
            f"The request is {len(request.body)} bytes; SES accepts messages up to 10 MB.",
        )
    request.size_bytes = len(request.body)
    return request
