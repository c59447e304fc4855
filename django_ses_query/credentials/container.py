"""Credentials from the container credentials endpoint (ECS task roles, EKS
Pod Identity).

Trusts the endpoint named by ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``
(against ``http://169.254.170.2``) or ``AWS_CONTAINER_CREDENTIALS_FULL_URI``;
checks that a full URI is https or goes to a host botocore allows (loopback,
the ECS and EKS link-local addresses), that the authorization token (from
``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``, read at each fetch, or
``AWS_CONTAINER_AUTHORIZATION_TOKEN``) fits in one header line, and that the
answer is a JSON object with both keys and an ISO 8601 expiration. The
answer's body is never shown: it holds the secret.
"""

from __future__ import annotations

import ipaddress
import json
import os
from urllib.parse import urlsplit

from ..transport import plain
from .base import Credentials, NoCredentials, credentials_error, from_mapping, redact

#: The ECS agent's credentials endpoint, for the relative URI.
ECS_ENDPOINT = "http://169.254.170.2"
#: The ECS and EKS Pod Identity agents' addresses (full URIs, plain HTTP).
ALLOWED_HOSTS = frozenset({"169.254.170.2", "169.254.170.23", "fd00:ec2::23", "localhost"})
TIMEOUT = 2.0  # seconds, as botocore
ATTEMPTS = 3


def _allowed(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    if parts.scheme != "http" or not parts.hostname:
        return False
    host = parts.hostname
    if host in ALLOWED_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint() -> str | None:
    """The URL to ask, None when neither variable is set; raises when the
    full URI goes somewhere not allowed."""
    relative = os.environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    if relative:
        return ECS_ENDPOINT + (relative if relative.startswith("/") else "/" + relative)
    full = os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if full:
        if not _allowed(full):
            raise credentials_error(
                f"AWS_CONTAINER_CREDENTIALS_FULL_URI {full!r} is not allowed: it must be https, "
                "or http to a loopback address, 169.254.170.2, 169.254.170.23 or fd00:ec2::23.",
                "InvalidCredentialsConfig",
            )
        return full
    return None


def _authorization() -> str | None:
    path = os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                token = file.read().strip()
        except (OSError, UnicodeDecodeError) as error:
            raise credentials_error(
                f"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {path!r} cannot be read "
                f"({getattr(error, 'strerror', None) or type(error).__name__})."
            ) from None
    else:
        token = os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") or None
    if token is not None and any(c in token for c in "\r\n\0"):
        raise credentials_error("The container authorization token holds a line break.", "InvalidCredentialsConfig")
    return token


class ContainerSource:
    name = "container"
    source = "container"

    def load(self) -> Credentials:
        url = endpoint()
        if url is None:
            raise NoCredentials(
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not set"
            )
        headers = {"Accept": "application/json"}
        token = _authorization()
        if token:
            headers["Authorization"] = token
        what = f"The container credentials endpoint {url}"
        try:
            answer = plain.request("GET", url, headers=headers, timeout=TIMEOUT, attempts=ATTEMPTS)
        except plain.Unreachable as why:
            raise credentials_error(f"{what} did not answer ({why}).") from None
        if answer.status != 200:
            said = redact(_said(answer.body), token)  # Should it echo the token.
            raise credentials_error(f"{what} answered HTTP {answer.status}{said}.")
        try:
            data = json.loads(answer.body)
        except ValueError:
            raise credentials_error(f"{what} answered with malformed JSON.") from None
        return from_mapping(data, what, token_key="Token")


def _said(body: bytes) -> str:
    """The error's code and message (ECS answers ``{"code": ..., "message": ...}``)."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    text = " ".join(str(data.get(k, "")) for k in ("code", "message") if isinstance(data.get(k), str))
    return f": {' '.join(text.split())[:200]}" if text.strip() else ""
