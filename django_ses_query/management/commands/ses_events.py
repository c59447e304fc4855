"""``manage.py ses_events``: store SES events read from an SQS queue.

Trusts the queue (its access policy decides who may send to it), not the
messages: each is an SNS envelope (checked as the webhook checks it: JSON,
shape, TopicArn and age; the signature too with ``--verify-signatures``) or
raw-delivery SES event JSON (refused with ``--verify-signatures``: it carries
no signature). A message is deleted only once its events are stored; one
that is malformed or refused is logged and left for the queue's redrive
policy. Values from the messages are logged escaped and cut. A ``Received``
notification (SES receiving) is handed to ``inbound/`` the same way
(``handoff``): deleted once stored, left when it cannot be now.
"""

from __future__ import annotations

import datetime
import logging
import signal
import time

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from ...conf import get_config
from ...logsafe import escaped, shown
from ...exceptions import SESError
from ._ses import one_line

logger = logging.getLogger("django_ses_query")

#: After a failed ReceiveMessage, wait this long before the next one.
RETRY_SECONDS = 5.0


class Command(BaseCommand):
    help = (
        "Read SES events (SNS envelopes or raw SES JSON) from an SQS queue and store them; "
        "with --once, drain the queue and exit, otherwise long-poll until SIGTERM or SIGINT."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--queue-url", metavar="URL", help="Default: SES_QUERY['EVENT_QUEUE_URL'].")
        parser.add_argument("--once", action="store_true", help="Drain what is in the queue, then exit.")
        parser.add_argument(
            "--wait", type=int, default=None, metavar="SECONDS",
            help="ReceiveMessage's WaitTimeSeconds, 0 to 20 (default: 20; 0 with --once).",
        )
        parser.add_argument(
            "--max-messages", type=int, default=10, metavar="N",
            help="Messages per ReceiveMessage, 1 to 10 (default 10).",
        )
        parser.add_argument(
            "--verify-signatures", action="store_true",
            help="Verify the SNS signature of every envelope (the certificate is fetched from "
            "SNS) and refuse raw-delivery messages.",
        )

    def handle(self, *args, **options) -> None:
        from ...events.sqs import SQSQueue

        try:
            config = get_config()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        queue_url = options["queue_url"] or config.event_queue_url
        if not queue_url:
            raise CommandError("No queue: pass --queue-url or set SES_QUERY['EVENT_QUEUE_URL'].")
        wait = options["wait"]
        if wait is None:
            wait = 0 if options["once"] else 20
        if not 0 <= wait <= 20:
            raise CommandError(f"--wait must be 0 to 20 seconds, not {wait}.")
        if not 1 <= options["max_messages"] <= 10:
            raise CommandError(f"--max-messages must be 1 to 10, not {options['max_messages']}.")
        self.config = config
        self.verify = options["verify_signatures"]
        self.stopping = False
        try:
            queue = SQSQueue(config, queue_url)
        except ValueError as error:
            raise CommandError(str(error)) from None

        previous = {}
        if not options["once"]:
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, self._stop)
        totals = {"events": 0, "messages": 0, "left": 0}
        try:
            with queue:
                while not self.stopping:
                    try:
                        messages = queue.receive(options["max_messages"], wait)
                    except SESError as error:
                        if options["once"]:
                            raise CommandError(f"SQS ReceiveMessage failed: {one_line(error)}") from None
                        logger.error("SQS ReceiveMessage failed: %s; retrying in %ss.", error, RETRY_SECONDS)
                        self._pause(RETRY_SECONDS)
                        continue
                    if not messages:
                        if options["once"]:
                            break
                        continue
                    self._batch(queue, messages, totals)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stdout.write(
            f"Stored {totals['events']} event(s) from {totals['messages']} message(s); "
            f"{totals['left']} message(s) left in the queue."
        )

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.2)

    def _stop(self, signum, frame) -> None:
        # The receive in progress ends by itself (at most --wait seconds);
        # the batch in hand is finished first.
        self.stopping = True
        logger.info("ses_events: stopping (signal %s).", signum)

    def _batch(self, queue, messages, totals) -> None:
        done = []
        for message in messages:
            try:
                stored = self._handle(message)
            except Exception as error:
                totals["left"] += 1
                expected = isinstance(error, (ValueError, _Refused, _Unavailable, _Left))
                level = logging.ERROR if not isinstance(error, (ValueError, _Refused, _Left)) else logging.WARNING
                logger.log(
                    level, "ses_events: SQS message %s left in the queue: %s",
                    shown(message.message_id), escaped(error), exc_info=not expected,
                )
                continue
            totals["events"] += stored
            totals["messages"] += 1
            done.append(message)
        if done:
            logger.info("ses_events: %d message(s) handled, %d new event(s) in all so far.",
                        len(done), totals["events"])
        try:
            failed = queue.delete(done)
        except SESError as error:
            logger.error("SQS DeleteMessageBatch failed (the events are stored; SQS will "
                         "deliver these messages again and they will be ignored): %s", error)
            return
        for message_id in failed:
            logger.error("SQS did not delete message %s (stored; it will be ignored next time).", message_id)

    def _handle(self, message) -> int:
        """Store the message's events; return how many were new."""
        from ...events import sns
        from ...events.certificates import CertificateUnavailable, verify_message

        data = sns.load_json(message.body, "the body")
        if not isinstance(data, dict):
            raise sns.MalformedMessage("the body is not a JSON object")
        if "Type" in data and "TopicArn" in data:
            sns.check_shape(data)
            try:
                sns.check_topic(data, self.config.event_topic_arns)
                sns.check_age(data, self.config.event_max_age_days, datetime.datetime.now(datetime.timezone.utc))
                if self.verify:
                    verify_message(data, min_version=self.config.event_min_signature_version)
            except sns.Refused as error:
                raise _Refused(str(error)) from None
            except CertificateUnavailable as error:
                raise _Unavailable(str(error)) from None
            if data["Type"] != sns.NOTIFICATION:
                logger.warning(
                    "ses_events: an SNS %s for %s arrived in the queue; confirm or remove the "
                    "subscription in the AWS console. Deleted from the queue.",
                    shown(data["Type"]), shown(data["TopicArn"]),
                )
                return 0
            payload = sns.load_json(data["Message"], "the SNS Message")
            return self._store(payload, data["MessageId"], data["TopicArn"])
        if self.verify:
            raise _Refused("a raw-delivery message carries no signature (--verify-signatures)")
        # Raw message delivery: the SES JSON itself, idempotent by SQS's id.
        return self._store(data, message.message_id, None)

    def _store(self, payload, message_id: str, topic_arn: str | None) -> int:
        from ... import handoff
        from ...events.store import store_payload

        handler = handoff.handler_for(payload)  # SES receiving's "Received": inbound mail.
        if handler is None:
            return len(store_payload(payload, message_id))
        handled = handler(payload, message_id, topic_arn)
        if not handled.done:
            raise _Left(handled.text)  # What went wrong is logged already.
        return handled.stored


class _Refused(Exception):
    pass


class _Unavailable(Exception):
    """The certificate cannot be had now: the message is tried again later."""


class _Left(Exception):
    """Not stored now (logged where it happened); left in the queue."""
