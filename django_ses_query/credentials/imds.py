"""Credentials from the EC2 instance metadata service (IMDSv2).

A PUT for a session token, then GET the instance's role name, then GET its
credentials. An IMDS that refuses the PUT with 403, 404 or 405 only knows
IMDSv1: the GETs are then sent without a token, as botocore does, unless
``AWS_EC2_METADATA_V1_DISABLED=true``.

Trusts the endpoint (``AWS_EC2_METADATA_SERVICE_ENDPOINT``, default
``http://169.254.169.254``; ``http://[fd00:ec2::254]`` with
``AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6``); checks that the role name
is one printable line and that the credentials are a JSON object with
``Code`` ``Success``, both keys and an ISO 8601 expiration. The token and the
answer's body are never shown.

Timeouts are ``AWS_METADATA_SERVICE_TIMEOUT`` (1 s) with
``AWS_METADATA_SERVICE_NUM_ATTEMPTS`` (1) attempts, as in botocore. An
endpoint that does not answer (refused, timed out) is not asked again for
``REMEMBER_UNREACHABLE`` seconds, so a machine that is not on EC2 waits for
it at most once a minute, and a process started before the service answered
gets its credentials within a minute. ``AWS_EC2_METADATA_DISABLED=true``
skips the step.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from urllib.parse import quote

from ..transport import plain
from .base import Credentials, NoCredentials, credentials_error, from_mapping

DEFAULT_ENDPOINT = "http://169.254.169.254"
IPV6_ENDPOINT = "http://[fd00:ec2::254]"
TOKEN_PATH = "/latest/api/token"
ROLE_PATH = "/latest/meta-data/iam/security-credentials/"
TOKEN_TTL = "21600"  # seconds

#: Seconds an endpoint that did not answer is not asked again.
REMEMBER_UNREACHABLE = 60.0

#: Monotonic seconds, for how long ago an endpoint failed (replaced by tests).
clock: Callable[[], float] = time.monotonic

_unreachable: dict[str, float] = {}  # endpoint → when it did not answer
_unreachable_lock = threading.Lock()


def _true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() == "true"


def disabled() -> bool:
    return _true("AWS_EC2_METADATA_DISABLED")


def endpoint() -> str:
    configured = os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
    if configured:
        return configured.rstrip("/")
    if os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "").strip().lower() == "ipv6":
        return IPV6_ENDPOINT
    return DEFAULT_ENDPOINT


def _number(name: str, default: float, kind=float):
    try:
        value = kind(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


def forget_unreachable() -> None:
    """Try unreachable endpoints again (for tests)."""
    with _unreachable_lock:
        _unreachable.clear()


def _remember_unreachable(base: str) -> None:
    with _unreachable_lock:
        _unreachable[base] = clock()


def _unreachable_since(base: str) -> float | None:
    """How many seconds ago ``base`` did not answer, if that is recent
    enough to not ask it again; None otherwise (the failure is forgotten)."""
    with _unreachable_lock:
        failed = _unreachable.get(base)
        if failed is None:
            return None
        age = clock() - failed
        if 0 <= age < REMEMBER_UNREACHABLE:
            return age
        del _unreachable[base]
        return None


class InstanceMetadataSource:
    name = "instance-metadata"

    def __init__(self) -> None:
        self.role: str | None = None

    @property
    def source(self) -> str:
        return f"instance-metadata (role {self.role!r})" if self.role else "instance-metadata"

    def load(self) -> Credentials:
        if disabled():
            raise NoCredentials("AWS_EC2_METADATA_DISABLED is true")
        base = endpoint()
        # Once credentials came from here, a refresh always asks again.
        first = self.role is None
        age = _unreachable_since(base) if first else None
        if age is not None:
            raise NoCredentials(
                f"{base} did not answer earlier in this process ({age:.0f} s ago; "
                f"asked again {REMEMBER_UNREACHABLE:g} s after)"
            )
        timeout = _number("AWS_METADATA_SERVICE_TIMEOUT", 1.0)
        attempts = _number("AWS_METADATA_SERVICE_NUM_ATTEMPTS", 1, int)

        def call(method: str, path: str, headers: dict[str, str]) -> plain.Answer:
            try:
                return plain.request(method, base + path, headers=headers, timeout=timeout, attempts=attempts)
            except plain.Unreachable as why:
                if first:
                    _remember_unreachable(base)
                raise NoCredentials(f"{base} did not answer ({why}; not on EC2?)") from None

        headers: dict[str, str] = {}
        answer = call("PUT", TOKEN_PATH, {"X-aws-ec2-metadata-token-ttl-seconds": TOKEN_TTL})
        if answer.status == 200 and answer.body.strip():
            headers["X-aws-ec2-metadata-token"] = answer.body.decode("ascii", "replace").strip()
        elif answer.status in (403, 404, 405) and not _true("AWS_EC2_METADATA_V1_DISABLED"):
            pass  # Only IMDSv1 here.
        else:
            raise NoCredentials(f"{base} refused an IMDSv2 token (HTTP {answer.status})")

        answer = call("GET", ROLE_PATH, headers)
        if answer.status == 404:
            raise NoCredentials(f"{base}: no IAM role is attached to this instance")
        if answer.status != 200:
            raise credentials_error(f"The instance metadata service {base} answered HTTP {answer.status} for the role name.")
        lines = answer.body.decode("utf-8", "replace").split()
        role = lines[0] if lines else ""
        if not role or not role.isprintable() or "/" in role:
            raise credentials_error(f"The instance metadata service {base} answered without a usable role name.")
        self.role = role
        what = f"The instance metadata service {base} (role {role!r})"

        answer = call("GET", ROLE_PATH + quote(role, safe=""), headers)
        if answer.status != 200:
            raise credentials_error(f"{what} answered HTTP {answer.status} for the credentials.")
        try:
            data = json.loads(answer.body)
        except ValueError:
            raise credentials_error(f"{what} answered with malformed JSON.") from None
        if isinstance(data, dict) and data.get("Code", "Success") != "Success":
            code = str(data.get("Code"))[:60]
            raise credentials_error(f"{what} answered Code {code!r} instead of Success.")
        return from_mapping(data, what, token_key="Token", need_expiration=True)
