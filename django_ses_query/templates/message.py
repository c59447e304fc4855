"""Message to templated request: a Django ``EmailMessage`` with anymail's
``template_id`` (and ``merge_data``, ``merge_global_data``,
``merge_metadata``) as ``SendTemplatedEmail`` or ``SendBulkTemplatedEmail``
parameters, validated before anything is sent.

Trusts nothing on the message: every attribute is checked, and bad input
raises :class:`SESInvalidMessageError` with a local code before the first
request goes. The parameters are what botocore's Query serializer writes
for the same call (no empty lists, the model's member order).

Without ``merge_data`` (and ``merge_metadata``) a message is one
``SendTemplatedEmail``: To, Cc and Bcc in one ``Destination``. With either,
each To recipient is its own destination (Cc and Bcc copied into each, as
anymail does), sent in order, up to 50 destinations per
``SendBulkTemplatedEmail`` and never more than 50 recipients per request.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from django.core.serializers.json import DjangoJSONEncoder

from .. import query
from ..addresses import bare_address, format_address, format_addresses
from ..exceptions import SESInvalidMessageError
from ..params import (
    MAX_MESSAGE_BYTES,
    MAX_RECIPIENTS,
    SES_HEADERS,
    SendRequest,
    configuration_and_tags,
    validate_headers,
    validate_tags,
    validate_template_name,
)

SEND_TEMPLATED_EMAIL = "SendTemplatedEmail"
SEND_BULK_TEMPLATED_EMAIL = "SendBulkTemplatedEmail"

#: SES's limits: destinations per ``SendBulkTemplatedEmail``.
MAX_DESTINATIONS = 50
#: The anymail attributes this module reads.
MERGE_ATTRIBUTES = ("merge_data", "merge_global_data", "merge_metadata")


def _invalid(code: str, message: str) -> SESInvalidMessageError:
    return SESInvalidMessageError(message, code=code)


def attribute(message, name: str) -> Any:
    """``message.<name>``, or None when not set (anymail's ``UNSET`` too)."""
    value = getattr(message, name, None)
    if isinstance(value, type) and value.__name__ == "UNSET":
        return None
    return value


def is_templated(message) -> bool:
    """Whether the message asks for a stored template (or has merge data,
    which is an error without one)."""
    return any(attribute(message, name) is not None for name in ("template_id", *MERGE_ATTRIBUTES))


def is_bulk(message) -> bool:
    return attribute(message, "merge_data") is not None or attribute(message, "merge_metadata") is not None


def encode_data(data: Any, what: str) -> str:
    """``data`` (a dict) as SES's template data JSON; ``what`` names it in errors."""
    if not isinstance(data, dict):
        raise _invalid("InvalidMergeData", f"{what} must be a dict (a JSON object), not {type(data).__name__}.")
    try:
        return json.dumps(data, cls=DjangoJSONEncoder)
    except (TypeError, ValueError):
        pass
    for key, value in data.items():
        try:
            json.dumps({key: value}, cls=DjangoJSONEncoder)
        except (TypeError, ValueError) as error:
            raise _invalid(
                "InvalidMergeData", f"{what}[{key!r}] cannot be encoded as JSON: {error}"
            ) from None
    raise _invalid("InvalidMergeData", f"{what} cannot be encoded as JSON.")


def _check_unsupported(message) -> None:
    found = []
    if str(message.body or ""):
        found.append("a body")
    if getattr(message, "alternatives", None):
        found.append("an alternative (HTML) part")
    if message.attachments:
        found.append("an attachment")
    extra = sorted(k for k in (message.extra_headers or {}) if str(k).upper() not in SES_HEADERS)
    if extra:
        found.append(f"custom header(s) {', '.join(extra)}")
    if str(message.subject or ""):
        found.append("a subject")
    if found:
        raise _invalid(
            "UnsupportedWithTemplate",
            f"A message sent with template_id {attribute(message, 'template_id')!r} cannot also have "
            f"{', '.join(found)}: the stored template supplies the subject and the content.",
        )


@dataclass
class Destination:
    """One destination of a bulk send: one To recipient."""

    #: The To address as written (``"Name <a@example.com>"``), and bare.
    to: str
    address: str
    #: ``{"merge_global_data": ..., "merge_data": ...}``, as sent.
    template_data: dict
    #: ``ReplacementTemplateData``: its ``merge_data`` as JSON, or ``"{}"``.
    data_json: str
    #: ``ReplacementTags`` (the message's tags plus its ``merge_metadata``), or None.
    tags: dict[str, str] | None = None


@dataclass
class BulkSend:
    """A message with ``merge_data`` or ``merge_metadata``, validated; not
    yet split into requests (suppression may still drop destinations)."""

    template: str
    base: SendRequest
    default_data_json: str
    destinations: list[Destination]
    #: Destinations dropped by suppression (their To address).
    suppressed: list[Destination] = field(default_factory=list)

    def chunk_size(self) -> int:
        """Destinations per request: 50, fewer when Cc and Bcc (copied into
        each destination) would take a request over 50 recipients."""
        per_destination = 1 + len(self.base.cc) + len(self.base.bcc)
        return max(1, min(MAX_DESTINATIONS, MAX_RECIPIENTS // per_destination))

    def request_for(self, destinations: list[Destination]) -> SendRequest:
        return bulk_request(self, destinations)

    def requests(self) -> list[SendRequest]:
        """The ``SendBulkTemplatedEmail`` requests, in order."""
        size = self.chunk_size()
        return [
            bulk_request(self, self.destinations[start:start + size])
            for start in range(0, len(self.destinations), size)
        ]


def _tag_list(tags: dict[str, str] | None) -> list[dict[str, str]] | None:
    return [{"Name": name, "Value": value} for name, value in tags.items()] or None if tags else None


def _destination(to: list[str], cc: list[str], bcc: list[str]) -> dict[str, list[str]]:
    destination = {}
    for name, addresses in (("ToAddresses", to), ("CcAddresses", cc), ("BccAddresses", bcc)):
        if addresses:
            destination[name] = addresses
    return destination


def _without_none(params: dict) -> dict:
    return {name: value for name, value in params.items() if value not in (None, [], {})}


def _finish(request: SendRequest) -> SendRequest:
    request.body = query.encode(request.action, request.params)
    if len(request.body) > MAX_MESSAGE_BYTES:
        raise _invalid(
            "MessageTooLarge",
            f"The request is {len(request.body)} bytes; SES accepts requests up to 10 MB.",
        )
    request.size_bytes = len(request.body)
    return request


def bulk_request(bulk: BulkSend, destinations: list[Destination]) -> SendRequest:
    """One ``SendBulkTemplatedEmail`` for ``destinations`` (at most 50)."""
    base = bulk.base
    params = _without_none({
        "Source": base.from_email,
        "ReplyToAddresses": base.reply_to,
        "ConfigurationSetName": base.configuration_set,
        "DefaultTags": _tag_list(base.tags),
        "Template": bulk.template,
        "DefaultTemplateData": bulk.default_data_json,
        "Destinations": [
            _without_none({
                "Destination": _destination([d.to], base.cc, base.bcc),
                "ReplacementTags": _tag_list(d.tags),
                "ReplacementTemplateData": d.data_json,
            })
            for d in destinations
        ],
    })
    request = SendRequest(
        SEND_BULK_TEMPLATED_EMAIL, params, base.from_email, [d.to for d in destinations],
        list(base.cc), list(base.bcc), list(base.reply_to), "", base.configuration_set, dict(base.tags),
        suppressed=list(base.suppressed), template_name=bulk.template, destinations=list(destinations),
    )
    return _finish(request)


def build_templated(
    message, *, default_configuration_set: str | None = None, default_tags: dict | None = None
) -> SendRequest | BulkSend:
    """A ``SendTemplatedEmail`` request, or a :class:`BulkSend` (with
    ``merge_data`` or ``merge_metadata``). Raises
    :class:`SESInvalidMessageError` when SES would refuse the message."""
    template = attribute(message, "template_id")
    if template is None:
        present = [name for name in MERGE_ATTRIBUTES if attribute(message, name) is not None]
        raise _invalid(
            "MergeDataWithoutTemplate",
            f"The message has {', '.join(present)} but no template_id: merge data needs a stored template.",
        )
    validate_template_name(template)
    _check_unsupported(message)
    if not message.from_email or not str(message.from_email).strip():
        raise _invalid("MissingSender", "The message has no sender (from_email is empty).")
    validate_headers(getattr(message, "extra_headers", None))
    source = format_address(message.from_email)
    to, cc, bcc = format_addresses(message.to), format_addresses(message.cc), format_addresses(message.bcc)
    reply_to = format_addresses(message.reply_to)
    configuration_set, tags = configuration_and_tags(message, default_configuration_set, default_tags)
    global_data = attribute(message, "merge_global_data")
    global_json = "{}" if global_data is None else encode_data(global_data, "merge_global_data")
    base = SendRequest(
        SEND_TEMPLATED_EMAIL, {}, source, to, cc, bcc, reply_to, "", configuration_set, tags,
        template_name=template, template_data={"merge_global_data": global_data, "merge_data": None},
    )
    if not is_bulk(message):
        count = len(to) + len(cc) + len(bcc)
        if count > MAX_RECIPIENTS:
            raise _invalid(
                "TooManyRecipients",
                f"The message has {count} recipients; SES accepts at most {MAX_RECIPIENTS} per "
                "SendTemplatedEmail (To, Cc and Bcc together). Use merge_data for one destination "
                "per To recipient.",
            )
        base.params = _without_none({
            "Source": source,
            "Destination": _destination(to, cc, bcc),
            "ReplyToAddresses": reply_to,
            "Tags": _tag_list(tags),
            "ConfigurationSetName": configuration_set,
            "Template": template,
            "TemplateData": global_json,
        })
        return _finish(base)
    if not to:
        raise _invalid(
            "NoToRecipients",
            "merge_data and merge_metadata send one destination per To recipient, and the message has "
            "no To recipient (Cc and Bcc are copied into each destination).",
        )
    if 1 + len(cc) + len(bcc) > MAX_RECIPIENTS:
        raise _invalid(
            "TooManyRecipients",
            f"Each destination has 1 To, {len(cc)} Cc and {len(bcc)} Bcc recipients; SES accepts at most "
            f"{MAX_RECIPIENTS} per destination.",
        )
    return BulkSend(template, base, global_json, _destinations(message, to, tags, global_data))


def _by_recipient(message, name: str, known: dict) -> dict[str, Any]:
    """``message.<name>`` (a dict keyed by To address) by lower-cased bare address."""
    value = attribute(message, name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        code = "InvalidMergeData" if name == "merge_data" else "InvalidTag"
        raise _invalid(code, f"{name} must be a dict keyed by To address, not {type(value).__name__}.")
    found: dict[str, Any] = {}
    for key, data in value.items():
        try:
            address = bare_address(str(key)).lower()
        except ValueError:
            address = None
        if address not in known:
            raise _invalid(
                "UnknownMergeRecipient",
                f"{name} has an entry for {key!r}, which is not a To recipient of the message.",
            )
        found[address] = data
    return found


def _destinations(message, to: list[str], tags: dict, global_data) -> list[Destination]:
    known: dict[str, tuple[str, str]] = {}
    for address in to:
        bare = bare_address(address)
        known.setdefault(bare.lower(), (address, bare))  # Each To recipient once.
    merge_data = _by_recipient(message, "merge_data", known)
    merge_metadata = _by_recipient(message, "merge_metadata", known)
    destinations = []
    for key, (address, bare) in known.items():
        data = merge_data.get(key)
        data_json = "{}" if data is None else encode_data(data, f"merge_data[{bare!r}]")
        own_tags = None
        if key in merge_metadata:
            metadata = merge_metadata[key]
            if not isinstance(metadata, dict):
                raise _invalid("InvalidTag", f"merge_metadata[{bare!r}] must be a dict of tag name to value.")
            own_tags = {**tags, **metadata}
            validate_tags(own_tags)
        destinations.append(Destination(
            address, bare, {"merge_global_data": global_data, "merge_data": data}, data_json, own_tags,
        ))
    return destinations


# Queued bulk sends: each row holds a one-destination request; the worker
# joins a chunk's rows into one.

_DESTINATION_MEMBER = re.compile(r"Destinations\.member\.\d+\.")


_COPIED_MEMBER = re.compile(r"(Destinations\.member\.\d+\.Destination\.(?:Cc|Bcc)Addresses)\.member\.\d+\Z")


def join_bulk_bodies(bodies: list[bytes], keeps=lambda address: True) -> bytes:
    """One ``SendBulkTemplatedEmail`` body from one-destination bodies of
    the same message: the first body's common parameters, then each body's
    destination, numbered again in order. A Cc or Bcc address ``keeps``
    refuses (suppressed since) is left out of every destination."""
    pairs: list[tuple[str, str]] = []
    for number, body in enumerate(bodies, start=1):
        counts: dict[str, int] = {}
        for name, value in parse_qsl(body.decode("ascii"), keep_blank_values=True)[2:]:
            if not name.startswith("Destinations.member."):
                if number == 1:
                    pairs.append((name, value))
                continue
            name = _DESTINATION_MEMBER.sub(f"Destinations.member.{number}.", name, count=1)
            copied = _COPIED_MEMBER.match(name)
            if copied is not None:
                if not keeps(value):
                    continue
                counts[copied.group(1)] = counts.get(copied.group(1), 0) + 1
                name = f"{copied.group(1)}.member.{counts[copied.group(1)]}"
            pairs.append((name, value))
    return query.encode(SEND_BULK_TEMPLATED_EMAIL, pairs)
