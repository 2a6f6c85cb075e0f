"""`python main.py doctor`: the environment report, and gsplat's one-time kernel build."""
from __future__ import annotations

import argparse
import importlib.util
import os
import threading
import time

from splat.errors import UserInputError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("doctor", help="Report the environment; build gsplat's CUDA kernels.",
                            description="Report Python/torch, CUDA, nvcc, gsplat kernels, audio "
                                        "devices and display; optionally build gsplat's kernels.")
    parser.add_argument("--build-gsplat", action="store_true",
                        help="JIT-compile gsplat's CUDA kernels now (minutes; cached afterwards)")
    parser.add_argument("--max-jobs", type=int, default=None,
                        help="parallel compile jobs (default: fits cores and memory)")
    parser.set_defaults(func=run)


def _default_max_jobs() -> int:
    """nvcc jobs take ~2-3 GB each; more jobs than memory allows makes the build swap or die."""
    cores = os.cpu_count() or 1
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gb = 8.0
    return max(1, min(cores, int(mem_gb // 3)))


def build_gsplat(max_jobs: int | None) -> float:
    """Trigger gsplat's JIT build with a visible elapsed-time line; returns seconds taken."""
    import torch

    from avatar_app.environment_report import cuda_version_mismatch, nvcc_cuda_version, nvcc_path
    from splat.render.gsplat_backend import gsplat_build_dir

    if not torch.cuda.is_available():
        raise UserInputError("no CUDA GPU visible to torch: gsplat's kernels cannot be built here "
                             "(the CPU renderer needs no build)")
    if importlib.util.find_spec("gsplat") is None:
        raise UserInputError("gsplat is not installed: pip install 'gsplat==1.5.3' (./run.sh does on CUDA machines)")
    nvcc = nvcc_path()
    if not nvcc:
        raise UserInputError("nvcc not found: install the CUDA toolkit (or set CUDA_HOME) to build gsplat")
    mismatch = cuda_version_mismatch(nvcc_cuda_version(nvcc), torch.version.cuda)
    if mismatch:
        raise UserInputError(mismatch)
    os.environ["MAX_JOBS"] = str(max_jobs or _default_max_jobs())
    print(f"building gsplat CUDA kernels with MAX_JOBS={os.environ['MAX_JOBS']} into {gsplat_build_dir()}")
    done = threading.Event()
    start = time.perf_counter()

    def tick() -> None:
        while not done.wait(5.0):
            print(f"  ... still compiling ({time.perf_counter() - start:.0f} s)", flush=True)

    threading.Thread(target=tick, daemon=True).start()
    try:
        from gsplat.cuda._backend import _C
    except (ImportError, OSError, RuntimeError) as exc:
        # torch's JIT raises RuntimeError("Error building extension ...") with nvcc's log above it.
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        raise UserInputError(f"gsplat's kernel build failed after {time.perf_counter() - start:.0f} s: "
                             f"{lines[0]} (compiler output above; retry with --max-jobs 1 if memory ran out)") from exc
    finally:
        done.set()
    if _C is None:
        raise UserInputError("gsplat did not build its kernels (see its messages above)")
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> int:
    from avatar_app.environment_report import full_report

    for key, value in full_report():
        print(f"{key:>15}: {value}")
    if args.build_gsplat:
        seconds = build_gsplat(args.max_jobs)
        print(f"gsplat kernels ready in {seconds:.0f} s")
    return 0
