#!/usr/bin/env python3
"""Fetch the test suite of the installed Django, for tests/test_django_shared.py.

Django's wheel has no tests; its source distribution does. This script
downloads the sdist of exactly the installed Django version with pip,
unpacks its ``tests/`` directory (and ``PKG-INFO``) into
``<cache>/django-<version>/``, and prints the path of that ``tests/``
directory on stdout. ``<cache>`` is ``$DJANGO_TESTS_CACHE`` when set (tox
sets it), else ``.django-src`` at the top of this repository::

    export DJANGO_TESTS_DIR="$(python tests/fetch_django_tests.py)"

Nothing is downloaded when that directory is already there, or when the
installed Django is older than 6.1, whose test suite has no
``SharedEmailBackendTests`` (nothing is printed then; ``--force`` fetches
anyway). ``--sdist PATH`` unpacks a local sdist instead of downloading one.

Standard library only (plus pip, run as ``python -m pip``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import PackageNotFoundError, version as distribution_version
from pathlib import Path, PurePosixPath

REPO_ROOT = Path(__file__).resolve().parent.parent
#: ``$DJANGO_TESTS_CACHE`` (tox sets it), else ``.django-src`` in this repository.
CACHE_DIR = Path(os.environ.get("DJANGO_TESTS_CACHE") or REPO_ROOT / ".django-src")

#: The first Django whose test suite has ``SharedEmailBackendTests``.
FIRST_VERSION_WITH_SHARED_TESTS = (6, 1)


def installed_version() -> str:
    """The version of the Django this interpreter imports, e.g. ``"6.1.3"``."""
    try:
        return distribution_version("django")
    except PackageNotFoundError:  # An unpacked checkout on sys.path.
        import django

        return django.__version__


def version_tuple(text: str) -> tuple[int, ...]:
    """``"6.1.3"`` → ``(6, 1, 3)``; ``"6.1rc1"`` → ``(6, 1)``."""
    numbers = []
    for part in text.split("."):
        match = re.match(r"\d+", part)
        if match is None:
            break
        numbers.append(int(match.group()))
        if match.group() != part:
            break
    return tuple(numbers)


def has_shared_tests(version: str) -> bool:
    return version_tuple(version)[:2] >= FIRST_VERSION_WITH_SHARED_TESTS


def cached_tests_dir(version: str, cache_dir: Path = CACHE_DIR) -> Path:
    """Where this script puts the ``tests/`` directory of Django ``version``."""
    return Path(cache_dir) / f"django-{version}" / "tests"


def sdist_version(tests_dir: Path) -> str | None:
    """The version in the ``PKG-INFO`` next to an unpacked sdist's ``tests/``."""
    pkg_info = Path(tests_dir).parent / "PKG-INFO"
    try:
        lines = pkg_info.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("Version:"):
            return line.partition(":")[2].strip()
        if not line.strip():  # End of the metadata headers.
            break
    return None


def is_usable(tests_dir: Path) -> bool:
    return (Path(tests_dir) / "mail" / "test_backends.py").is_file()


def download_sdist(version: str, into: Path) -> Path:
    """``pip download`` the sdist of Django ``version`` into ``into``."""
    command = [
        sys.executable, "-m", "pip", "download",
        "--no-binary", ":all:", "--no-deps", "--disable-pip-version-check",
        "--dest", str(into), f"django=={version}",
    ]
    print("+", " ".join(command), file=sys.stderr)
    subprocess.run(command, check=True, stdout=sys.stderr)
    candidates = sorted(
        p for p in into.iterdir() if p.name.lower().startswith(f"django-{version}.tar")
    )
    if not candidates:
        raise SystemExit(f"pip download left no Django {version} sdist in {into}.")
    return candidates[0]


def _safe_members(archive: tarfile.TarFile, top: str):
    """The regular files and directories under ``<top>/tests/``, and ``<top>/PKG-INFO``."""
    for member in archive.getmembers():
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts or not (member.isfile() or member.isdir()):
            continue
        if path.parts[:2] == (top, "tests") or path == PurePosixPath(top, "PKG-INFO"):
            yield member


def extract_tests(sdist: Path, version: str, cache_dir: Path = CACHE_DIR) -> Path:
    """Unpack the sdist's ``tests/`` and ``PKG-INFO`` into the cache; return ``tests/``."""
    target = Path(cache_dir) / f"django-{version}"
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".django-{version}-", dir=cache_dir))
    try:
        with tarfile.open(sdist) as archive:
            names = archive.getnames()
            top = PurePosixPath(names[0]).parts[0] if names else ""
            members = list(_safe_members(archive, top))
            if not any(PurePosixPath(m.name).parts[:2] == (top, "tests") for m in members):
                raise SystemExit(f"{sdist} has no {top}/tests/ directory.")
            if hasattr(tarfile, "data_filter"):
                archive.extractall(staging, members=members, filter="data")
            else:  # Python < 3.11.4 and < 3.10.12: members are already checked.
                archive.extractall(staging, members=members)
        unpacked = staging / top
        found = sdist_version(unpacked / "tests")
        if found != version:
            raise SystemExit(f"{sdist} is Django {found}, not {version}.")
        if target.exists():
            # Another run got there first; keep its copy.
            return target / "tests"
        # A rename: the directory appears complete or not at all.
        os.replace(unpacked, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / "tests"


def fetch(version: str, cache_dir: Path = CACHE_DIR, sdist: Path | None = None) -> Path:
    tests_dir = cached_tests_dir(version, cache_dir)
    if is_usable(tests_dir) and sdist_version(tests_dir) == version:
        return tests_dir
    if tests_dir.parent.exists():  # Incomplete or another version: start again.
        shutil.rmtree(tests_dir.parent)
    if sdist is not None:
        return extract_tests(Path(sdist), version, cache_dir)
    with tempfile.TemporaryDirectory(prefix="django-sdist-") as download_dir:
        return extract_tests(download_sdist(version, Path(download_dir)), version, cache_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--version", default=None, help="Django version (default: the installed one)"
    )
    parser.add_argument(
        "--dest", type=Path, default=CACHE_DIR, help=f"cache directory (default: {CACHE_DIR})"
    )
    parser.add_argument("--sdist", type=Path, default=None, help="unpack this local sdist")
    parser.add_argument(
        "--force", action="store_true", help="fetch even for a Django older than 6.1"
    )
    args = parser.parse_args(argv)
    version = args.version or installed_version()
    if not has_shared_tests(version) and not args.force:
        print(
            f"Django {version} has no SharedEmailBackendTests; nothing to fetch.",
            file=sys.stderr,
        )
        return 0
    print(fetch(version, args.dest, args.sdist))
    return 0


if __name__ == "__main__":
    sys.exit(main())
