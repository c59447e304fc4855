"""Amazon SES (Query API) email backend class."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from queue import Empty, SimpleQueue
from typing import Any

import django
from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends.base import BaseEmailBackend

from .client import Response, SESClient
from .conf import OPTION_NAMES, get_config
from .exceptions import CancelSend, SESError, SESInterruptedError, SESPreSendError
from .params import SendRequest, build_request
from .logwriter import LogWriter
from .sendlog import log_row, save_row, write_log
from .signals import post_send, pre_send

logger = logging.getLogger("django_ses_query")

# Django 6.1 passes these itself; Django 5.2's send_mail() passes its
# auth_user/auth_password as username/password (None unless given).
_MAILERS = django.VERSION >= (6, 1)


class EmailBackend(BaseEmailBackend):
    """Sends each message as one signed SES ``SendEmail`` or ``SendRawEmail``.

    Options are the lower-case ``SES_QUERY`` keys (``region``,
    ``max_retries``...), which win over the setting.
    """

    def __init__(self, fail_silently: bool = False, *, alias: str | None = None, **kwargs: Any):
        options = {name: kwargs.pop(name) for name in list(kwargs) if name in OPTION_NAMES}
        if _MAILERS:
            super().__init__(alias=alias, **kwargs)
        else:
            for name in ("username", "password"):
                if kwargs.get(name, "") is None:
                    del kwargs[name]
            if kwargs:
                names = ", ".join(repr(key) for key in kwargs)
                raise TypeError(f"{type(self).__name__}() got unknown options: {names}.")
            super().__init__()
        self.alias = alias
        self.fail_silently = fail_silently
        try:
            self.config = get_config(**options)
        except ImproperlyConfigured as error:
            if alias is not None and _MAILERS:
                from django.core.mail import InvalidMailer

                raise InvalidMailer(str(error), alias=alias) from None
            raise
        self.client = SESClient(self.config)
        self._lock = threading.RLock()
        # The rows of the send_messages() call in progress (see logwriter).
        self._log_writer: LogWriter | None = None

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} alias={self.alias!r} region={self.config.region!r} "
            f"endpoint={self.config.endpoint_url!r}>"
        )

    def open(self) -> bool:
        """Open the keep-alive HTTP session; return True if it was new."""
        with self._lock:
            return self.client.open()

    def close(self) -> None:
        with self._lock:
            self.client.close()

    def send_messages(self, email_messages) -> int:
        """Send the messages; return how many SES accepted."""
        messages = [m for m in email_messages if m.recipients()]
        if not messages:
            return 0
        for message in messages:
            # Stays None for a message not sent (or not attempted, after a
            # failure stopped the batch).
            message.ses_message_id = None
            message.ses_log = None
        with self._lock:
            new_session = self.open()
            outer_writer = self._log_writer  # a post_send receiver may send again
            self._log_writer = writer = LogWriter(self.config, self._post_send)
            try:
                if self.config.max_concurrency > 1 and len(messages) > 1:
                    return self._send_concurrently(messages)
                return self._send_sequentially(messages)
            finally:
                self._log_writer = outer_writer
                try:
                    writer.flush()  # Every row is committed before returning.
                finally:
                    if new_session:
                        self.close()

    # The stages for one message.

    def _prepare(self, message) -> SendRequest | None:
        """Run pre_send and build the request. None: cancelled by a receiver,
        or every recipient suppressed."""
        try:
            pre_send.send(sender=type(self), message=message)
        except CancelSend as cancel:
            logger.info("Send cancelled by a pre_send receiver: %s", cancel or "no reason given")
            return None
        except Exception as error:
            # Logged as a failure like any other (see _raise).
            raise SESPreSendError(error) from None
        request = build_request(
            message,
            default_configuration_set=self.config.configuration_set,
            default_tags=self.config.tags,
        )
        if self.config.suppression and not self._remove_suppressed(message, request):
            return None
        return request

    def _remove_suppressed(self, message, request: SendRequest) -> bool:
        """False (and a ``suppressed`` row) when every recipient is suppressed."""
        from .events.suppression import remove_suppressed

        if remove_suppressed(request, self.config.log_database):
            return True
        if self._log_writer is not None:
            self._log_writer.flush()  # the rows before it first, in order
        message.ses_log = write_log(self.config, message, request, status="suppressed")
        return False

    def _transmit(self, request: SendRequest) -> Response:
        """HTTP only (safe on a worker thread: no database access).

        Every attempt, retries included, waits for the send rate: SES counts
        each recipient of each request."""
        return self.client.call(request.action, body=request.body, recipients=request.recipient_count)

    def _finish(self, message, request, response=None, error=None) -> bool:
        """Log row and post_send, on the calling thread. True when sent.

        Inside send_messages() the row joins the batch's group (written
        before post_send fires); otherwise it is written at once."""
        if error is None:
            message.ses_message_id = response.result.message_id
            row = log_row(
                self.config,
                message,
                request,
                message_id=response.result.message_id,
                request_id=response.result.request_id,
                attempts=response.attempts,
                duration_ms=response.duration_ms,
            )
        else:
            row = log_row(
                self.config,
                message,
                request,
                attempts=getattr(error, "attempts", 0),
                duration_ms=getattr(error, "duration_ms", None),
                error=error,
            )
            # An operator should hear of it even when the caller asked for
            # silence; the caller's fail_silently only makes it less loud.
            logger.log(
                logging.WARNING if self.fail_silently else logging.ERROR,
                "Sending %r to %s failed: %s",
                str(message.subject or ""), ", ".join(str(r) for r in message.recipients()), error,
            )
        if self._log_writer is not None:
            self._log_writer.add(message, row, error)
        else:
            message.ses_log = None if row is None else save_row(self.config, row)
            self._post_send(message, message.ses_log, error)
        return error is None

    def _commit_due_rows(self) -> None:
        if self._log_writer is not None:
            self._log_writer.flush_if_due()

    def _post_send(self, message, log, error) -> None:
        try:
            post_send.send(sender=type(self), message=message, log=log, error=error)
        except Exception:
            logger.exception("A post_send receiver failed.")

    # Sending loops.

    @staticmethod
    def _raise(error: SESError):
        """Raise ``error``; for a pre_send receiver's failure, its own exception."""
        if isinstance(error, SESPreSendError):
            raise error.error from None
        raise error

    def _send_sequentially(self, messages) -> int:
        sent = 0
        for message in messages:
            self._commit_due_rows()
            request = None
            try:
                request = self._prepare(message)
                if request is None:
                    continue
                response = self._transmit(request)
            except SESError as error:
                self._finish(message, request, error=error)
                if not self.fail_silently:
                    self._raise(error)
                continue
            except (KeyboardInterrupt, SystemExit) as interruption:
                # Stopped after the request was written: SES may have sent it.
                if getattr(interruption, "ses_outcome_unknown", False):
                    self._finish(message, request, error=SESInterruptedError(interruption))
                raise
            sent += self._finish(message, request, response)
        return sent

    def _send_concurrently(self, messages) -> int:
        sent = 0
        first_error: SESError | None = None
        in_flight: dict[Future, tuple] = {}
        # Each request's future, as it completes (cheaper than wait() over
        # every future in flight at each completion).
        completed: SimpleQueue[Future] = SimpleQueue()
        pending = iter(messages)
        workers = min(self.config.max_concurrency, len(messages))
        with ThreadPoolExecutor(workers, thread_name_prefix="django_ses_query") as pool, ExitStack() as stack:
            # If something unexpected (a pre_send receiver's exception...) is
            # on its way out, the sends in flight still get their rows.
            stack.callback(self._drain, in_flight)
            while True:
                # Keep up to `workers` requests in flight until a failure
                # (when not failing silently) stops new sends.
                while len(in_flight) < workers and first_error is None:
                    message = next(pending, None)
                    if message is None:
                        break
                    try:
                        request = self._prepare(message)
                    except SESError as error:
                        self._finish(message, None, error=error)
                        if not self.fail_silently:
                            first_error = error
                        continue
                    if request is not None:
                        future = pool.submit(self._transmit, request)
                        in_flight[future] = (message, request)
                        future.add_done_callback(completed.put)
                if not in_flight:
                    break
                # Woken when the rows waiting are due, to commit them.
                timeout = self._log_writer.timeout() if self._log_writer is not None else None
                done = []
                try:
                    done.append(completed.get(timeout=timeout))
                    while not completed.empty():
                        done.append(completed.get_nowait())
                except Empty:
                    pass
                self._commit_due_rows()
                for future in done:
                    message, request = in_flight.pop(future)
                    try:
                        response = future.result()
                    except SESError as error:
                        self._finish(message, request, error=error)
                        if not self.fail_silently and first_error is None:
                            first_error = error
                        continue
                    sent += self._finish(message, request, response)
        if first_error is not None:
            self._raise(first_error)
        return sent

    def _drain(self, in_flight: dict[Future, tuple]) -> None:
        while in_flight:
            future, (message, request) = in_flight.popitem()
            try:
                response = future.result()
            except SESError as error:
                self._finish(message, request, error=error)
            except Exception:
                logger.exception("Sending %r failed unexpectedly.", str(message.subject or ""))
            else:
                self._finish(message, request, response)


def __getattr__(name: str):
    # QueuedEmailBackend lives in queued/ (imported on first use).
    if name == "QueuedEmailBackend":
        from .queued.backend import QueuedEmailBackend

        return QueuedEmailBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
