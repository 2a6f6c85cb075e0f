#!/usr/bin/env bash
# Set up what is missing, then run the app: `./run.sh` opens the live window on the embedded
# default avatar and model; `./run.sh <command> ...` runs any other command of main.py. It runs
# where you stand: relative paths (`--audio my.wav`, `--out face.png`) are yours, not the repo's.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/scripts/bootstrap.sh" app
exec "$PY" "$ROOT/main.py" "$@"
