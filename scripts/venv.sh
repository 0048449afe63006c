# Sourced by scripts/run.sh and scripts/test.sh: a virtual environment of the project's own in .venv,
# so nothing is installed into the system Python (Debian 12 and Ubuntu 24.04 refuse that: PEP 668).
# Usage: ensure_venv REQUIREMENTS_FILE   (then "$VENV_PY" is the environment's python)

VENV_DIR="${MFA_VENV:-.venv}"
VENV_PY="$VENV_DIR/bin/python"

as_root() {
  if [ "$(id -u)" = "0" ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  echo "Installing Debian/Ubuntu packages: $*" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_venv() {
  local requirements="$1"
  if ! command -v python3 >/dev/null 2>&1; then
    echo "python3 is needed (3.11 or newer): apt-get install python3" >&2
    exit 1
  fi
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "Python 3.11 or newer is needed; this python3 is $(python3 -V 2>&1)." >&2
    exit 1
  fi
  if [ ! -x "$VENV_PY" ] || ! "$VENV_PY" -m pip --version >/dev/null 2>&1; then
    rm -rf "$VENV_DIR"
    if ! python3 -m venv "$VENV_DIR" >/dev/null 2>&1; then
      # Debian and Ubuntu ship venv's pip bootstrap in a separate package.
      rm -rf "$VENV_DIR"
      apt_install "python3-venv" "python$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')-venv" \
        || apt_install python3-venv
      python3 -m venv "$VENV_DIR"
    fi
  fi
  # Install only when the requirements changed since the last install into this environment.
  local stamp="$VENV_DIR/.installed-$(basename "$requirements")"
  local wanted
  wanted="$(cat "$requirements" requirements.txt 2>/dev/null | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    echo "Installing Python packages into $VENV_DIR (the first time takes a few minutes)…" >&2
    "$VENV_PY" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$wanted" > "$stamp"
  fi
}
