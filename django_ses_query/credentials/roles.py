"""Roles named in a profile (step 3 of the chain) and web identity (step 4).

Step 3: the selected profile's ``role_arn`` with ``source_profile`` (whose
credentials may themselves come from a role, a web identity, a
``credential_process`` or keys) or ``credential_source`` (``Environment``,
``Ec2InstanceMetadata`` or ``EcsContainer``), with its ``external_id``,
``role_session_name`` and ``duration_seconds``.

Step 4: ``web_identity_token_file`` and ``role_arn`` from the profile, else
``AWS_WEB_IDENTITY_TOKEN_FILE`` and ``AWS_ROLE_ARN`` (and
``AWS_ROLE_SESSION_NAME``). The token file is read again at every refresh
(Kubernetes rotates it).

Trusts the shared files and the token file; checks that a profile names one
way to get its source credentials, that source profiles do not loop, and
that the token file can be read and is not empty. The token is never shown.
"""

from __future__ import annotations

import os

from . import sts
from .base import Credentials, NoCredentials, credentials_error
from ..awsfiles import Profiles, profile_not_found, selected_profile
from .profile import run_credential_process, static_keys

CREDENTIAL_SOURCES = ("Environment", "Ec2InstanceMetadata", "EcsContainer")


def _duration(values: dict[str, str], where: str) -> int | None:
    text = values.get("duration_seconds")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise credentials_error(f"{where}: duration_seconds {text!r} is not a number.", "InvalidProfile") from None


def read_token(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            token = file.read().strip()
    except (OSError, UnicodeDecodeError) as error:
        raise credentials_error(
            f"The web identity token file {path!r} cannot be read "
            f"({getattr(error, 'strerror', None) or type(error).__name__})."
        ) from None
    if not token:
        raise credentials_error(f"The web identity token file {path!r} is empty.")
    return token


class _Roles:
    def __init__(self, region: str, timeout: float) -> None:
        self.region = region
        self.timeout = timeout

    def assume(self, profiles: Profiles, name: str, values: dict[str, str], visited: tuple[str, ...]) -> Credentials:
        """The credentials of profile ``name``'s ``role_arn``."""
        where = f"AWS profile {name!r}"
        source = self.source_credentials(profiles, name, values, visited)
        return sts.assume_role(
            source,
            role_arn=values["role_arn"],
            region=self.region,
            session_name=values.get("role_session_name"),
            external_id=values.get("external_id"),
            duration=_duration(values, where),
            timeout=self.timeout,
        )

    def source_credentials(
        self, profiles: Profiles, name: str, values: dict[str, str], visited: tuple[str, ...]
    ) -> Credentials:
        where = f"AWS profile {name!r}"
        source_profile = values.get("source_profile")
        credential_source = values.get("credential_source")
        if source_profile and credential_source:
            raise credentials_error(f"{where} has both source_profile and credential_source.", "InvalidProfile")
        if credential_source:
            return self.from_credential_source(credential_source, where)
        if not source_profile:
            raise credentials_error(
                f"{where} has role_arn but no source_profile or credential_source.", "InvalidProfile"
            )
        if source_profile in visited and source_profile != name:
            chain = " -> ".join((*visited, source_profile))
            raise credentials_error(f"AWS profiles loop through source_profile: {chain}.", "InvalidProfile")
        if not profiles.exists(source_profile):
            raise profile_not_found(source_profile, profiles)
        parent = profiles.get(source_profile)
        parent_where = f"AWS profile {source_profile!r}"
        if source_profile == name:
            # A profile may take its own keys as the source of its role.
            keys = static_keys(parent, parent_where)
            if keys is None:
                raise credentials_error(f"{where} is its own source_profile but has no keys.", "InvalidProfile")
            return keys
        if parent.get("role_arn") and not parent.get("web_identity_token_file"):
            return self.assume(profiles, source_profile, parent, (*visited, source_profile))
        if parent.get("web_identity_token_file") and parent.get("role_arn"):
            return self.web_identity(parent["web_identity_token_file"], parent["role_arn"], parent.get("role_session_name"))
        if parent.get("credential_process"):
            return run_credential_process(parent["credential_process"], f"credential_process of {parent_where}")
        keys = static_keys(parent, parent_where)
        if keys is None:
            raise credentials_error(f"{parent_where} (source_profile of {name!r}) has no credentials.", "InvalidProfile")
        return keys

    def from_credential_source(self, credential_source: str, where: str) -> Credentials:
        from .container import ContainerSource
        from .env import EnvironmentCredentialsProvider
        from .imds import InstanceMetadataSource

        sources = {
            "Environment": EnvironmentCredentialsProvider,
            "Ec2InstanceMetadata": InstanceMetadataSource,
            "EcsContainer": ContainerSource,
        }
        if credential_source not in sources:
            raise credentials_error(
                f"{where}: credential_source {credential_source!r} is not one of {', '.join(CREDENTIAL_SOURCES)}.",
                "InvalidProfile",
            )
        try:
            return sources[credential_source]().load()
        except NoCredentials as why:
            raise credentials_error(f"{where}: credential_source {credential_source} gave nothing: {why}.") from None

    def web_identity(self, token_file: str, role_arn: str, session_name: str | None) -> Credentials:
        return sts.assume_role_with_web_identity(
            read_token(token_file), role_arn=role_arn, region=self.region,
            session_name=session_name, timeout=self.timeout,
        )


class ProfileRoleSource(_Roles):
    """Step 3: the selected profile's ``role_arn``."""

    name = "assume-role"

    def __init__(self, profile: str | None, region: str, timeout: float) -> None:
        super().__init__(region, timeout)
        self.profile, _ = selected_profile(profile)

    @property
    def source(self) -> str:
        return f"assume-role (profile {self.profile!r})"

    def load(self) -> Credentials:
        profiles = Profiles()
        values = profiles.get(self.profile)
        if not values.get("role_arn"):
            raise NoCredentials(f"profile {self.profile!r} has no role_arn")
        if values.get("web_identity_token_file") and not (
            values.get("source_profile") or values.get("credential_source")
        ):
            raise NoCredentials(f"profile {self.profile!r} assumes its role with a web identity (next step)")
        return self.assume(profiles, self.profile, values, (self.profile,))


class WebIdentitySource(_Roles):
    """Step 4: a web identity token file and a role (EKS IRSA and similar)."""

    name = "web-identity"

    def __init__(self, profile: str | None, region: str, timeout: float) -> None:
        super().__init__(region, timeout)
        self.profile, _ = selected_profile(profile)
        self.role_arn: str | None = None

    @property
    def source(self) -> str:
        return f"web-identity (role {self.role_arn})" if self.role_arn else "web-identity"

    def settings(self) -> tuple[str | None, str | None, str | None]:
        """(token file, role ARN, session name): the profile's, else the environment's."""
        values = Profiles().get(self.profile)
        token_file = values.get("web_identity_token_file") or os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")
        role_arn = values.get("role_arn") or os.environ.get("AWS_ROLE_ARN")
        session = values.get("role_session_name") or os.environ.get("AWS_ROLE_SESSION_NAME")
        return token_file or None, role_arn or None, session or None

    def load(self) -> Credentials:
        token_file, role_arn, session = self.settings()
        if not token_file:
            raise NoCredentials("AWS_WEB_IDENTITY_TOKEN_FILE is not set (nor the profile's web_identity_token_file)")
        if not role_arn:
            raise NoCredentials("AWS_ROLE_ARN is not set (nor the profile's role_arn)")
        self.role_arn = role_arn
        return self.web_identity(token_file, role_arn, session)
