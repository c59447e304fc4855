"""A local Amazon SES: moto's server, with SigV4 signature checking switched on.

::

    with MotoSES() as ses:
        ses.verify_email_identity("from@example.com")
        # point the backend at ses.endpoint_url with ses.access_key_id /
        # ses.secret_access_key, send, then look at ses.sent_messages()

Needs ``moto[server]``, ``botocore`` and ``requests``; nothing from this
package, so it can check this package's signer independently.

How it works
------------
The server starts with ``INITIAL_NO_AUTH_ACTION_COUNT=3``: moto skips
authentication for the first three AWS requests and checks every later one.
Those three build the credentials: IAM ``CreateUser``, ``PutUserPolicy``
(``ses:*`` on ``*``) and ``CreateAccessKey``. Requests to ``/moto-api/...`` are
not AWS actions and never count.

What moto answers (moto 5.2.5)
------------------------------
Errors from its auth layer are ``403`` with ``Content-Type: text/html`` and
``<ErrorResponse><Errors><Error><Code>…</Code><Message>…</Message>
<Type>Sender</Type></Error></Errors></ErrorResponse>``: no namespace, no
RequestId.

* wrong secret, or a Host header other than the one signed:
  ``SignatureDoesNotMatch``;
* unknown access key, or a key sent with a session token it does not own:
  ``InvalidClientTokenId``;
* signed for service ``email`` instead of ``ses``: ``AccessDenied``
  ("... is not authorized to perform: email:SendEmail"), since the user's
  policy only allows ``ses:*``;
* no Authorization header at all, or ``host`` missing from SignedHeaders:
  ``500`` with an HTML page.

SES-level errors are ``400``, ``text/xml``, in SES's own shape
(``<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error>
<Type>Sender</Type><Code>MessageRejected</Code><Message>…</Message></Error>
<RequestId>…</RequestId></ErrorResponse>``):

* unverified sender on SendEmail: "Email address not verified ADDRESS";
* unverified sender on SendRawEmail: "Did not have authority to send from
  email ADDRESS";
* more than 50 recipients (To + Cc + Bcc, or ``Destinations`` plus the
  message's own To/Cc/Bcc headers for SendRawEmail): "Too many recipients.".

Identities live per region: an address verified in us-east-1 is unverified
for a request signed for eu-west-1.

What the server recorded
------------------------
``GET /moto-api/data.json`` returns every model moto holds, all regions and
accounts together. Sent mail is under ``["ses"]["Message"]`` and
``["ses"]["RawMessage"]``, in sending order within each list::

    # SendEmail
    {"id": "<MessageId returned to the sender>",
     "source": "from@example.com",
     "subject": "Hi",
     "body": "<p>html</p>",      # the Html part if there was one, else Text
     "destinations": {"ToAddresses": [...], "CcAddresses": [...],
                      "BccAddresses": [...]}}   # only the keys that were sent

    # SendRawEmail
    {"id": "<MessageId>",
     "source": "from@example.com",   # Source, else the From header
     "raw_data": "From: ...\\r\\nTo: ...\\r\\n\\r\\nbody\\r\\n",  # decoded text
     "destinations": ["extra@example.net", "a@example.net", ...]}
     # Destinations.member.N first, then the To/Cc/Bcc header addresses

ReplyTo, ReturnPath, Charset, ConfigurationSetName and Tags are not recorded.

Resetting
---------
``POST /moto-api/reset`` wipes every backend, IAM included, but leaves the
authentication counter alone: the three free requests are spent, so every
request signed with the old key gets ``InvalidClientTokenId`` and nothing
can create a new one. :meth:`MotoSES.reset` does only that;
:meth:`MotoSES.reset_ses` wipes and then rebuilds the same user with the
*same* key and secret (moto's random generator is re-seeded with the value
used the first time, ``/moto-api/seed``) and re-verifies the identities
verified through this object.

Temporary credentials
---------------------
moto checks ``X-Amz-Security-Token`` only for keys issued by STS AssumeRole:
the token must equal the issued one (missing or different:
``InvalidClientTokenId``), though moto does not require it to be among the
signed headers. A token sent with a long-term ``AKIA`` key is rejected with
``InvalidClientTokenId``. STS GetSessionToken returns fixed example
credentials that IAM does not know, so they are always
``InvalidClientTokenId``. :meth:`MotoSES.temporary_credentials` uses
AssumeRole on a role allowed ``ses:*``.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping
from typing import IO, Any
from urllib.parse import urlencode

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

IAM_VERSION = "2010-05-08"
STS_VERSION = "2011-06-15"
ACCOUNT_ID = "123456789012"  # moto's default account

USER_NAME = "ses-sender"
ROLE_NAME = "ses-sender-role"
SES_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ses:*", "Resource": "*"}],
    }
)
TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)

# Any credentials do for the requests moto does not authenticate.
_ANONYMOUS = ("AKIAIOSFODNN7EXAMPLE", "bootstrap-secret-not-checked")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def xml_text(tag: str, body: str) -> str:
    match = re.search(rf"<{tag}>([^<]*)</{tag}>", body)
    if match is None:
        raise RuntimeError(f"moto's answer has no <{tag}>: {body[:500]}")
    return match.group(1)


class MotoSES:
    """moto's server in a child process, answering as SES with auth enforced."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        region: str = "us-east-1",
        *,
        startup_timeout: float = 30.0,
    ) -> None:
        self.host = host
        self._auto_port = port is None
        self.port = free_port(host) if port is None else port
        self.region = region
        self.startup_timeout = startup_timeout
        self.access_key_id = ""
        self.secret_access_key = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._http = self._new_session()
        self._seed = 0
        self._auth_enabled = True
        self._emails: list[str] = []
        self._domains: list[str] = []
        self._role_ready = False

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (
            f"<MotoSES {self.endpoint_url} {state} region={self.region!r} "
            f"access_key_id={self.access_key_id!r}>"
        )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> MotoSES:
        if self._process is not None:
            raise RuntimeError("MotoSES is already started")
        attempts = 3 if self._auto_port else 1
        for attempt in range(attempts):
            try:
                self._spawn()
                self._wait_until_up()
                break
            except RuntimeError as exc:
                address_taken = "Address already in use" in str(exc)
                self.stop()
                if not address_taken or attempt == attempts - 1:
                    raise
                self.port = free_port(self.host)
        atexit.register(self.stop)
        try:
            self._seed = self._new_seed()
            self._bootstrap()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            atexit.unregister(self.stop)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._http.close()

    def __enter__(self) -> MotoSES:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spawn(self) -> None:
        self._log = tempfile.TemporaryFile()
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")
        command = [sys.executable, "-m", "moto.server"]
        command += ["-H", self.host, "-p", str(self.port)]
        # The log goes to a file: an unread pipe would fill up and block moto.
        self._process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._http.close()
        self._http = self._new_session()

    @staticmethod
    def _new_session() -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # No HTTP(S)_PROXY for a server on this machine.
        return session

    def _wait_until_up(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"moto server exited with status {self._process.returncode}"
                    f" before answering on {self.endpoint_url}:\n{self.log_tail()}"
                )
            try:
                response = self._http.get(
                    f"{self.endpoint_url}/moto-api/data.json", timeout=2
                )
            except requests.RequestException:
                pass
            else:
                # Checking the process again rules out another server that
                # already held the port.
                if response.status_code == 200 and self._process.poll() is None:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"moto server did not answer on {self.endpoint_url} within "
                    f"{self.startup_timeout:g}s:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines moto wrote to stdout/stderr."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace")
        self._log.seek(0, os.SEEK_END)
        return "\n".join(text.splitlines()[-lines:])

    # -- signed requests ---------------------------------------------------

    def signed_post(
        self,
        params: Mapping[str, str],
        *,
        service: str = "ses",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        signing_service: str | None = None,
        region: str | None = None,
    ) -> requests.Response:
        """POST a Query API request signed with botocore's SigV4.

        Defaults to this server's key; ``service`` picks the credential scope
        unless ``signing_service`` overrides it.
        """
        key = self.access_key_id if access_key_id is None else access_key_id
        secret = (
            self.secret_access_key if secret_access_key is None else secret_access_key
        )
        body = urlencode(params).encode("ascii")
        url = f"{self.endpoint_url}/"
        request = AWSRequest(
            method="POST",
            url=url,
            data=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"
            },
        )
        SigV4Auth(
            Credentials(key, secret, session_token),
            signing_service or service,
            region or self.region,
        ).add_auth(request)
        # Sends the Host header botocore signed (taken from the same URL).
        headers = dict(request.prepare().headers)
        return self._http.post(url, data=body, headers=headers, timeout=30)

    def _checked(
        self, params: Mapping[str, str], *, service: str = "ses", **kwargs: Any
    ) -> str:
        response = self.signed_post(params, service=service, **kwargs)
        if response.status_code != 200:
            raise RuntimeError(
                f"{service} {params.get('Action')} failed: "
                f"HTTP {response.status_code}: {response.text[:1000]}"
            )
        return response.text

    def _api(self, path: str, data: str | None = None) -> requests.Response:
        response = self._http.post(f"{self.endpoint_url}{path}", data=data, timeout=30)
        response.raise_for_status()
        return response

    # -- IAM ---------------------------------------------------------------

    @staticmethod
    def _new_seed() -> int:
        return random.SystemRandom().randrange(1, 2**31)

    def _bootstrap(self) -> None:
        """Spend the three unauthenticated requests on an IAM user and key."""
        key, secret = _ANONYMOUS
        anonymous = {"access_key_id": key, "secret_access_key": secret}
        # Seeding first makes the key reproducible after a reset (reset_ses).
        self._api(f"/moto-api/seed?a={self._seed}")
        self._checked(
            {"Action": "CreateUser", "UserName": USER_NAME, "Version": IAM_VERSION},
            service="iam",
            **anonymous,
        )
        self._checked(
            {
                "Action": "PutUserPolicy",
                "UserName": USER_NAME,
                "PolicyName": "ses-all",
                "PolicyDocument": SES_POLICY,
                "Version": IAM_VERSION,
            },
            service="iam",
            **anonymous,
        )
        body = self._checked(
            {
                "Action": "CreateAccessKey",
                "UserName": USER_NAME,
                "Version": IAM_VERSION,
            },
            service="iam",
            **anonymous,
        )
        self.access_key_id = xml_text("AccessKeyId", body)
        self.secret_access_key = xml_text("SecretAccessKey", body)
        # Fresh randomness from here on, so MessageIds do not repeat across
        # reset_ses() calls.
        self._api(f"/moto-api/seed?a={self._new_seed()}")

    def set_auth(self, enabled: bool) -> None:
        """Turn signature checking on or off (``/moto-api/reset-auth``).

        Off: moto accepts anything, signed or not. On: every request must be
        signed by a key moto's IAM knows.
        """
        self._api("/moto-api/reset-auth", "0" if enabled else "inf")
        self._auth_enabled = enabled

    def temporary_credentials(self) -> tuple[str, str, str]:
        """``(access_key_id, secret_access_key, session_token)`` from AssumeRole.

        The role is allowed ``ses:*``. Each call issues new credentials;
        reset() and reset_ses() invalidate them.
        """
        auth_was_enabled = self._auth_enabled
        # The user may only use SES; IAM and STS calls go in with checks off.
        self.set_auth(False)
        try:
            if not self._role_ready:
                self._checked(
                    {
                        "Action": "CreateRole",
                        "RoleName": ROLE_NAME,
                        "AssumeRolePolicyDocument": TRUST_POLICY,
                        "Version": IAM_VERSION,
                    },
                    service="iam",
                )
                self._checked(
                    {
                        "Action": "PutRolePolicy",
                        "RoleName": ROLE_NAME,
                        "PolicyName": "ses-all",
                        "PolicyDocument": SES_POLICY,
                        "Version": IAM_VERSION,
                    },
                    service="iam",
                )
                self._role_ready = True
            body = self._checked(
                {
                    "Action": "AssumeRole",
                    "RoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE_NAME}",
                    "RoleSessionName": "ses-sender-session",
                    "Version": STS_VERSION,
                },
                service="sts",
            )
        finally:
            self.set_auth(auth_was_enabled)
        return (
            xml_text("AccessKeyId", body),
            xml_text("SecretAccessKey", body),
            xml_text("SessionToken", body),
        )

    # -- SES ---------------------------------------------------------------

    def verify_email_identity(self, address: str) -> None:
        self._checked({"Action": "VerifyEmailIdentity", "EmailAddress": address})
        if address not in self._emails:
            self._emails.append(address)

    def verify_domain_identity(self, domain: str) -> None:
        self._checked({"Action": "VerifyDomainIdentity", "Domain": domain})
        if domain not in self._domains:
            self._domains.append(domain)

    def sent_messages(self) -> list[dict[str, Any]]:
        """Every message moto accepted, SendEmail ones first, each with a "kind".

        "kind" is "Message" (SendEmail) or "RawMessage" (SendRawEmail); see the
        module docstring for the other keys.
        """
        response = self._http.get(f"{self.endpoint_url}/moto-api/data.json", timeout=30)
        response.raise_for_status()
        ses = response.json().get("ses", {})
        return [
            {**message, "kind": kind}
            for kind in ("Message", "RawMessage")
            for message in ses.get(kind, [])
        ]

    # -- resetting ---------------------------------------------------------

    def reset(self) -> None:
        """Wipe all of moto's state (``/moto-api/reset``), IAM included.

        Afterwards the stored key is unknown to moto (403 InvalidClientTokenId)
        and no unauthenticated requests are left; call reset_ses() or
        set_auth(False) to get working again.
        """
        self._api("/moto-api/reset")
        self._emails.clear()
        self._domains.clear()
        self._role_ready = False

    def reset_ses(self) -> None:
        """Wipe all state, keeping the same key, secret and verified identities.

        Sent messages, configuration sets and identities verified other than
        through this object are gone; temporary credentials stop working.
        """
        emails, domains = list(self._emails), list(self._domains)
        old_key = (self.access_key_id, self.secret_access_key)
        self.reset()
        # Gives back three unauthenticated requests for the bootstrap.
        self._api("/moto-api/reset-auth", "3")
        self._bootstrap()
        if (self.access_key_id, self.secret_access_key) != old_key:
            warnings.warn(
                "moto issued a different access key after reset; "
                "re-read MotoSES.access_key_id and secret_access_key",
                RuntimeWarning,
                stacklevel=2,
            )
        if not self._auth_enabled:
            self.set_auth(False)
        for address in emails:
            self.verify_email_identity(address)
        for domain in domains:
            self.verify_domain_identity(domain)
