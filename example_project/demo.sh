#!/usr/bin/env bash
# The example project, end to end, against a local Amazon SES (moto's server
# with signature checking on):
#
#   bash example_project/demo.sh            # set up, send, show the log, check
#   bash example_project/demo.sh --serve    # ... then serve the admin until Ctrl-C
#
# Exits 0 when everything went as expected, non-zero otherwise. With CI set
# (and not "false" or "0") it never waits for anything: --serve only says so.
#
# Environment: DEMO_PYTHON (default python3), DEMO_VENV (default
# example_project/.venv), DEMO_PORT (runserver's port, default 8000).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PYTHON="${DEMO_PYTHON:-python3}"
VENV="${DEMO_VENV:-$HERE/.venv}"
PORT="${DEMO_PORT:-8000}"
MOTO_REQUIREMENT="moto[server]==5.2.5"
TASKS_DB_REQUIREMENT="django-tasks-db>=0.13"
TASKS_BACKPORT_REQUIREMENT="django-tasks>=0.12"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1

serve=0
for arg in "$@"; do
  case "$arg" in
    --serve) serve=1 ;;
    -h | --help)
      sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "demo.sh: unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

in_ci() { [ -n "${CI:-}" ] && [ "${CI}" != "false" ] && [ "${CI}" != "0" ]; }
step() { printf '\n==> %s\n' "$*"; }
die() {
  echo "demo.sh: $*" >&2
  exit 1
}

# -- 1. A virtualenv with the package and moto --------------------------------

step "Virtualenv $VENV ($PYTHON), with django-ses-query and $MOTO_REQUIREMENT"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3.10 or newer."
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "$("$PYTHON" --version 2>&1) is too old: django-ses-query needs Python 3.10 or newer."

wanted_version="$("$PYTHON" -c 'import sys; print(sys.version)')"
if [ -x "$VENV/bin/python" ] \
  && [ "$("$VENV/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null)" != "$wanted_version" ]; then
  echo "The virtualenv is for another Python: making it again."
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV"; then
    rm -rf "$VENV"
    # Debian's python3 needs python3-venv (ensurepip) for this.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "Installing Debian's python3-venv..."
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$PYTHON" -m venv "$VENV" || { rm -rf "$VENV"; die "could not create $VENV"; }
    else
      die "could not create a virtualenv: on Debian, run 'apt-get install python3-venv' as root."
    fi
  fi
fi
VPY="$VENV/bin/python"
pip_install() {
  # Without the notices about index locations that pip's configuration on
  # this machine may name but that do not exist; errors and other warnings
  # still show, and pip's exit status is kept.
  "$VPY" -m pip install -q "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}
# The repository itself (not editable: what a user installs, package data
# included), reinstalled each run so it is the tree as it is now.
pip_install "$MOTO_REQUIREMENT" "$ROOT[events]" "$TASKS_DB_REQUIREMENT"
# Queued sending on Django 5.2: the tasks framework's backport.
if ! "$VPY" -c 'import django, sys; sys.exit(django.VERSION < (6, 0))'; then
  pip_install "$TASKS_BACKPORT_REQUIREMENT"
fi
pip_install --no-deps --force-reinstall "$ROOT"
"$VPY" -c 'import django, django_ses_query, moto
print(f"Installed: Django {django.get_version()}, django-ses-query {django_ses_query.__version__}, moto {moto.__version__}")'

# -- 2. The local SES ---------------------------------------------------------

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/ses-demo.XXXXXX")"
moto_holder=""
runserver_pid=""

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$runserver_pid" ] && kill -0 "$runserver_pid" 2>/dev/null; then
    echo "Stopping the server."
    kill -TERM "$runserver_pid" 2>/dev/null || true
    wait "$runserver_pid" 2>/dev/null || true
  fi
  local moto_server=""
  if [ -f "$run_dir/moto.env" ]; then
    moto_server="$(sed -n "s/^SES_DEMO_MOTO_PID=//p" "$run_dir/moto.env" | tr -d "'")"
  fi
  if [ -n "$moto_holder" ] && kill -0 "$moto_holder" 2>/dev/null; then
    echo "Stopping moto's server."
    kill -TERM "$moto_holder" 2>/dev/null || true
    wait "$moto_holder" 2>/dev/null || true
  fi
  # Should the holder have died without stopping it.
  if [ -n "$moto_server" ] && kill -0 "$moto_server" 2>/dev/null; then
    kill -TERM "$moto_server" 2>/dev/null || true
  fi
  rm -rf "$run_dir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "Local SES: moto's server on 127.0.0.1, signature checking on"
"$VPY" "$HERE/demo.py" moto --env-file "$run_dir/moto.env" </dev/null &
moto_holder=$!
for _ in $(seq 1 600); do
  [ -s "$run_dir/moto.env" ] && break
  if ! kill -0 "$moto_holder" 2>/dev/null; then
    wait "$moto_holder" || true
    moto_holder=""
    die "moto's server did not start (see above)."
  fi
  sleep 0.1
done
[ -s "$run_dir/moto.env" ] || die "moto's server did not start within 60 seconds."
# SES_DEMO_ENDPOINT_URL, SES_DEMO_ACCESS_KEY_ID, SES_DEMO_SECRET_ACCESS_KEY...:
# example/settings.py reads them.
set -a
# shellcheck disable=SC1091
. "$run_dir/moto.env"
set +a

# -- 3. Migrate, send, show the log, check it --------------------------------

step "Django: migrate, then send four messages"
cd "$HERE"
if ! "$VPY" "$HERE/demo.py" run; then
  die "the demo did not go as expected (see above)."
fi

# -- 4. The admin -------------------------------------------------------------

step "The admin"
echo "Superuser: admin / admin (for this local demo only)."
echo "To browse the log:  bash example_project/demo.sh --serve"
echo "                    then open http://127.0.0.1:$PORT/admin/django_ses_query/emaillog/"
echo "                    (events: .../emailevent/, suppression list: .../suppression/)"
if [ "$serve" = 1 ]; then
  if in_ci; then
    echo "CI is set: not serving (--serve would wait for Ctrl-C)."
  else
    step "Serving http://127.0.0.1:$PORT/admin/ (moto stays up); Ctrl-C stops both"
    # No autoreloader: the package is installed, not edited here, and one
    # process is one to stop.
    "$VPY" "$HERE/manage.py" runserver --noreload "127.0.0.1:$PORT" </dev/null &
    runserver_pid=$!
    trap 'echo; exit 0' INT # Ctrl-C is the way out: not a failure.
    status=0
    wait "$runserver_pid" || status=$?
    runserver_pid=""
    exit "$status"
  fi
fi
