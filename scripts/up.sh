#!/usr/bin/env bash
# The run command (README): set everything up, then start the REST API and the Streamlit UI
# on the lite profile with embedded Qdrant, and print the URL. Arguments go to `mmrag up`.
set -euo pipefail
cd "$(dirname "$0")/.."
MMRAG_SKIP_BROWSER=${MMRAG_SKIP_BROWSER:-1} bash scripts/setup.sh
exec "${VENV:-.venv}/bin/mmrag" up "$@"
