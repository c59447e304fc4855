"""The S3 action's object: fetched with a signed ``HEAD`` then ``GET``.

Trusts the bucket and key (from a receipt the receiver verified), not the
answers: the object's size (``Content-Length``) is checked against
``INBOUND_MAX_BYTES`` before it is downloaded, and its metadata for
client-side encryption (an S3 action with a KMS key), which is never
decrypted here. Every call goes through the transport
(``transport.endpoint.Endpoint``), signed with this package's SigV4 signer
for service ``s3`` and the settings' credentials chain; the proxies and CA
bundle are the environment's, as for SES.

Where: ``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL`` (as botocore
reads them), path-style; otherwise ``https://BUCKET.s3.REGION.amazonaws.com``
(path-style on ``s3.REGION`` for a bucket name with dots, which no
certificate covers). Never ``ENDPOINT_URL``, which is SES's.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from django.views.decorators.debug import sensitive_variables

from ..conf import Config
from ..exceptions import SESError
from ..signing import s3_path

#: Metadata S3 encryption clients (SES's KMS option among them) leave on an
#: object they encrypted: its wrapped key, and the content cipher.
ENCRYPTION_METADATA = ("x-amz-meta-x-amz-key-v2", "x-amz-meta-x-amz-key")
CIPHER_METADATA = "x-amz-meta-x-amz-cek-alg"

_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")


class ObjectUnavailable(Exception):
    """The object could not be read now (404, 403, 5xx, network): try again
    later. The message names the bucket, key and S3's code."""


#: How much of an answer that is not the object (an error) is read.
ERROR_BYTES = 64 * 1024


class ClientSideEncrypted(Exception):
    """The object is encrypted by an S3 encryption client: never readable here."""


@dataclass
class S3Object:
    size: int | None
    #: The bytes; None when not downloaded (larger than the limit).
    data: bytes | None


def object_url(bucket: str, key: str, region: str) -> str:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        return endpoint.rstrip("/") + s3_path(bucket, key)
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    if "." in bucket:
        return f"https://s3.{region}.{suffix}" + s3_path(bucket, key)
    return f"https://{bucket}.s3.{region}.{suffix}" + s3_path(key)


def _code(content: bytes, status: int) -> str:
    match = _CODE.search(content or b"")
    return match.group(1).decode("ascii", "replace") if match else f"HTTP {status}"


@sensitive_variables()
def fetch(config: Config, bucket: str, key: str, region: str, max_bytes: int) -> S3Object:
    """The object, or its size alone when it is over ``max_bytes``."""
    from ..credentials import provider_for
    from ..credentials.base import usable_credentials
    from ..transport.endpoint import Endpoint

    where = f"s3://{bucket}/{key}"
    try:
        credentials = usable_credentials(provider_for(config))
        with Endpoint(object_url(bucket, key, region), timeout=config.timeout, service="S3") as endpoint:

            def call(method: str, limit: int):
                return endpoint.signed_request(
                    method, b"", {}, credentials=credentials, region=region, service="s3", max_bytes=limit,
                )

            head = call("HEAD", ERROR_BYTES)
            if not head.ok:
                answer = call("GET", ERROR_BYTES)  # HEAD has no body: the GET's names S3's code.
                status = answer.status if not answer.ok else head.status
                raise ObjectUnavailable(
                    f"{where} could not be read: {_code(answer.content, status)} (HTTP {status})"
                )
            metadata = {name.lower(): value for name, value in head.headers.items()}
            if any(name in metadata for name in ENCRYPTION_METADATA):
                raise ClientSideEncrypted(
                    f"{where} is client-side encrypted with KMS ({metadata.get(CIPHER_METADATA, 'unknown cipher')}), "
                    "which django-ses-query does not decrypt: remove the KMS key from the receipt "
                    "rule's S3 action (S3's own server-side encryption is read as usual)"
                )
            length = metadata.get("content-length", "")
            size = int(length) if length.isdigit() else None
            if size is not None and size > max_bytes:
                return S3Object(size, None)
            try:
                answer = call("GET", max_bytes)
            except SESError as error:
                if error.code != "AnswerTooLarge":
                    raise
                return S3Object(size, None)  # Over the limit: not read further.
            if not answer.ok:
                raise ObjectUnavailable(
                    f"{where} could not be read: {_code(answer.content, answer.status)} (HTTP {answer.status})"
                )
            if len(answer.content) > max_bytes:
                return S3Object(len(answer.content), None)
            return S3Object(len(answer.content), answer.content)
    except SESError as error:
        code = getattr(error, "code", None) or type(error).__name__
        raise ObjectUnavailable(f"{where} could not be read: {code}: {error}") from None
