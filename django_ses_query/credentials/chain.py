"""The credentials chain, in botocore's order; the first source that gives
credentials wins, and is kept for the life of the provider:

1. settings: ``ACCESS_KEY_ID`` / ``SECRET_ACCESS_KEY`` / ``SESSION_TOKEN``;
2. environment (skipped when ``PROFILE`` is set, as an explicit profile does in botocore);
3. assume-role: the profile's ``role_arn`` with ``source_profile`` or ``credential_source``;
4. web-identity: ``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN``, or the profile's;
5. the profile: shared-credentials-file, then credential_process, then config-file;
6. container (ECS, EKS Pod Identity);
7. instance-metadata (EC2, IMDSv2).

``ROLE_ARN`` in the settings assumes a role on top of whichever wins.

One provider is shared by every backend with the same configuration (and the
same ``AWS_*`` environment), so temporary credentials are fetched and
refreshed once per process, not once per backend instance.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict

from ..exceptions import SESConfigurationError
from . import sts
from .base import Credentials, CredentialsProvider, NoCredentials, StaticCredentialsProvider, credentials_error
from .env import EnvironmentCredentialsProvider
from .refresh import RefreshableCredentialsProvider

logger = logging.getLogger("django_ses_query")

#: The environment variables that change what the chain finds.
ENVIRONMENT = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "AWS_EC2_METADATA_V1_DISABLED",
    "AWS_METADATA_SERVICE_TIMEOUT", "AWS_METADATA_SERVICE_NUM_ATTEMPTS", "HOME",
)


def _sources(profile: str | None, region: str, timeout: float) -> list:
    """Steps 2 to 7, as source objects (each with ``name``, ``source`` and ``load()``)."""
    from .container import ContainerSource
    from .imds import InstanceMetadataSource
    from .profile import ConfigFileSource, CredentialsFileSource, ProcessSource
    from .roles import ProfileRoleSource, WebIdentitySource

    sources: list = [] if profile else [EnvironmentCredentialsProvider()]
    return sources + [
        ProfileRoleSource(profile, region, timeout),
        WebIdentitySource(profile, region, timeout),
        CredentialsFileSource(profile),
        ProcessSource(profile),
        ConfigFileSource(profile),
        ContainerSource(),
        InstanceMetadataSource(),
    ]


def _settings_credentials(access_key_id, secret_access_key, session_token) -> Credentials | None:
    if not access_key_id and not secret_access_key:
        return None
    if not access_key_id or not secret_access_key:
        given, missing = (
            ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY") if access_key_id else ("SECRET_ACCESS_KEY", "ACCESS_KEY_ID")
        )
        raise SESConfigurationError(
            f"SES_QUERY sets {given} but not {missing}: set both, or neither to use the rest "
            "of the credentials chain.",
            code="MissingCredentials",
        )
    return Credentials(access_key_id, secret_access_key, session_token or None)


class ChainProvider(CredentialsProvider):
    """Resolves the chain at the first signature, then asks the winner."""

    def __init__(
        self,
        *,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        profile: str | None = None,
        region: str = "us-east-1",
        timeout: float = 10.0,
    ) -> None:
        self._settings = (access_key_id, secret_access_key, session_token)
        self.profile = profile
        self.region = region
        self.timeout = timeout
        self._resolved: CredentialsProvider | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} source={self.source!r}>"

    @property
    def source(self) -> str:
        resolved = self._resolved
        return resolved.source if resolved is not None else "not resolved yet"

    def get_credentials(self) -> Credentials:
        resolved = self._resolved or self._resolve()
        credentials = resolved.get_credentials()
        if credentials is None:
            # The environment variables went away: look again.
            self._resolved = None
            credentials = self._resolve().get_credentials()
        if credentials is None:
            raise credentials_error(f"{self.source} gave no credentials.", "MissingCredentials")
        return credentials

    def refresh(self) -> bool:
        resolved = self._resolved
        return resolved.refresh() if resolved is not None else False

    def _resolve(self) -> CredentialsProvider:
        # Held while resolving: concurrent first sends ask each source once.
        with self._lock:
            if self._resolved is not None:
                return self._resolved
            settings = _settings_credentials(*self._settings)
            if settings is not None:
                self._resolved = StaticCredentialsProvider(settings)
                return self._resolved
            self._check_profile()
            tried = ["settings: SES_QUERY has no ACCESS_KEY_ID and SECRET_ACCESS_KEY"]
            if self.profile:
                tried.append(f"environment: skipped, PROFILE {self.profile!r} is set")
            for source in _sources(self.profile, self.region, self.timeout):
                try:
                    credentials = source.load()
                except NoCredentials as why:
                    tried.append(f"{source.name}: {why}")
                    continue
                self._resolved = _provider(source, credentials)
                logger.info(
                    "AWS credentials from %s (access key id %s).", self._resolved.source, credentials.access_key_id
                )
                return self._resolved
            raise SESConfigurationError(
                "No AWS credentials found. Tried, in order: "
                + "; ".join(f"{number}. {line}" for number, line in enumerate(tried, start=1)) + ".",
                code="MissingCredentials",
            )

    def _check_profile(self) -> None:
        from ..awsfiles import Profiles, profile_not_found, selected_profile

        name, named = selected_profile(self.profile)
        if named:
            profiles = Profiles()
            if not profiles.exists(name):
                raise profile_not_found(name, profiles)


def _provider(source, credentials: Credentials) -> CredentialsProvider:
    if isinstance(source, EnvironmentCredentialsProvider):
        return source  # Read again at every signature.
    if credentials.expiration is not None:
        return RefreshableCredentialsProvider(source.load, source.source, credentials)
    static = StaticCredentialsProvider(credentials)
    static.source = source.source
    return static


class AssumedRoleProvider(RefreshableCredentialsProvider):
    """``ROLE_ARN``: a role assumed with the credentials of ``base``."""

    def __init__(
        self,
        base: CredentialsProvider,
        *,
        role_arn: str,
        session_name: str | None,
        external_id: str | None,
        duration: int | None,
        region: str,
        timeout: float,
    ) -> None:
        self.base = base
        self.role_arn = role_arn

        def fetch() -> Credentials:
            return sts.assume_role(
                base.get_credentials(),
                role_arn=role_arn, region=region, session_name=session_name,
                external_id=external_id, duration=duration, timeout=timeout,
            )

        super().__init__(fetch, "")

    @property
    def source(self) -> str:  # type: ignore[override]
        return f"{self.base.source}, then ROLE_ARN {self.role_arn}"


# --------------------------------------------------------------------------
# One provider per configuration
# --------------------------------------------------------------------------

_MAX_PROVIDERS = 32
_providers: OrderedDict[tuple, CredentialsProvider] = OrderedDict()
_providers_lock = threading.Lock()


def provider_for(config) -> CredentialsProvider:
    """The provider for a :class:`~django_ses_query.conf.Config`, shared by
    every backend with the same credentials settings and environment."""
    key = (
        config.access_key_id, config.secret_access_key, config.session_token, config.profile,
        config.region, config.timeout, config.role_arn, config.role_session_name,
        config.external_id, config.role_duration,
        tuple(os.environ.get(name) for name in ENVIRONMENT),
    )
    with _providers_lock:
        provider = _providers.get(key)
        if provider is not None:
            _providers.move_to_end(key)
            return provider
        provider = ChainProvider(
            access_key_id=config.access_key_id, secret_access_key=config.secret_access_key,
            session_token=config.session_token, profile=config.profile,
            region=config.region, timeout=config.timeout,
        )
        if config.role_arn:
            provider = AssumedRoleProvider(
                provider, role_arn=config.role_arn, session_name=config.role_session_name,
                external_id=config.external_id, duration=config.role_duration,
                region=config.region, timeout=config.timeout,
            )
        _providers[key] = provider
        while len(_providers) > _MAX_PROVIDERS:
            _providers.popitem(last=False)
        return provider


def reset_providers() -> None:
    """Forget every shared provider and the unreachable IMDS (for tests)."""
    from .imds import forget_unreachable

    with _providers_lock:
        _providers.clear()
    forget_unreachable()


# --------------------------------------------------------------------------
# What the startup check can tell without asking anything over the network
# --------------------------------------------------------------------------


def startup_problem(config) -> str | None:
    """Why no source could possibly give credentials, or None when one could.

    Reads settings, the environment and the shared files; never a network
    call and never a ``credential_process``. The instance metadata service
    could apply anywhere unless ``AWS_EC2_METADATA_DISABLED=true``, so without
    that this only finds definite mistakes (half a key pair in the settings,
    a named profile that does not exist, a file that does not parse, a
    container URI that is not allowed).
    """
    from . import container, imds
    from ..awsfiles import Profiles, profile_not_found, selected_profile

    try:
        if _settings_credentials(config.access_key_id, config.secret_access_key, config.session_token):
            return None
        name, named = selected_profile(config.profile)
        profiles = Profiles()
        if named and not profiles.exists(name):
            return profile_not_found(name, profiles).message
        tried = ["settings: no ACCESS_KEY_ID and SECRET_ACCESS_KEY"]
        if config.profile:
            tried.append(f"environment: skipped, PROFILE {config.profile!r} is set")
        elif EnvironmentCredentialsProvider.applies():
            return None
        else:
            tried.append("environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set")
        values = profiles.get(name)
        if values.get("role_arn") or values.get("credential_process"):
            return None
        if values.get("aws_access_key_id") and values.get("aws_secret_access_key"):
            return None
        tried.append(f"profile {name!r}: no role_arn, credential_process or keys in {profiles.where()}")
        token_file = values.get("web_identity_token_file") or os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")
        if token_file and os.environ.get("AWS_ROLE_ARN"):
            return None
        tried.append("web-identity: AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not both set")
        if container.endpoint() is not None:
            return None
        tried.append("container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI are not set")
        if not imds.disabled():
            return None
        tried.append("instance-metadata: AWS_EC2_METADATA_DISABLED is true")
    except SESConfigurationError as error:
        return error.message
    return "No AWS credentials could be found. Tried: " + "; ".join(tried) + "."
