"""The SQS Query API calls the ``ses_events`` poller makes: ``ReceiveMessage``
and ``DeleteMessageBatch`` (``Version=2012-11-05``), POSTed to the queue URL
and signed with this package's SigV4 signer for service ``sqs``.

Trusts the queue URL (a setting or the command line). Checks the answers as
for SES: XML parsed with defusedxml, errors typed (``SESError``). The
credentials, proxies and CA bundle are the SES client's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..client import SESClient
from ..conf import Config
from ..exceptions import SESResponseError, SESTransportError
from ..query import CONTENT_TYPE, flatten
from ..signing import sign

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
    """One queue, called with the SES client's credentials and session."""

    def __init__(self, config: Config, queue_url: str) -> None:
        parts = urlsplit(queue_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"The queue URL {queue_url!r} is not an http(s) URL.")
        self.queue_url = queue_url
        self.region = region_of(queue_url, config.region)
        self.timeout = config.timeout
        self.client = SESClient(config)
        # The proxies and CA bundle that apply to the queue's host.
        self.client.endpoint_url = queue_url

    def __enter__(self) -> SQSQueue:
        self.client.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.client.close()

    def _call(self, action: str, params: dict, *, wait: float = 0):
        import defusedxml.ElementTree as SafeET
        import requests

        from ..responses import parse_error

        body = _form(action, params)
        headers = sign(
            method="POST", url=self.queue_url, headers={"Content-Type": CONTENT_TYPE}, body=body,
            credentials=self.client.credentials(), region=self.region, service="sqs",
        )
        try:
            response = self.client.session.post(
                self.queue_url, data=body, headers=headers, timeout=self.timeout + wait,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise SESTransportError(f"SQS {action} failed: {error}", code="ConnectionError") from None
        if not 200 <= response.status_code < 300:
            raise parse_error(response.content, response.status_code)
        try:
            return SafeET.fromstring(response.content, forbid_dtd=True)
        except Exception as error:
            raise SESResponseError(
                f"SQS {action}: the answer is not XML ({type(error).__name__}).",
                code="MalformedResponse", http_status=response.status_code,
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

