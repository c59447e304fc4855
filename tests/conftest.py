import os
import tempfile

import pytest

from tests.fakeses import FakeSES


def _isolate_from_the_aws_environment() -> None:
    """The suite never reads the developer's ``AWS_*`` variables or ``~/.aws``
    files, and never waits for the real instance metadata service (tests
    that want a source set its variables themselves)."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        del os.environ[name]
    absent = os.path.join(tempfile.mkdtemp(prefix="django-ses-query-aws-"), "absent")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = absent
    os.environ["AWS_CONFIG_FILE"] = absent
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


_isolate_from_the_aws_environment()


@pytest.fixture(scope="session")
def _fake_ses_server():
    with FakeSES() as server:
        yield server


@pytest.fixture
def fake_ses(_fake_ses_server, settings):
    """A local SES endpoint; SES_QUERY points at it for the test."""
    _fake_ses_server.reset()
    settings.SES_QUERY = {
        **settings.SES_QUERY,
        "ENDPOINT_URL": _fake_ses_server.endpoint_url,
    }
    yield _fake_ses_server
    _fake_ses_server.reset()


@pytest.fixture
def backend(fake_ses):
    from django_ses_query.backend import EmailBackend

    return EmailBackend()


@pytest.fixture(scope="session")
def moto_ses():
    """moto's SES server (tests/moto_ses.py), once per session.

    Signature checking is on and an IAM user's key is bootstrapped
    (``access_key_id`` / ``secret_access_key``). State is shared by every test
    that uses it: call ``reset_ses()`` for a clean slate.
    """
    from tests.moto_ses import MotoSES

    with MotoSES() as server:
        yield server


@pytest.fixture
def make_backend(fake_ses):
    """Backends on the local endpoint, sequential unless asked, 3 retries,
    recording their backoff waits (the jitter's ceiling) instead of sleeping."""
    from django_ses_query.backend import EmailBackend

    def make(*, fail_silently=False, **options):
        options.setdefault("max_retries", 3)
        options.setdefault("max_concurrency", 1)
        backend = EmailBackend(fail_silently=fail_silently, **options)
        backend.sleeps = []
        backend.client._sleep = backend.sleeps.append
        backend.client._jitter = lambda ceiling: ceiling
        return backend

    return make


@pytest.fixture(autouse=True)
def _fresh_limits():
    """Each test starts with empty process-wide rate buckets and quota cache."""
    from django_ses_query import ratelimit
    from django_ses_query.sendrate import reset_quota_cache

    ratelimit.reset_buckets()
    reset_quota_cache()
    yield
    ratelimit.reset_buckets()
    reset_quota_cache()


@pytest.fixture(autouse=True)
def _fresh_credentials():
    """Each test starts without shared credentials providers."""
    from django_ses_query.credentials.chain import reset_providers

    reset_providers()
    yield
    reset_providers()


@pytest.fixture
def sns_ca_bundle(monkeypatch, tmp_path):
    """``REQUESTS_CA_BUNDLE`` holds the test CA (tests/snskeys.py) only."""
    from tests.snskeys import CA_PEM

    bundle = tmp_path / "test-ca.pem"
    bundle.write_bytes(CA_PEM)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    return bundle


@pytest.fixture
def sns_adapter(monkeypatch, sns_ca_bundle):
    """Serves the test certificate at ``snskeys.CERT_URL`` (and the test
    intermediate at ``snskeys.ISSUER_URL``) through a transport adapter
    mounted on the sessions that fetch for SES events (the URL rules,
    redirects, size cap, parsing and chain all still apply)."""
    from django_ses_query.events import certificates
    from django_ses_query.transport.endpoint import Endpoint
    from tests.snskeys import CERT_PEM, CERT_URL, INTERMEDIATE_DER, ISSUER_URL, SNSAdapter

    adapter = SNSAdapter({CERT_URL: (200, CERT_PEM), ISSUER_URL: (200, INTERMEDIATE_DER)})
    original = Endpoint.open

    def open_with_the_sns_adapter(self):
        new = original(self)
        self.session.mount("https://sns.", adapter)
        self.session.mount("http://crt.", adapter)
        return new

    monkeypatch.setattr(Endpoint, "open", open_with_the_sns_adapter)
    certificates.clear_cache()
    yield adapter
    certificates.clear_cache()


@pytest.fixture(scope="session", autouse=True)
def _close_connections_before_the_test_databases_are_dropped(django_db_setup, django_db_blocker):
    """PostgreSQL will not drop a database with a session on it: the
    ``sendlog`` alias (a mirror of ``default``) keeps one open otherwise."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        connections.close_all()


@pytest.fixture
def make_client(fake_ses):
    """A SESClient on the local endpoint whose backoff sleeps are recorded,
    with the jitter's ceiling as the wait (so the waits are exact)."""
    clients = []

    def make(endpoint_url=None, *, jitter=lambda ceiling: ceiling, **options):
        options.setdefault("max_retries", 3)
        from django_ses_query.client import SESClient
        from django_ses_query.conf import get_config
        from django_ses_query.credentials import provider_for
        from tests.sesclient import Recorder

        sleep = Recorder()
        config = get_config(endpoint_url=endpoint_url or fake_ses.endpoint_url, **options)
        client = SESClient(
            config,
            provider_for(config),
            sleep=sleep,
            jitter=jitter,
        )
        client.sleeps = sleep.sleeps
        client.open()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A redis-server of the tests' own on 127.0.0.1 (the port the settings
    chose), started once and stopped at the end. Skipped when Redis or
    django-tasks-rq is missing, except on CI (``CI=true``), where it fails."""
    import os
    import shutil
    import socket
    import subprocess
    import time

    from django.conf import settings

    binary = shutil.which("redis-server")
    missing = "redis-server is not installed" if binary is None else (
        None if getattr(settings, "REDIS_URL", None) else "django-tasks-rq is not installed"
    )
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} (required on CI)")
        pytest.skip(missing)
    port = int(os.environ["SESQ_TEST_REDIS_PORT"])
    directory = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.05)
    yield settings.REDIS_URL
    process.terminate()
    process.wait(10)


@pytest.fixture
def redis_db(redis_server):
    """The Redis server, its queue and cache databases emptied for the test."""
    import redis

    for database in (1, 2):
        redis.Redis.from_url(f"{redis_server}/{database}").flushdb()
    return redis_server


@pytest.fixture
def events_on(settings, sns_adapter):
    """The webhook accepts the test topic; its certificate is served."""
    from tests.snskeys import TOPIC_ARN

    settings.SES_QUERY = {**settings.SES_QUERY, "EVENT_TOPIC_ARNS": [TOPIC_ARN]}
    return sns_adapter
