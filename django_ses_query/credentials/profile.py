"""The shared AWS files: ``~/.aws/credentials`` and ``~/.aws/config``, and a
profile's ``credential_process``.

Trusts the files named by ``AWS_SHARED_CREDENTIALS_FILE`` / ``AWS_CONFIG_FILE``
(default ``~/.aws/credentials`` / ``~/.aws/config``) and the command a profile
names. Checks that the files parse (a bad line is reported by number, never
by content, since it may hold a secret) and that a process prints version 1
JSON with both keys. The command runs without a shell; what it prints on
stderr is shown only redacted (``redaction.redact_unknown_secrets``).
"""

from __future__ import annotations

import json
import shlex
import subprocess

from django.views.decorators.debug import sensitive_variables

from ..awsfiles import Profiles, selected_profile
from ..redaction import redact_unknown_secrets
from .base import Credentials, NoCredentials, credentials_error, from_mapping

#: A credential_process that has not finished by then is stopped.
PROCESS_TIMEOUT = 60.0  # seconds


def static_keys(values: dict[str, str], where: str) -> Credentials | None:
    key, secret = values.get("aws_access_key_id"), values.get("aws_secret_access_key")
    if not key and not secret:
        return None
    if not key or not secret:
        missing = "aws_access_key_id" if not key else "aws_secret_access_key"
        raise credentials_error(f"{where} has no {missing}.", "InvalidProfile")
    token = values.get("aws_session_token") or values.get("aws_security_token") or None
    return Credentials(key, secret, token)


# --------------------------------------------------------------------------
# Sources (steps 5a, 5b and 5c of the chain)
# --------------------------------------------------------------------------


class _ProfileSource:
    def __init__(self, profile: str | None) -> None:
        self.profile, _ = selected_profile(profile)

    @property
    def source(self) -> str:
        return f"{self.name} (profile {self.profile!r})"


class CredentialsFileSource(_ProfileSource):
    name = "shared-credentials-file"

    def load(self) -> Credentials:
        profiles = Profiles()
        if self.profile not in profiles.credentials:
            raise NoCredentials(f"no [{self.profile}] in {profiles.credentials_path}")
        found = static_keys(profiles.credentials[self.profile], f"[{self.profile}] in {profiles.credentials_path}")
        if found is None:
            raise NoCredentials(f"[{self.profile}] in {profiles.credentials_path} has no aws_access_key_id")
        return found


class ConfigFileSource(_ProfileSource):
    name = "config-file"

    def load(self) -> Credentials:
        profiles = Profiles()
        if self.profile not in profiles.config:
            raise NoCredentials(f"no profile {self.profile!r} in {profiles.config_path}")
        found = static_keys(profiles.config[self.profile], f"profile {self.profile!r} in {profiles.config_path}")
        if found is None:
            raise NoCredentials(f"profile {self.profile!r} in {profiles.config_path} has no aws_access_key_id")
        return found


class ProcessSource(_ProfileSource):
    name = "credential_process"

    def load(self) -> Credentials:
        command = Profiles().get(self.profile).get("credential_process")
        if not command:
            raise NoCredentials(f"profile {self.profile!r} has no credential_process")
        return run_credential_process(command, f"credential_process of profile {self.profile!r}")


@sensitive_variables()  # What the process printed: credentials, or secrets on stderr.
def run_credential_process(command: str, what: str) -> Credentials:
    """Run ``command`` (split like a POSIX shell would, but run without one)
    and read the credentials it prints as JSON."""
    try:
        args = shlex.split(command)
    except ValueError as error:
        raise credentials_error(f"{what} cannot be split into arguments ({error}).", "InvalidProfile") from None
    if not args:
        raise credentials_error(f"{what} is empty.", "InvalidProfile")
    try:
        done = subprocess.run(
            args, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROCESS_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise credentials_error(f"{what}: {args[0]!r} was not found.") from None
    except subprocess.TimeoutExpired:
        raise credentials_error(f"{what}: {args[0]!r} did not finish within {PROCESS_TIMEOUT:g} s.") from None
    except OSError as error:
        raise credentials_error(f"{what}: {args[0]!r} could not be run ({error.strerror or error}).") from None
    if done.returncode != 0:
        # What the tool says on stderr (e.g. "run aws sso login") helps most,
        # but a tool may echo its credentials there: redacted before it is cut,
        # so no secret is left half-shown.
        stderr = redact_unknown_secrets(done.stderr.decode("utf-8", "replace"))
        said = " ".join(stderr.split())[-300:]
        raise credentials_error(
            f"{what}: {args[0]!r} exited with status {done.returncode}" + (f": {said}" if said else ".")
        )
    try:
        data = json.loads(done.stdout)
    except ValueError:
        raise credentials_error(f"{what}: {args[0]!r} did not print JSON.") from None
    if not isinstance(data, dict) or data.get("Version") != 1:
        raise credentials_error(f"{what}: {args[0]!r} printed JSON without \"Version\": 1.")
    return from_mapping(data, what, token_key="SessionToken")
