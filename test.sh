#!/usr/bin/env bash
# Set up what is missing (including the virtual display and microphone tools), then run the
# whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh test
exec "$PY" -m pytest -q "$@"
