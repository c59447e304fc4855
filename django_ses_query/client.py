"""The SES call: one Query API action, signed, retried by SES's rules.

Takes the settings (a :class:`~django_ses_query.conf.Config`) and a
credentials provider as values: whoever builds the client chooses the
provider (see ``sending``). Each attempt asks the provider for credentials
(temporary ones are refreshed there; an ``ExpiredToken`` answer gets one
refresh and one more try), signs, and posts through the transport
(``transport/``), which says whether a failed request was sent. Retries:
throttling ("Maximum sending rate exceeded."), 5xx answers and requests that
were not sent, with back-off and full jitter within ``MAX_RETRIES`` and
``RETRY_BUDGET``; a request whose outcome is unknown only with
``RETRY_UNKNOWN_OUTCOME``; "Daily message quota exceeded." never. With
``recipients``, every attempt first waits for the send rate (``sendrate``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.views.decorators.debug import sensitive_variables

from . import query
from .conf import Config, endpoint_url_problem
from .credentials.base import CredentialsProvider, usable_credentials
from .exceptions import SESConfigurationError, SESError, SESQuotaExceededError
from .responses import Result, parse_bulk_result, parse_error, parse_result, parse_send_result
from .sendrate import SendRate
from .transport.endpoint import USER_AGENT, Endpoint
from .transport.retry import RetryPolicy, call_with_retries, full_jitter

__all__ = ["USER_AGENT", "Response", "SESClient"]

SEND_ACTIONS = frozenset({"SendEmail", "SendRawEmail", "SendTemplatedEmail"})
BULK_ACTIONS = frozenset({"SendBulkTemplatedEmail"})


@dataclass
class Response:
    result: Result
    attempts: int
    duration_ms: int


class SESClient:
    """Signs and posts Query API calls for one backend (one config).

    ``sleep``, ``clock`` and ``jitter`` (a function from the backoff ceiling
    to the wait) can be replaced, e.g. by tests: they are the ``_sleep``,
    ``_clock`` and ``_jitter`` attributes, read at every call.
    """

    def __init__(
        self,
        config: Config,
        credentials_provider: CredentialsProvider,
        *,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        jitter: Callable[[float], float] | None = None,
    ) -> None:
        self.config = config
        self.endpoint_url = config.endpoint_url.rstrip("/") + "/"
        #: Found at startup by check E004; raised at send time.
        self.endpoint_problem = endpoint_url_problem(config.endpoint_url)
        # One provider per client, asked at every signature, so providers
        # whose credentials expire can cache and refresh them.
        self.credentials_provider = credentials_provider
        self.endpoint = Endpoint(
            self.endpoint_url, timeout=config.timeout, pool_size=config.max_concurrency, service="SES"
        )
        self.retry_policy = RetryPolicy(config.max_retries, config.retry_budget, config.retry_unknown_outcome)
        self.send_rate = SendRate(
            endpoint_url=self.endpoint_url,
            max_send_rate=config.max_send_rate,
            from_quota=config.send_rate_from_quota,
            cache_alias=config.rate_limit_cache,
            account=lambda: self.credentials().access_key_id,
            quota=lambda: self.call("GetSendQuota").result.values,
        )
        self._sleep = sleep or time.sleep
        self._clock = clock or time.monotonic
        self._jitter = jitter or full_jitter

    # Connection lifecycle.

    @property
    def session(self):
        """The keep-alive ``requests`` session while open, else None."""
        return self.endpoint.session

    def open(self) -> bool:
        return self.endpoint.open()

    def close(self) -> None:
        self.endpoint.close()

    # Calls. Their frames hold credentials and signed headers: hidden from
    # Django's error reports (technical 500 page, AdminEmailHandler).

    @sensitive_variables()
    def credentials(self):
        """The provider's credentials, or :class:`SESConfigurationError`."""
        return usable_credentials(self.credentials_provider)

    def _check_endpoint(self) -> None:
        if self.endpoint_problem is not None:
            raise SESConfigurationError(
                f"ENDPOINT_URL {self.config.endpoint_url!r} {self.endpoint_problem}; nothing was sent.",
                code="InvalidEndpoint",
            )

    @sensitive_variables()
    def signed_headers(self, body: bytes, credentials=None) -> dict[str, str]:
        self._check_endpoint()
        return self.endpoint.sign(
            "POST", body, {"Content-Type": query.CONTENT_TYPE},
            credentials=credentials or self.credentials(), region=self.config.region, service="ses",
        )

    @sensitive_variables()
    def post_once(self, action: str, body: bytes) -> Result:
        """One signed attempt, no retry."""
        credentials = self.credentials()
        self._check_endpoint()
        if self.endpoint.session is None:
            raise RuntimeError("SESClient.open() must be called before sending.")
        try:
            answer = self.endpoint.signed_request(
                "POST", body, {"Content-Type": query.CONTENT_TYPE},
                credentials=credentials, region=self.config.region, service="ses",
            )
            if answer.ok:
                if action in SEND_ACTIONS:
                    return parse_send_result(action, answer.content, answer.status)
                if action in BULK_ACTIONS:
                    return parse_bulk_result(action, answer.content, answer.status)
                return parse_result(action, answer.content, answer.status)
            raise parse_error(answer.content, answer.status)
        except SESError as error:
            # SES's own messages may quote them (SignatureDoesNotMatch).
            raise error.hide(credentials.secret_access_key, credentials.session_token)

    def should_retry(self, error: SESError) -> bool:
        if isinstance(error, SESQuotaExceededError):
            return False
        return self.retry_policy.should_retry(error)

    def call(self, action: str, params=None, *, body: bytes | None = None, recipients: int = 0) -> Response:
        """One Query API call, with retries; raises :class:`SESError`.

        With ``recipients``, each attempt first waits for that many tokens
        of the send rate. The error raised carries ``attempts`` and
        ``duration_ms``. ``duration_ms`` and the retry budget count from the
        first attempt (not the wait for the rate before it).
        """
        if body is None:
            body = query.encode(action, params or {})
        done = call_with_retries(
            lambda: self.post_once(action, body),
            policy=self.retry_policy,
            what=f"SES {action}",
            should_retry=self.should_retry,
            before_attempt=(lambda: self.wait_for_rate(recipients)) if recipients else None,
            refresh=getattr(self.credentials_provider, "refresh", None),
            sleep=self._sleep,
            clock=self._clock,
            jitter=self._jitter,
        )
        return Response(done.result, done.attempts, done.duration_ms)

    # Rate limiting.

    def rate(self) -> float | None:
        """Recipients per second for this client's account, or None."""
        return self.send_rate.rate()

    def wait_for_rate(self, recipients: int) -> float:
        """Block until ``recipients`` more may be sent; return seconds waited."""
        return self.send_rate.wait(recipients)

