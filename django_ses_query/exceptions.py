"""The errors this package raises.

Every error is an :class:`SESError`. Each carries what an operator needs:
``code`` (SES's error code, or one of this package's local codes),
``request_id`` (SES's RequestId, when SES answered), and ``http_status``.
"""

from __future__ import annotations

from .redaction import redact


class SESError(Exception):
    """An error sending through, or talking to, Amazon SES."""

    #: Codes raised locally, before anything reaches SES, start with this.
    default_code = "SESError"

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
        error_type: str | None = None,
    ) -> None:
        # Messages quote text from outside (SES, requests): never a
        # signature or a session token.
        message = redact(message)
        self.message = message
        self.code = code or self.default_code
        self.request_id = request_id
        self.http_status = http_status
        self.error_type = error_type
        super().__init__(message)

    def __str__(self) -> str:
        text = f"{self.code}: {self.message}" if self.message else self.code
        details = []
        if self.http_status is not None:
            details.append(f"HTTP {self.http_status}")
        if self.request_id:
            details.append(f"RequestId {self.request_id}")
        if details:
            text += f" ({', '.join(details)})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"http_status={self.http_status!r}, request_id={self.request_id!r})"
        )

    def hide(self, *secrets: str | None) -> SESError:
        """Take these values (the secret key, the session token) out of the
        message; return the error."""
        self.message = redact(self.message, secrets)
        self.args = (self.message,)
        return self

    #: Whether sending the same request again may succeed (see retries).
    retryable = False

    @property
    def may_have_been_sent(self) -> bool:
        """True when SES may have accepted the message all the same: the
        send log records the outcome as ``unknown``, not ``failed``."""
        return False


class SESConfigurationError(SESError):
    """The backend is misconfigured (no credentials, bad endpoint...)."""

    default_code = "ImproperlyConfigured"


class SESInvalidMessageError(SESError, ValueError):
    """The message cannot be sent as it is; nothing was sent.

    Raised before any HTTP request, with a local ``code`` such as
    ``InvalidAddress`` or ``TooManyRecipients``. Also a ``ValueError``, like
    the errors Django raises for unsafe headers.
    """

    default_code = "InvalidMessage"


class SESThrottlingError(SESError):
    """SES refused the request: "Maximum sending rate exceeded." """

    default_code = "Throttling"
    retryable = True


class SESQuotaExceededError(SESError):
    """SES refused the request: "Daily message quota exceeded." """

    default_code = "Throttling"


class SESMessageRejectedError(SESError):
    """SES rejected the message (MessageRejected, an unverified MAIL FROM
    domain, an unknown configuration set...)."""

    default_code = "MessageRejected"


class SESTemplateError(SESError):
    """SES could not use the stored template: ``TemplateDoesNotExist`` (for
    the request or one destination), ``InvalidTemplate``,
    ``MissingRenderingAttribute``, ``InvalidRenderingParameter``. Not
    retried: the same request would fail again."""

    default_code = "TemplateDoesNotExist"


class SESAuthenticationError(SESError):
    """Credentials or signature refused (SignatureDoesNotMatch,
    InvalidClientTokenId, ExpiredToken, AccessDenied...)."""

    default_code = "SignatureDoesNotMatch"


class SESServerError(SESError):
    """SES answered with a server error (HTTP 5xx)."""

    default_code = "InternalFailure"
    retryable = True


class SESTransportError(SESError):
    """No usable answer came back: connection refused, reset, timeout."""

    default_code = "TransportError"

    def __init__(self, message: str = "", *, sent: bool = False, **kwargs) -> None:
        super().__init__(message, **kwargs)
        #: True when the request may have reached SES (e.g. a read timeout):
        #: the outcome is unknown and the message may have been sent.
        self.sent = sent

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return not self.sent

    @property
    def may_have_been_sent(self) -> bool:
        return self.sent


class SESResponseError(SESError):
    """SES's answer could not be understood (not XML, hostile XML, an HTML
    page from a proxy, a success without a MessageId...)."""

    default_code = "MalformedResponse"

    @property
    def may_have_been_sent(self) -> bool:
        # A success (2xx) that could not be read, e.g. without a MessageId.
        return self.http_status is not None and 200 <= self.http_status < 300


class SESInterruptedError(SESTransportError):
    """What the send log records for a send interrupted (``KeyboardInterrupt``,
    ``SystemExit``: a worker being stopped) after its request was written.
    Never raised: the interruption itself is re-raised."""

    default_code = "Interrupted"

    def __init__(self, interruption: BaseException) -> None:
        super().__init__(
            f"Interrupted ({type(interruption).__name__}) after the request was written; "
            "the outcome is unknown (the message may have been sent).",
            sent=True,
        )


class SESPreSendError(SESError):
    """A ``pre_send`` receiver raised something other than ``CancelSend``:
    the message was not sent. What the send log records; the backend raises
    the receiver's own exception (``error``) unless ``fail_silently``."""

    default_code = "PreSendError"

    def __init__(self, error: Exception) -> None:
        super().__init__(f"A pre_send receiver raised {type(error).__name__}: {error}")
        #: The receiver's exception.
        self.error = error


class CancelSend(Exception):
    """Raised by a ``pre_send`` receiver to cancel sending one message."""
