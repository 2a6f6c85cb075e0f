#!/usr/bin/env bash
# One prepared run of ../shared/GPU.md on a lent NVIDIA machine (the device tool's image: Python
# 3.12 with a CUDA torch, nvcc, ninja; no internet). Wheels the image lacks travel in .whl/
# (fetch them here first with scripts/gpu_wheels.sh; carry ".whl" and ".cache/torch_extensions").
#   device run:  bash scripts/gpu_check.sh      (writes everything under $OUT, or out/gpu/)
# Steps: build gsplat's kernels (timed), real-kernel parity tests, render/stream/e2e figures.
set -uo pipefail
OUT="${OUT:-out/gpu}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TORCH_EXTENSIONS_DIR="$PWD/.cache/torch_extensions"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
PY=python3
step() { echo "== $1 ($(date +%T))" | tee -a "$OUT/summary.txt"; }
step "environment"
nvidia-smi -L | tee -a "$OUT/summary.txt"
$PY main.py doctor 2>&1 | tee "$OUT/doctor.txt"
step "build gsplat kernels"
/usr/bin/time -v $PY main.py doctor --build-gsplat --max-jobs "$(nproc)" >"$OUT/build.txt" 2>&1
tail -n 3 "$OUT/build.txt" | tee -a "$OUT/summary.txt"
step "parity: real kernels vs CPU renderer, and the CPU-port test"
$PY -m pytest -q -s tests/test_render_gsplat.py tests/test_render_gsplat_port.py 2>&1 | tee "$OUT/parity.txt" \
  | grep -E "PSNR|passed|failed|error" | tee -a "$OUT/summary.txt"
step "bench render (default avatar, 100k synthetic; gsplat vs gsplat-packed vs cpu)"
$PY main.py bench render --backend gsplat --backend cpu --size 512 --size 1024 --frames 60 2>&1 | tee -a "$OUT/summary.txt"
$PY main.py bench render --backend gsplat --backend cpu --size 512 --size 1024 --frames 60 --gaussians 100000 2>&1 \
  | tee -a "$OUT/summary.txt"
step "bench stream (per 33 ms hop)"
$PY main.py bench stream --device cuda --seconds 10 2>&1 | tee -a "$OUT/summary.txt"
$PY main.py bench stream --device cpu --front-end logmel --seconds 10 2>&1 | tee -a "$OUT/summary.txt"
step "bench e2e (same audio, gsplat and cpu)"
$PY main.py bench e2e --backend gsplat --size 512 2>&1 | tee -a "$OUT/summary.txt"
$PY main.py bench e2e --backend cpu --size 512 2>&1 | tee -a "$OUT/summary.txt"
step "done"
