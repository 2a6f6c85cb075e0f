"""gsplat (CUDA) backend: one `gsplat.rasterization` call with the project's conventions.

gsplat is optional (CUDA machines only). Its PyPI wheel carries no binaries: the kernels are
JIT-compiled by `python main.py doctor --build-gsplat` into TORCH_EXTENSIONS_DIR. Importing
`gsplat.cuda._backend` when nvcc is present but no build exists starts that multi-minute
compile, so this module decides availability from the build on disk first and loads the
extension only when one is there, saying so and timing it. "Usable" therefore means "the
compiled extension loaded", not "gsplat imports".
"""
from __future__ import annotations

import functools
import importlib.util
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from splat.cameras import Camera
from splat.gaussians import WorldGaussians

BUILD_COMMAND = "python main.py doctor --build-gsplat"
EXTENSION_NAME = "gsplat_cuda"  # the name gsplat's _backend gives its JIT build
SLOW_LOAD_S = 5.0  # a load taking longer than this was a (re)build, not a load


def gsplat_build_dir() -> Path | None:
    """Where torch's JIT keeps gsplat's kernels (under TORCH_EXTENSIONS_DIR), if torch can say."""
    try:
        from torch.utils.cpp_extension import _get_build_directory

        return Path(_get_build_directory(EXTENSION_NAME, verbose=False))
    except Exception:  # private torch helper: its absence only means we cannot tell
        return None


def gsplat_kernels_built() -> bool:
    """A JIT build on disk, or a gsplat installed with its compiled `csrc` module."""
    build_dir = gsplat_build_dir()
    if build_dir is not None and any(build_dir.glob(f"{EXTENSION_NAME}.*")):
        return True
    try:
        return importlib.util.find_spec("gsplat.csrc") is not None
    except (ImportError, ValueError):
        return False


def load_extension() -> object:
    """Import gsplat's compiled extension (the caller has checked a build exists); say so and time it.

    torch re-runs the build when gsplat's sources or torch itself changed since the build, so a
    slow load is reported as the rebuild it was rather than passing as a hung first frame.
    """
    print("loading gsplat's CUDA kernels ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    from gsplat.cuda._backend import _C

    seconds = time.perf_counter() - start
    if seconds > SLOW_LOAD_S:
        print(f"gsplat's CUDA kernels were rebuilt in {seconds:.0f} s", file=sys.stderr, flush=True)
    return _C


@functools.lru_cache(maxsize=1)
def gsplat_unusable_reason() -> str | None:
    """Why gsplat cannot render here, in words that name the fix, or None when it can."""
    if not torch.cuda.is_available():
        return "a CUDA GPU (none is available)"
    if importlib.util.find_spec("gsplat") is None:
        return "the gsplat package (pip install gsplat==1.5.3)"
    if not gsplat_kernels_built():
        return f"gsplat's CUDA kernels, which are not built yet (run `{BUILD_COMMAND}` once)"
    try:
        extension = load_extension()
    except (ImportError, OSError, RuntimeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"gsplat's CUDA kernels, which failed to load ({first_line}); rebuild with `{BUILD_COMMAND}`"
    if extension is None:
        return f"gsplat's CUDA kernels, which gsplat could not load; rebuild with `{BUILD_COMMAND}`"
    return None


def gsplat_usable() -> bool:
    """True when CUDA is available and gsplat's compiled extension loaded."""
    return gsplat_unusable_reason() is None


def render_gsplat(
    gaussians: WorldGaussians,
    camera: Camera,
    background: Sequence[float] = (1.0, 1.0, 1.0),
    device: str | torch.device | None = None,
    packed: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Render on `device` (default: the Gaussians' CUDA device, else the current one).

    Returns host (image (H,W,3) in [0,1], alpha (H,W)) like the CPU backend. gsplat 1.5.3 rejects
    `backgrounds` in packed mode (its shape check expects no image axis there; upstream #764/#826),
    so packed mode composites the background here instead: C + (1 - alpha) * bg, which is what
    the kernel computes itself with backgrounds given.
    """
    import gsplat

    if device is None:
        device = gaussians.means.device if gaussians.means.is_cuda else torch.device("cuda")
    device = torch.device(device)

    def dev(t: torch.Tensor) -> torch.Tensor:
        return t.detach().to(device=device, dtype=torch.float32).contiguous()

    bg = torch.as_tensor(background, dtype=torch.float32, device=device).reshape(1, 3)
    colors, alphas, _ = gsplat.rasterization(
        means=dev(gaussians.means),
        quats=dev(gaussians.quats),
        scales=dev(gaussians.scales),
        opacities=dev(gaussians.opacities).reshape(-1),
        colors=dev(gaussians.sh),
        viewmats=torch.as_tensor(camera.viewmat, dtype=torch.float32, device=device)[None],
        Ks=torch.as_tensor(camera.K, dtype=torch.float32, device=device)[None],
        width=camera.width,
        height=camera.height,
        near_plane=float(camera.near),
        far_plane=float(camera.far),
        sh_degree=gaussians.sh_degree,
        backgrounds=None if packed else bg,
        packed=packed,
        render_mode="RGB",
        rasterize_mode="classic",
    )
    if packed:
        colors = colors + (1.0 - alphas) * bg[:, None, None, :]
    image = colors[0].clamp_(0.0, 1.0).cpu().numpy()
    alpha = alphas[0, ..., 0].cpu().numpy()
    return image, alpha
