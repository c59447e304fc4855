"""One AWS endpoint over a keep-alive ``requests`` session.

Every call to AWS goes through an :class:`Endpoint`: SES's Query API, SQS,
STS, or a plain GET. It owns the session and its tracked adapter (see
``adapter``), the proxies and CA bundle read from the environment once per
session, and the classification of failures (see ``failures``). It takes
credentials and options as plain values: it reads no settings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import requests
from django.views.decorators.debug import sensitive_variables
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies

from .. import __version__
from ..exceptions import SESConfigurationError, SESError, SESResponseError, SESTransportError
from ..signing import Credentials, sign
from .adapter import WRITTEN, TrackingAdapter, wire
from .failures import classify

USER_AGENT = f"django-ses-query/{__version__}"
#: How much of a capped answer is read at a time.
CHUNK_BYTES = 4096


def environment_settings(url: str) -> tuple[dict[str, str], str | bool]:
    """The proxies and TLS verification that requests would take from the
    environment for a call to ``url`` (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, ``NO_PROXY``..., then ``REQUESTS_CA_BUNDLE`` or
    ``CURL_CA_BUNDLE``), as its ``Session.merge_environment_settings`` reads
    them: the session's ``proxies`` and ``verify``."""
    proxies = get_environ_proxies(url)
    verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return proxies, verify


@dataclass
class Answer:
    """An HTTP answer, read whole."""

    status: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Endpoint:
    """Calls to one URL (``service`` names it in error messages).

    ``url`` must already be valid: the caller checks it (for SES,
    ``conf.endpoint_url_problem``). ``pool_size`` is how many requests may
    be in flight at once.
    """

    def __init__(self, url: str, *, timeout: float, pool_size: int = 1, service: str = "SES") -> None:
        self.url = url
        self.timeout = timeout
        self.pool_size = max(pool_size, 1)
        self.service = service
        self.session: requests.Session | None = None
        self.prepared_url = url  # as requests prepares it: see open()

    def open(self) -> bool:
        """Open the session; True when it is new."""
        if self.session is not None:
            return False
        session = requests.Session()
        adapter = TrackingAdapter(pool_connections=1, pool_maxsize=self.pool_size, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        # Read once per session here, instead of by requests on every call.
        # This also keeps requests from taking credentials for the endpoint's
        # host from ~/.netrc: they would replace the SigV4 Authorization.
        session.trust_env = False
        try:
            session.proxies, session.verify = environment_settings(self.url)
            # What Session.prepare_request() would do to the URL at every call.
            prepared = requests.PreparedRequest()
            prepared.prepare_url(self.url, None)
            self.prepared_url = prepared.url
        except (ValueError, requests.RequestException):
            pass  # A URL requests refuses: the caller's check names the problem before any request.
        self.session = session
        return True

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def __enter__(self) -> Endpoint:
        self.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # Calls. Their frames hold credentials and signed headers: hidden from
    # Django's error reports (technical 500 page, AdminEmailHandler).

    @sensitive_variables()
    def sign(
        self, method: str, body: bytes, headers: Mapping[str, str], *,
        credentials: Credentials, region: str, service: str,
    ) -> dict[str, str]:
        """``headers`` with the SigV4 signature for a call to this URL."""
        return sign(
            method=method, url=self.url, headers=headers, body=body,
            credentials=credentials, region=region, service=service,
        )

    @sensitive_variables()
    def signed_request(
        self, method: str, body: bytes, headers: Mapping[str, str], *,
        credentials: Credentials, region: str, service: str, timeout: float | None = None,
        max_bytes: int | None = None, deadline: float | None = None,
    ) -> Answer:
        """Sign and send (``max_bytes`` and ``deadline`` as for :meth:`request`);
        an :class:`SESError` raised never quotes the secret or the session
        token (an answer may quote them)."""
        try:
            signed = self.sign(method, body, headers, credentials=credentials, region=region, service=service)
            return self.request(method, body, signed, timeout=timeout, max_bytes=max_bytes, deadline=deadline)
        except SESError as error:
            raise error.hide(credentials.secret_access_key, credentials.session_token)

    @sensitive_variables()
    def request(
        self, method: str, body: bytes, headers: Mapping[str, str], *, timeout: float | None = None,
        max_bytes: int | None = None, deadline: float | None = None,
    ) -> Answer:
        """Send through the session's mounted adapter and read the answer.

        What ``session.request()`` would send, byte for byte (the session's
        headers, then the call's, then Content-Length), with the session's
        proxies and TLS verification, without the per-call work of a Session
        that a signed API does not need: settings merging, re-parsing the URL,
        hooks, redirects, cookies and ~/.netrc.

        Raises :class:`SESTransportError` (not sent, or outcome unknown) or
        :class:`SESConfigurationError` (``InvalidRequest``: refused by HTTP
        before anything was written). An interruption while the outcome is
        unknown carries ``ses_outcome_unknown = True``. With ``max_bytes``, an
        answer larger than that is :class:`SESResponseError` ``AnswerTooLarge``
        (not read further); with ``deadline`` (a ``time.monotonic()`` value), an
        answer still arriving then is a ``ReadTimeout``.
        """
        session = self.session
        if session is None:
            raise RuntimeError("Endpoint.open() must be called before a request.")
        request = requests.PreparedRequest()
        request.method = method
        request.url = self.prepared_url
        request.headers = CaseInsensitiveDict(session.headers)
        request.headers.update(headers)
        if body or method not in ("GET", "HEAD"):
            request.headers["Content-Length"] = str(len(body))
        request.body = body or None
        wire.state = None
        try:
            # Streamed: the status is known before the body is read, so a
            # body cut short can be told from a request that got no answer.
            response = session.get_adapter(self.prepared_url).send(
                request, stream=True, timeout=self.timeout if timeout is None else timeout,
                verify=session.verify, cert=session.cert, proxies=session.proxies,
            )
        except (requests.RequestException, ValueError) as error:
            state = getattr(wire, "state", None)
            if isinstance(error, ValueError) and state != WRITTEN:
                # requests or http.client refused a header value or the URL
                # before writing anything; their text quotes the value.
                raise SESConfigurationError(
                    f"HTTP refused the request before sending it ({type(error).__name__}: a header "
                    "value or the endpoint URL it does not allow); nothing was sent.",
                    code="InvalidRequest",
                ) from None
            raise classify(error, state, service=self.service) from error
        except (KeyboardInterrupt, SystemExit) as interruption:
            # A worker being stopped: the caller logs an unknown outcome.
            interruption.ses_outcome_unknown = getattr(wire, "state", None) == WRITTEN
            raise
        finally:
            state = wire.state
            wire.state = None
        try:
            if max_bytes is None and deadline is None:
                content = response.content
            else:
                content = self._read_capped(response, max_bytes, deadline)
        except SESError:
            response.close()
            raise
        except requests.RequestException as error:
            response.close()
            raise classify(error, state, response.status_code, service=self.service) from error
        except (KeyboardInterrupt, SystemExit) as interruption:
            interruption.ses_outcome_unknown = 200 <= response.status_code < 300
            raise
        return Answer(response.status_code, content, response.headers)

    def _read_capped(self, response, max_bytes: int | None, deadline: float | None) -> bytes:
        length = response.headers.get("Content-Length", "")
        if max_bytes is not None and length.isdigit() and int(length) > max_bytes:
            raise too_large(self.service, max_bytes, response.status_code)
        body = bytearray()
        for chunk in response.iter_content(CHUNK_BYTES):
            body += chunk
            if max_bytes is not None and len(body) > max_bytes:
                raise too_large(self.service, max_bytes, response.status_code)
            if deadline is not None and time.monotonic() > deadline:
                break
        if deadline is not None and time.monotonic() > deadline:
            raise SESTransportError(
                f"{self.service}'s answer was still arriving when the time allowed ran out.",
                code="ReadTimeout", sent=True, http_status=response.status_code,
            )
        return bytes(body)


def too_large(service: str, max_bytes: int, status: int) -> SESResponseError:
    return SESResponseError(
        f"{service}'s answer is larger than {max_bytes} bytes; it was not read further.",
        code="AnswerTooLarge", http_status=status,
    )
