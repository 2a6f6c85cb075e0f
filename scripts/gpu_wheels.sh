#!/usr/bin/env bash
# Fetch, on this machine, the wheels the device tool's NVIDIA image lacks (it has torch, numpy,
# scipy, numba, opencv, transformers, safetensors, tqdm, matplotlib, jaxtyping, rich, ninja,
# packaging, pytest), for its Python 3.12, into .whl/ (git-ignored via .git/info/exclude).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl gsplat==1.5.3 plyfile==1.1.5 av soundfile sounddevice silero-vad==6.2.3 cffi pycparser
ls -la .whl
