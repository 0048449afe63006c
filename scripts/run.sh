#!/usr/bin/env bash
# Installs the console into .venv and runs it; with no tenant configured it starts the demo tenant.
# Open http://localhost:8501 and sign in as a demo admin. Stop it with Ctrl+C.
# Extra arguments go to `streamlit run` (e.g. `bash scripts/run.sh --server.port 8600`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
ensure_venv requirements.txt
exec "$VENV_PY" -m streamlit run app.py "$@"
