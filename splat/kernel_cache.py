"""Whether this process will compile the CPU renderer's numba kernels, so a first run says so.

The kernels (binding, projection, binning, compositing) are compiled once and kept in numba's
on-disk cache; a cold cache makes the first frame take ~15 s (more on a busy machine), which
without a word looks like a hang. The check is cheap: each entry kernel's cache index must exist
and be newer than its source file (numba rewrites the index whenever it compiles, and refuses
an index written for other source). numba keeps the index path on its private FunctionCache, so
where numba's internals differ the answer is "unknown" and nothing is printed, never a false line.
"""
from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

COMPILE_NOTE = "compiling the CPU renderer once, ~15 s (cached for later runs)"
# Modules holding `numba.njit(cache=True)` kernels; inline-only helpers compile inside the others.
KERNEL_MODULES = ("splat.binding_fast", "splat.render.cpu_project", "splat.render.cpu_bin",
                  "splat.render.cpu_raster")

_announced = False


def _index_path(kernel: object) -> str | None:
    cache_file = getattr(getattr(kernel, "_cache", None), "_cache_file", None)
    return getattr(cache_file, "_index_path", None)


def uncached_kernels() -> list[str] | None:
    """Entry kernels with no fresh on-disk cache ("module.function"), or None when numba cannot say."""
    from numba.core.registry import CPUDispatcher

    missing = []
    for name in KERNEL_MODULES:
        module = importlib.import_module(name)
        source_mtime = os.stat(module.__file__).st_mtime
        for attr, kernel in vars(module).items():
            if not isinstance(kernel, CPUDispatcher) or kernel.targetoptions.get("inline", "never") != "never":
                continue
            index = _index_path(kernel)
            if index is None:
                return None
            try:
                fresh = os.stat(index).st_mtime >= source_mtime
            except OSError:
                fresh = False
            if not fresh:
                missing.append(f"{name}.{attr}")
    return missing


def announce_cold_compile(say: Callable[[str], None] | None = None) -> bool:
    """Say COMPILE_NOTE once per process when kernels are about to be compiled; True if said."""
    global _announced
    if _announced or not uncached_kernels():
        return False
    _announced = True
    (say or (lambda text: print(text, file=sys.stderr, flush=True)))(COMPILE_NOTE)
    return True
