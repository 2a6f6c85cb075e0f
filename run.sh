#!/usr/bin/env bash
# Set up what is missing, then run the app: `./run.sh` opens the live window on the embedded
# default avatar and model; `./run.sh <command> ...` runs any other command of main.py.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh app
exec "$PY" main.py "$@"
