"""SES's XML answers: parsed safely (defusedxml), errors made typed.

Handles the SES shape (``<ErrorResponse><Error/><RequestId/>``) and the
``<ErrorResponse><Errors><Error/></Errors>`` wrapping some AWS-compatible
endpoints return. Anything else becomes an :class:`SESResponseError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from .exceptions import (
    SESAuthenticationError,
    SESError,
    SESMessageRejectedError,
    SESQuotaExceededError,
    SESResponseError,
    SESServerError,
    SESTemplateError,
    SESThrottlingError,
)

REJECTED_CODES = frozenset(
    {
        "MessageRejected",
        "MailFromDomainNotVerifiedException",
        "MailFromDomainNotVerified",
        "ConfigurationSetDoesNotExist",
        "ConfigurationSetDoesNotExistException",
        "ConfigurationSetSendingPausedException",
        "AccountSendingPausedException",
    }
)
AUTH_CODES = frozenset(
    {
        "SignatureDoesNotMatch",
        "InvalidClientTokenId",
        "ExpiredToken",
        "AccessDenied",
        "AccessDeniedException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "UnrecognizedClientException",
        "RequestExpired",
        "InvalidSignatureException",
    }
)
TEMPLATE_CODES = frozenset(
    {
        "TemplateDoesNotExist",
        "TemplateDoesNotExistException",
        "InvalidTemplate",
        "InvalidTemplateException",
        "MissingRenderingAttribute",
        "MissingRenderingAttributeException",
        "InvalidRenderingParameter",
        "InvalidRenderingParameterException",
    }
)
DAILY_QUOTA_MESSAGE = "daily message quota exceeded"

# A readable excerpt of a body that is not SES XML, for the error message.
_EXCERPT_LENGTH = 200


@dataclass
class Result:
    """A successful answer: the ``<...Result>`` fields as text."""

    action: str
    request_id: str | None
    values: dict[str, str] = field(default_factory=dict)
    members: list[dict[str, str]] = field(default_factory=list)
    #: The ``<{Action}Result>`` element, for answers with nested maps
    #: (see :mod:`.attributes`).
    node: Element | None = field(default=None, repr=False, compare=False)

    @property
    def message_id(self) -> str | None:
        return self.values.get("MessageId")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(element: Element, name: str) -> Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _text(element: Element | None, name: str) -> str | None:
    child = _child(element, name) if element is not None else None
    return (child.text or "").strip() if child is not None else None


def _find(element: Element, name: str) -> Element | None:
    for node in element.iter():
        if _local(node.tag) == name:
            return node
    return None


def _excerpt(body: bytes) -> str:
    text = body[:_EXCERPT_LENGTH].decode("utf-8", "replace").strip()
    text = " ".join(text.split())
    return text + ("…" if len(body) > _EXCERPT_LENGTH else "")


def _parse_xml(body: bytes, http_status: int) -> Element:
    try:
        return SafeET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as error:
        raise SESResponseError(
            f"Refused an unsafe XML response ({type(error).__name__}).",
            code="UnsafeResponse",
            http_status=http_status,
        ) from None
    except (ParseError, ValueError) as error:
        raise SESResponseError(
            f"The response is not XML ({error}): {_excerpt(body)!r}",
            code="MalformedResponse",
            http_status=http_status,
        ) from None


def error_class(code: str, message: str, http_status: int | None) -> type[SESError]:
    if code == "Throttling" or code == "ThrottlingException":
        if DAILY_QUOTA_MESSAGE in message.lower():
            return SESQuotaExceededError
        return SESThrottlingError
    if code in REJECTED_CODES:
        return SESMessageRejectedError
    if code in TEMPLATE_CODES:
        return SESTemplateError
    if code in AUTH_CODES:
        return SESAuthenticationError
    if http_status is not None and http_status >= 500:
        return SESServerError
    if code in ("ServiceUnavailable", "InternalFailure", "InternalError"):
        return SESServerError
    return SESError


def parse_error(body: bytes, http_status: int) -> SESError:
    """The typed error for a non-2xx answer (never raises)."""
    try:
        root = _parse_xml(body, http_status)
    except SESResponseError as error:
        if http_status >= 500:
            # A 5xx page from a proxy or load balancer: a server error.
            return SESServerError(
                f"HTTP {http_status} without an SES error body: {_excerpt(body)!r}",
                code=f"HTTP{http_status}",
                http_status=http_status,
            )
        return error
    error = _find(root, "Error")
    if error is None:
        # Like a proxy's HTML page: a 5xx is still a (retryable) server error.
        klass = SESResponseError if http_status < 500 else SESServerError
        return klass(
            f"HTTP {http_status} with no <Error> in the response: {_excerpt(body)!r}",
            code="MalformedResponse" if http_status < 500 else f"HTTP{http_status}",
            http_status=http_status,
        )
    code = _text(error, "Code") or f"HTTP{http_status}"
    message = _text(error, "Message") or ""
    request_id = _text(root, "RequestId") or _text(error, "RequestId")
    if request_id is None:
        node = _find(root, "RequestId")
        request_id = (node.text or "").strip() if node is not None else None
    klass = error_class(code, message, http_status)
    return klass(
        message,
        code=code,
        request_id=request_id or None,
        http_status=http_status,
        error_type=_text(error, "Type"),
    )


def parse_result(action: str, body: bytes, http_status: int = 200) -> Result:
    """A success answer's fields; raises :class:`SESResponseError` when the
    body is not the ``<{Action}Response>`` SES sends."""
    root = _parse_xml(body, http_status)
    if _local(root.tag) == "ErrorResponse":
        raise parse_error(body, http_status)
    if _local(root.tag) != f"{action}Response":
        raise SESResponseError(
            f"Expected <{action}Response>, got <{_local(root.tag)}>.",
            code="MalformedResponse",
            http_status=http_status,
        )
    result = Result(action=action, request_id=None)
    metadata = _child(root, "ResponseMetadata")
    result.request_id = _text(metadata, "RequestId") or None
    node = _child(root, f"{action}Result")
    result.node = node
    if node is not None:
        for child in node:
            if len(child):
                # A list: <Name><member>...</member></Name>.
                for member in child:
                    result.members.append(
                        {_local(f.tag): (f.text or "").strip() for f in member}
                    )
            else:
                result.values[_local(child.tag)] = (child.text or "").strip()
    return result


def parse_bulk_result(action: str, body: bytes, http_status: int = 200) -> Result:
    """A ``SendBulkTemplatedEmail`` answer: one member per destination, in
    order (``Status``, ``MessageId``, ``Error``), in ``members``."""
    result = parse_result(action, body, http_status)
    result.node = None  # The members are all that is needed.
    return result


def parse_send_result(action: str, body: bytes, http_status: int = 200) -> Result:
    """Like :func:`parse_result`, and insists on a MessageId."""
    result = parse_result(action, body, http_status)
    result.node = None  # Sends need only the MessageId: hold no XML tree.
    if not result.message_id:
        raise SESResponseError(
            f"{action} succeeded (HTTP {http_status}) but the response has no MessageId; "
            "the message may have been sent.",
            code="MissingMessageId",
            http_status=http_status,
            request_id=result.request_id,
        )
    return result
