"""The shared AWS files: ``~/.aws/credentials`` and ``~/.aws/config``.

Trusts the files named by ``AWS_SHARED_CREDENTIALS_FILE`` / ``AWS_CONFIG_FILE``
(default ``~/.aws/credentials`` / ``~/.aws/config``). Checks that they parse
(a bad line is reported by number, never by content, since it may hold a
secret). File reads only: the settings read a profile's ``region`` here, the
credentials chain its keys, roles and ``credential_process``.
"""

from __future__ import annotations

import configparser
import os
import threading

from .exceptions import SESConfigurationError

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
        raise SESConfigurationError(
            f"{path} cannot be parsed (line {error.lineno}: a value before any [section]).",
            code="InvalidProfile",
        ) from None
    except configparser.ParsingError as error:
        lines = ", ".join(str(number) for number, _ in error.errors) or "?"
        raise SESConfigurationError(f"{path} cannot be parsed (line {lines}).", code="InvalidProfile") from None
    except (configparser.Error, OSError, UnicodeDecodeError) as error:
        raise SESConfigurationError(
            f"{path} cannot be read ({type(error).__name__}).", code="InvalidProfile"
        ) from None
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
