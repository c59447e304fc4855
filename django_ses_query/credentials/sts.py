"""AWS STS (Query API ``2011-06-15``): ``AssumeRole``, signed with this
package's SigV4 signer for service ``sts``, and ``AssumeRoleWithWebIdentity``,
which is unsigned (the web identity token is the proof).

Trusts the STS endpoint it is configured with (TLS does the rest); checks
the answer: parsed with defusedxml (no entities, no DTD), it must hold an
access key id, a secret, a session token and an expiration. Errors name the
action, the role and STS's error code and message, with anything sent as a
secret (the web identity token, the external id) taken out.

Endpoint: ``AWS_ENDPOINT_URL_STS``, else ``AWS_ENDPOINT_URL``, else the
regional ``https://sts.<region>.amazonaws.com`` (as botocore does today).
"""

from __future__ import annotations

import os
import time
from urllib.parse import urlencode

from .base import Credentials, credentials_error, parse_time, redact

API_VERSION = "2011-06-15"
CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
#: Sent as RoleSessionName when none is configured (with the time appended).
DEFAULT_SESSION_PREFIX = "django-ses-query"


def endpoint_url(region: str) -> str:
    override = os.environ.get("AWS_ENDPOINT_URL_STS") or os.environ.get("AWS_ENDPOINT_URL")
    if override:
        return override
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://sts.{region}.{suffix}"


def default_session_name() -> str:
    return f"{DEFAULT_SESSION_PREFIX}-{int(time.time())}"


def assume_role(
    credentials: Credentials,
    *,
    role_arn: str,
    region: str,
    session_name: str | None = None,
    external_id: str | None = None,
    duration: int | None = None,
    timeout: float = 10.0,
) -> Credentials:
    """Temporary credentials for ``role_arn``, asked with ``credentials``."""
    params = {"RoleArn": role_arn, "RoleSessionName": session_name or default_session_name()}
    if external_id:
        params["ExternalId"] = external_id
    if duration:
        params["DurationSeconds"] = str(duration)
    return _call(
        "AssumeRole", params, region=region, timeout=timeout, credentials=credentials,
        secrets=(external_id,),
    )


def assume_role_with_web_identity(
    token: str,
    *,
    role_arn: str,
    region: str,
    session_name: str | None = None,
    duration: int | None = None,
    timeout: float = 10.0,
) -> Credentials:
    """Temporary credentials for ``role_arn``, given an OIDC token."""
    params = {
        "RoleArn": role_arn,
        "RoleSessionName": session_name or default_session_name(),
        "WebIdentityToken": token,
    }
    if duration:
        params["DurationSeconds"] = str(duration)
    return _call(
        "AssumeRoleWithWebIdentity", params, region=region, timeout=timeout, secrets=(token,)
    )


def _call(
    action: str,
    params: dict[str, str],
    *,
    region: str,
    timeout: float,
    credentials: Credentials | None = None,
    secrets: tuple[str | None, ...] = (),
) -> Credentials:
    from ..exceptions import SESError
    from ..transport.endpoint import Endpoint

    url = endpoint_url(region)
    what = f"STS {action} for {params['RoleArn']} ({url})"
    body = urlencode({"Action": action, "Version": API_VERSION, **params}).encode("ascii")
    headers = {"Content-Type": CONTENT_TYPE}
    with Endpoint(url, timeout=timeout, service="STS") as endpoint:
        if credentials is not None:
            try:
                headers = endpoint.sign("POST", body, headers, credentials=credentials, region=region, service="sts")
            except ValueError as error:
                raise credentials_error(f"{what}: {error}.") from None
        try:
            response = endpoint.request("POST", body, headers)
        except SESError as error:
            raise credentials_error(f"{what} failed: {error.code}: {redact(str(error)[:300], *secrets)}") from None
    content = response.content
    if response.status != 200:
        code, message = _error(content)
        text = f"{code}: {message}" if message else code
        raise credentials_error(
            f"{what} was refused: {redact(text, *secrets)} (HTTP {response.status})."
        )
    return _parse(content, what)


def _elements(content: bytes, what: str):
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        root = fromstring(content)
    except (ParseError, DefusedXmlException, ValueError):
        raise credentials_error(f"{what}: the answer is not XML that can be read safely.") from None
    return {element.tag.rpartition("}")[2]: (element.text or "").strip() for element in root.iter()}


def _error(content: bytes) -> tuple[str, str]:
    try:
        found = _elements(content, "")
    except Exception:
        return "UnknownError", ""
    return found.get("Code") or "UnknownError", " ".join(found.get("Message", "").split())[:300]


def _parse(content: bytes, what: str) -> Credentials:
    found = _elements(content, what)
    missing = [
        name for name in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration") if not found.get(name)
    ]
    if missing:
        raise credentials_error(f"{what}: the answer has no {', '.join(missing)}.")
    try:
        expiration = parse_time(found["Expiration"])
    except ValueError:
        raise credentials_error(f"{what}: the answer's Expiration is not an ISO 8601 time.") from None
    return Credentials(found["AccessKeyId"], found["SecretAccessKey"], found["SessionToken"], expiration)


def get_caller_identity(credentials: Credentials, *, url: str, region: str, timeout: float) -> dict[str, str]:
    """``sts:GetCallerIdentity`` (who these credentials are): the answer's
    values, or an :class:`~django_ses_query.exceptions.SESError` as for an
    SES call (``AccessDenied``, ``InvalidClientTokenId``, not sent...)."""
    from ..responses import parse_error, parse_result
    from ..transport.endpoint import Endpoint

    body = f"Action=GetCallerIdentity&Version={API_VERSION}".encode("ascii")
    with Endpoint(url, timeout=timeout, service="STS") as endpoint:
        answer = endpoint.signed_request(
            "POST", body, {"Content-Type": CONTENT_TYPE}, credentials=credentials, region=region, service="sts"
        )
    if not answer.ok:
        raise parse_error(answer.content, answer.status)
    return parse_result("GetCallerIdentity", answer.content, answer.status).values
