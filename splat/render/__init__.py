"""One render interface over two backends: gsplat on CUDA, the project's own renderer on CPU.

`render(gaussians, camera, background, backend)` returns (image (H,W,3) float32 in [0,1],
alpha (H,W) float32) as host numpy arrays whichever backend ran, so callers never branch.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from splat.cameras import Camera
from splat.errors import UserInputError
from splat.gaussians import WorldGaussians

BACKENDS = ("cpu", "gsplat")


def available_backends() -> list[str]:
    """Backends usable on this machine; "gsplat" only with CUDA and its compiled kernels loaded."""
    from splat.render.gsplat_backend import gsplat_usable

    return ["gsplat", "cpu"] if gsplat_usable() else ["cpu"]


_fallback_said = False


def _auto_backend() -> str:
    """gsplat where it can run; otherwise the CPU, with one line why when a GPU sits unused."""
    global _fallback_said
    import torch

    from splat.render.gsplat_backend import gsplat_unusable_reason

    reason = gsplat_unusable_reason()
    if reason is None:
        return "gsplat"
    if torch.cuda.is_available() and not _fallback_said:
        print(f"note: rendering on the CPU: the gsplat backend needs {reason}", file=sys.stderr, flush=True)
        _fallback_said = True
    return "cpu"


def resolve_backend(backend: str = "auto") -> str:
    """Map "auto" to the best available backend; refuse unknown or unusable names clearly."""
    if backend == "auto":
        return _auto_backend()
    if backend not in BACKENDS:
        raise UserInputError(f"unknown render backend {backend!r}; choose one of auto, {', '.join(BACKENDS)}")
    if backend == "gsplat":
        from splat.render.gsplat_backend import gsplat_unusable_reason

        reason = gsplat_unusable_reason()
        if reason:
            raise UserInputError(f"the gsplat backend needs {reason}; use --backend cpu")
    return backend


def render(
    gaussians: WorldGaussians,
    camera: Camera,
    background: Sequence[float] = (1.0, 1.0, 1.0),
    backend: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Render world-space Gaussians through `camera` over a solid `background` colour."""
    name = resolve_backend(backend)
    if name == "gsplat":
        from splat.render.gsplat_backend import render_gsplat

        return render_gsplat(gaussians, camera, background)
    from splat.render.cpu import render_cpu

    return render_cpu(gaussians, camera, background)
