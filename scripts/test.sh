#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, then runs the whole suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k emulator`).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

# Browser tests drive Debian's Chromium: Playwright cannot download browsers here.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi

python3 -m ruff check .
exec python3 -m pytest "$@"
