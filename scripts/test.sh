#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian/Ubuntu machine, then runs the whole suite:
# Python packages into .venv, Debian's Chromium (browser tests) and PostgreSQL (the store, journal and
# rollout tests run against a throwaway server as well as SQLite) when they are missing.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k emulator`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
ensure_venv requirements-dev.txt

missing=()
# Playwright cannot download browsers here: the browser tests drive Debian's Chromium.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then
  apt_install "${missing[@]}"
fi
# The PostgreSQL tests must run, never skip quietly, in this command.
export MFA_TEST_POSTGRES=required

"$VENV_PY" -m ruff check .
exec "$VENV_PY" -m pytest "$@"
