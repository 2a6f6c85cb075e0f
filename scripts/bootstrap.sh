#!/usr/bin/env bash
# Idempotent set-up shared by run.sh and test.sh: system packages, .venv, Python packages
# (the project itself as `pip install -e .[dev]`, which also gives .venv/bin/talking-splat).
# Usage: source scripts/bootstrap.sh [app|test]   (sets $PY to the venv's python and $ROOT)
# Never changes the caller's folder: the commands run where the user stands.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PURPOSE="${1:-app}"
VENV="$ROOT/.venv"

say() { printf '[setup] %s\n' "$*" >&2; }

# --- system packages -------------------------------------------------------------------------
# app: PortAudio for sounddevice, OpenGL/GLFW libs for dearpygui, venv support.
# test: also the virtual display, virtual microphone and the speech engines tests speak with.
APP_PKGS=(python3-venv libportaudio2 libasound2-plugins libgl1 libglib2.0-0)
TEST_PKGS=(xvfb xauth pulseaudio pulseaudio-utils espeak-ng flite festival festvox-kallpc16k)
pkgs=("${APP_PKGS[@]}")
[ "$PURPOSE" = test ] && pkgs+=("${TEST_PKGS[@]}")
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  # one dpkg-query for all of them (a re-run's whole set-up check stays a fraction of a second)
  installed=" $(dpkg-query -W -f='${Package}=${Status} ' "${pkgs[@]}" 2>/dev/null || true)"
  for p in "${pkgs[@]}"; do
    [[ "$installed" == *" $p=install ok installed "* ]] || missing+=("$p")
  done
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || say "apt-get update failed; trying the install anyway"
    apt-get install -y -qq "${missing[@]}" >/dev/null
  elif sudo -n true 2>/dev/null; then
    say "installing system packages with sudo: ${missing[*]}"
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "missing system packages (install them, then re-run): sudo apt-get install ${missing[*]}"
    exit 1
  fi
fi

# --- virtual environment ------------------------------------------------------------------------
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment in .venv"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install -q)

has_nvidia() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

# torch first: on machines without an NVIDIA GPU take the CPU build so the CUDA packages never
# download. Every install honours pip's configured index and find-links; the only URL added is
# PyTorch's own CPU wheel index, as an extra index, for the CPU build alone. The check reads
# torch's installed metadata (importing torch takes seconds; this takes milliseconds).
TORCH=2.13.0
TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
if ! "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('torch').split('+')[0] != '$TORCH')" 2>/dev/null; then
  if has_nvidia; then
    say "installing torch $TORCH (CUDA build)"
    "${PIP[@]}" "torch==$TORCH"
  else
    say "installing torch $TORCH (CPU build)"
    # a CPU wheel already in pip's configured find-links needs no network for torch itself
    # (its dependencies then come from the configured index)
    if "${PIP[@]}" --no-index --no-deps "torch==$TORCH+cpu" 2>/dev/null; then
      "${PIP[@]}" "torch==$TORCH+cpu"
    else
      "${PIP[@]}" "torch==$TORCH+cpu" --extra-index-url "$TORCH_CPU_INDEX"
    fi
  fi
fi

extras="dev"
has_nvidia && extras="dev,cuda"
# re-install when the package's definition changes (its metadata or its package list)
stamp="$VENV/.bootstrap-$(cat "$ROOT/pyproject.toml" "$ROOT/setup.py" | sha1sum | cut -c1-12)-$extras"
if [ ! -f "$stamp" ]; then
  say "installing Python packages (.[${extras}])"
  if ! "${PIP[@]}" -e "$ROOT[$extras]" >"$VENV/pip-install.log" 2>&1; then
    tail -n 20 "$VENV/pip-install.log" >&2
    say "pip install failed (full log: .venv/pip-install.log)"
    exit 1
  fi
  rm -f "$VENV"/.bootstrap-*
  touch "$stamp"
fi
export PY ROOT
