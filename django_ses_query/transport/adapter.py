"""The HTTP adapter under every AWS call: was any byte of the request written?

Whether any byte of the request was written is tracked on the connection
itself (see :class:`SendTracking`): the exception alone cannot tell, since
urllib3 reports a reset during a TLS handshake exactly like a reset after the
request was sent. A pooled keep-alive connection that the server closed while
it was idle is noticed by urllib3 when it is taken from the pool (the socket
reads EOF) and replaced before anything is written, so it never surfaces as
an error. What cannot be told apart is the server closing an idle connection
at the very moment a request is written to it: the client sees the same
"closed without an answer" as when a server reads a request and then drops the
connection, so that stays an unknown outcome.
"""

from __future__ import annotations

import threading

import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


#: ``state`` for the request being made on this thread: None (no tracked
#: connection was involved), NOT_WRITTEN (a tracked connection connected or
#: started the request, but wrote nothing of it) or WRITTEN.
wire = threading.local()
NOT_WRITTEN = "not written"
WRITTEN = "written"
#: Bodies up to this size are written together with the request's headers.
JOINED_BODY_MAX = 64 * 1024


class SendTracking:
    """Mixin for urllib3's connections: records on :data:`wire` whether
    any byte of the request left, so a failure can be classified exactly.

    Connecting (TCP, a proxy's CONNECT, the TLS handshake) writes nothing of
    the request. http.client connects lazily from ``send()`` on plain HTTP,
    so ``send()`` connects first, then marks the request as written.

    A body of bytes with a Content-Length, up to :data:`JOINED_BODY_MAX`
    bytes, goes out in the same write as the headers (http.client and
    urllib3 write them apart): one system call and one packet less per
    request, the same bytes on the wire. A larger body is written on its
    own, rather than copied.
    """

    _ses_connecting = False
    _ses_body: bytes | None = None  # to write with the header block
    _ses_skip = 0  # bytes of the body already written with the headers

    def connect(self) -> None:
        if getattr(wire, "state", None) is None:
            wire.state = NOT_WRITTEN
        self._ses_connecting = True
        try:
            super().connect()  # type: ignore[misc]
        finally:
            self._ses_connecting = False

    def request(self, method, url, body=None, headers=None, **kwargs):
        if getattr(wire, "state", None) is None:
            wire.state = NOT_WRITTEN
        framed = headers is not None and any(name.lower() == "content-length" for name in headers)
        if isinstance(body, bytes) and 0 < len(body) <= JOINED_BODY_MAX and framed and not kwargs.get("chunked"):
            self._ses_body = body
        self._ses_skip = 0
        try:
            return super().request(method, url, body=body, headers=headers, **kwargs)  # type: ignore[misc]
        finally:
            self._ses_body, self._ses_skip = None, 0

    def send(self, data) -> None:
        if not self._ses_connecting:
            if self.sock is None:  # type: ignore[attr-defined]
                self.connect()
            wire.state = WRITTEN
            if self._ses_skip:  # the body, already written with the headers
                self._ses_skip -= len(data)
                return
            if self._ses_body is not None:  # the header block: the body joins it
                data, self._ses_skip, self._ses_body = data + self._ses_body, len(self._ses_body), None
        super().send(data)  # type: ignore[misc]


class TrackedHTTPConnection(SendTracking, HTTPConnection):
    pass


class TrackedHTTPSConnection(SendTracking, HTTPSConnection):
    pass


class TrackedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = TrackedHTTPConnection


class TrackedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = TrackedHTTPSConnection


TRACKED_POOLS = {"http": TrackedHTTPConnectionPool, "https": TrackedHTTPSConnectionPool}


class TrackingAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections (direct, or through an HTTP proxy)
    track whether the request was written. Other proxies (SOCKS) are not
    tracked; failures through them are classified by exception type."""

    # (key, value) of the last lookup: one client calls one endpoint with the
    # same TLS settings and proxies every time, so each is worked out once.
    _ses_pool: tuple | None = None
    _ses_url: tuple | None = None

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(TRACKED_POOLS)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        key = (request.url, verify, cert, tuple(proxies.items()) if proxies else ())
        cached = self._ses_pool
        if cached is None or cached[0] != key:
            pool = super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)
            self._ses_pool = cached = (key, pool)
        return cached[1]

    def request_url(self, request, proxies):
        key = (request.url, tuple(proxies.items()) if proxies else ())
        cached = self._ses_url
        if cached is None or cached[0] != key:
            self._ses_url = cached = (key, super().request_url(request, proxies))
        return cached[1]

    def close(self) -> None:
        self._ses_pool = self._ses_url = None
        super().close()

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:
            manager.pool_classes_by_scheme = dict(TRACKED_POOLS)
        return manager
