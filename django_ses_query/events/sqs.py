"""The SQS Query API calls the ``ses_events`` poller makes: ``ReceiveMessage``
and ``DeleteMessageBatch`` (``Version=2012-11-05``), POSTed to the queue URL
and signed with this package's SigV4 signer for service ``sqs``.

Trusts the queue URL (a setting or the command line). Checks the answers as
for SES: XML parsed with defusedxml, errors typed (``SESError``). The
credentials are the settings' (the same chain as for SES); the call goes
through the transport, with the queue host's proxies and CA bundle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.views.decorators.debug import sensitive_variables

from ..conf import Config
from ..exceptions import SESResponseError
from ..query import CONTENT_TYPE, flatten

API_VERSION = "2012-11-05"
_REGION_HOSTS = (
    re.compile(r"sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\Z"),
    re.compile(r"([a-z0-9-]+)\.queue\.amazonaws\.com(?:\.cn)?\Z"),
)


@dataclass
class QueueMessage:
    message_id: str
    receipt_handle: str
    body: str


def region_of(queue_url: str, default: str) -> str:
    """The region in an AWS queue URL's host, else ``default``."""
    host = urlsplit(queue_url).hostname or ""
    for pattern in _REGION_HOSTS:
        match = pattern.match(host)
        if match:
            return match.group(1)
    return default


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _form(action: str, params: dict) -> bytes:
    from urllib.parse import urlencode

    return urlencode([("Action", action), ("Version", API_VERSION), *flatten(params)]).encode("ascii")


class SQSQueue:
    """One queue, called with the settings' credentials and the transport."""

    def __init__(self, config: Config, queue_url: str) -> None:
        from ..credentials import provider_for
        from ..transport.endpoint import Endpoint

        parts = urlsplit(queue_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"The queue URL {queue_url!r} is not an http(s) URL.")
        self.queue_url = queue_url
        self.region = region_of(queue_url, config.region)
        self.credentials_provider = provider_for(config)
        # The proxies and CA bundle that apply to the queue's host.
        self.endpoint = Endpoint(queue_url, timeout=config.timeout, service="SQS")

    def __enter__(self) -> SQSQueue:
        self.endpoint.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.endpoint.close()

    @sensitive_variables()
    def _call(self, action: str, params: dict, *, wait: float = 0):
        import defusedxml.ElementTree as SafeET

        from ..credentials.base import usable_credentials
        from ..responses import parse_error

        body = _form(action, params)
        answer = self.endpoint.signed_request(
            "POST", body, {"Content-Type": CONTENT_TYPE},
            credentials=usable_credentials(self.credentials_provider), region=self.region, service="sqs",
            timeout=self.endpoint.timeout + wait,
        )
        if not answer.ok:
            raise parse_error(answer.content, answer.status)
        try:
            return SafeET.fromstring(answer.content, forbid_dtd=True)
        except Exception as error:
            raise SESResponseError(
                f"SQS {action}: the answer is not XML ({type(error).__name__}).",
                code="MalformedResponse", http_status=answer.status,
            ) from None

    def receive(self, max_messages: int = 10, wait_seconds: int = 0) -> list[QueueMessage]:
        root = self._call(
            "ReceiveMessage",
            {"MaxNumberOfMessages": max_messages, "WaitTimeSeconds": wait_seconds},
            wait=wait_seconds,
        )
        messages = []
        for node in root.iter():
            if _local(node.tag) != "Message":
                continue
            fields = {_local(child.tag): child.text or "" for child in node}
            if "ReceiptHandle" in fields:
                messages.append(
                    QueueMessage(fields.get("MessageId", ""), fields["ReceiptHandle"], fields.get("Body", ""))
                )
        return messages

    def delete(self, messages: list[QueueMessage]) -> list[str]:
        """Delete up to 10 messages; return the MessageIds SQS did not delete."""
        if not messages:
            return []
        entries = [{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(messages)]
        params = {}
        for index, entry in enumerate(entries, start=1):
            for name, value in entry.items():
                params[f"DeleteMessageBatchRequestEntry.{index}.{name}"] = value
        root = self._call("DeleteMessageBatch", params)
        failed = []
        for node in root.iter():
            if _local(node.tag) == "BatchResultErrorEntry":
                fields = {_local(child.tag): child.text or "" for child in node}
                if fields.get("Id", "").isdigit() and int(fields["Id"]) < len(messages):
                    failed.append(messages[int(fields["Id"])].message_id)
        return failed

