#!/usr/bin/env bash
# Set up what is missing (including the virtual display and microphone tools), then run the
# whole test suite. Extra arguments go to pytest, from where you stand: test paths you name are
# yours; name none and the repo's tests/ run.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/scripts/bootstrap.sh" test
named_path=0
for arg in "$@"; do
  [[ "$arg" != -* && -e "${arg%%::*}" ]] && named_path=1
done
[ "$named_path" = 1 ] || set -- "$@" "$ROOT/tests"
exec "$PY" -m pytest -q --rootdir "$ROOT" -c "$ROOT/pyproject.toml" "$@"
