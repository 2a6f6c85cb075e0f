"""Whether this process will compile the CPU renderer's numba kernels, so a first run says so.

The kernels (binding, projection, binning, compositing) are compiled once and kept in numba's
on-disk cache; a cold cache makes the first frame take ~15 s (more on a busy machine), which
without a word looks like a hang. The check is cheap: each entry kernel's cache index must hold
entries numba accepts for the current source. The judge is numba's own index loader, which
returns nothing for an index written for other source: numba 0.68 stamps the index with a hash
of the source file's bytes, so a checkout that only touched the file's time is still warm (an
mtime comparison announced a compile that never came). numba keeps the loader on its private
FunctionCache, so where numba's internals differ the answer is "unknown" and nothing is
printed, never a false line.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

COMPILE_NOTE = "compiling the CPU renderer once, ~15 s (cached for later runs)"
# Modules holding `numba.njit(cache=True)` kernels; inline-only helpers compile inside the others.
KERNEL_MODULES = ("splat.binding_fast", "splat.render.cpu_project", "splat.render.cpu_bin",
                  "splat.render.cpu_raster")

_announced = False


def _index_loader(kernel: object) -> Callable[[], dict] | None:
    cache_file = getattr(getattr(kernel, "_cache", None), "_cache_file", None)
    return getattr(cache_file, "_load_index", None)


def uncached_kernels() -> list[str] | None:
    """Entry kernels with no fresh on-disk cache ("module.function"), or None when numba cannot say."""
    from numba.core.registry import CPUDispatcher

    missing = []
    for name in KERNEL_MODULES:
        module = importlib.import_module(name)
        for attr, kernel in vars(module).items():
            if not isinstance(kernel, CPUDispatcher) or kernel.targetoptions.get("inline", "never") != "never":
                continue
            load_index = _index_loader(kernel)
            if load_index is None:
                return None
            try:
                fresh = bool(load_index())
            except Exception:      # an unreadable or foreign index: numba will compile anew
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
