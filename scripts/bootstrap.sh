#!/usr/bin/env bash
# Idempotent set-up shared by run.sh and test.sh: system packages, .venv, Python packages.
# Usage: source scripts/bootstrap.sh [app|test]   (sets $PY to the venv's python)
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
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
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

# torch first: on machines without an NVIDIA GPU take the CPU build (a local wheel if pip's
# configured find-links has one, else PyTorch's CPU index) so the CUDA packages never download.
if ! "$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  if has_nvidia; then
    say "installing torch 2.13.0 (CUDA build)"
    "${PIP[@]}" "torch==2.13.0"
  else
    say "installing torch 2.13.0 (CPU build)"
    # a CPU wheel in pip's configured find-links (torch alone; its dependencies come from PyPI)
    if "${PIP[@]}" --no-index --no-deps "torch==2.13.0" 2>/dev/null; then
      "${PIP[@]}" "torch==2.13.0"
    else
      "${PIP[@]}" "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
        --extra-index-url https://pypi.org/simple
    fi
  fi
fi

extras="dev"
has_nvidia && extras="dev,cuda"
stamp="$VENV/.bootstrap-$(sha1sum "$ROOT/pyproject.toml" | cut -c1-12)-$extras"
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
export PY
