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

import configparser
import json
import os
import shlex
import subprocess
import threading

from django.views.decorators.debug import sensitive_variables

from ..exceptions import SESConfigurationError
from ..redaction import redact_unknown_secrets
from .base import Credentials, NoCredentials, credentials_error, from_mapping

#: A credential_process that has not finished by then is stopped.
PROCESS_TIMEOUT = 60.0  # seconds

_cache: dict[str, tuple[tuple, dict[str, dict[str, str]]]] = {}
_cache_lock = threading.Lock()


def credentials_file() -> str:
    return os.path.expanduser(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials")


def config_file() -> str:
    return os.path.expanduser(os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config")


def selected_profile(explicit: str | None) -> tuple[str, bool]:
    """(profile name, whether it was named): ``PROFILE``, else ``AWS_PROFILE``
    (or the older ``AWS_DEFAULT_PROFILE``), else ``default``."""
    if explicit:
        return explicit, True
    named = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE")
    if named:
        return named, True
    return "default", False


def _read(path: str, *, config: bool) -> dict[str, dict[str, str]]:
    """Profile name → its values. In the config file a profile's section is
    ``[profile NAME]`` (``[default]`` for the default one); other sections
    (``[sso-session ...]``, ``[services ...]``) are not profiles."""
    try:
        stat = os.stat(path)
    except OSError:
        return {}
    stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    with _cache_lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    parser = configparser.RawConfigParser(default_section="\0none", strict=False)
    try:
        with open(path, encoding="utf-8") as file:
            parser.read_file(file)
    except configparser.MissingSectionHeaderError as error:
        raise credentials_error(
            f"{path} cannot be parsed (line {error.lineno}: a value before any [section]).", "InvalidProfile"
        ) from None
    except configparser.ParsingError as error:
        lines = ", ".join(str(number) for number, _ in error.errors) or "?"
        raise credentials_error(f"{path} cannot be parsed (line {lines}).", "InvalidProfile") from None
    except (configparser.Error, OSError, UnicodeDecodeError) as error:
        raise credentials_error(f"{path} cannot be read ({type(error).__name__}).", "InvalidProfile") from None
    profiles: dict[str, dict[str, str]] = {}
    for section in parser.sections():
        name = section.strip()
        if config:
            if name.startswith("profile ") or name.startswith("profile\t"):
                name = name[len("profile"):].strip()
            elif name != "default":
                continue
        values = {key.strip().lower(): value.strip() for key, value in parser.items(section)}
        profiles.setdefault(name, {}).update(values)
    with _cache_lock:
        _cache[path] = (stamp, profiles)
    return profiles


class Profiles:
    """Both files, read once (then again only when a file changes)."""

    def __init__(self) -> None:
        self.credentials_path = credentials_file()
        self.config_path = config_file()
        self.credentials = _read(self.credentials_path, config=False)
        self.config = _read(self.config_path, config=True)

    def exists(self, name: str) -> bool:
        return name in self.credentials or name in self.config

    def get(self, name: str) -> dict[str, str]:
        """The profile's values, the credentials file's winning (as in botocore)."""
        return {**self.config.get(name, {}), **self.credentials.get(name, {})}

    def where(self) -> str:
        return f"{self.credentials_path} or {self.config_path}"

    def require(self, name: str) -> dict[str, str]:
        if not self.exists(name):
            raise profile_not_found(name, self)
        return self.get(name)


def profile_not_found(name: str, profiles: Profiles) -> SESConfigurationError:
    return SESConfigurationError(
        f"The AWS profile {name!r} is not in {profiles.where()}.", code="ProfileNotFound"
    )


def configured_region(explicit_profile: str | None) -> str | None:
    """The selected profile's ``region``, or None (no file, no such profile,
    or a file that cannot be read: the credentials step reports that)."""
    name, _ = selected_profile(explicit_profile)
    try:
        return Profiles().get(name).get("region") or None
    except SESConfigurationError:
        return None


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
