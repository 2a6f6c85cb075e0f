"""gsplat (CUDA) backend: one `gsplat.rasterization` call with the project's conventions.

gsplat is optional (CUDA machines only; its kernels JIT-compile on first use), so it is imported
lazily and never required where there is no GPU.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np
import torch

from splat.cameras import Camera
from splat.gaussians import WorldGaussians


def gsplat_unusable_reason() -> str | None:
    """Why gsplat cannot run here ("CUDA", "the gsplat package"), or None when it can."""
    if not torch.cuda.is_available():
        return "a CUDA GPU (none is available)"
    if importlib.util.find_spec("gsplat") is None:
        return "the gsplat package (pip install gsplat==1.5.3)"
    return None


def gsplat_usable() -> bool:
    """True when CUDA is available and gsplat is installed."""
    return gsplat_unusable_reason() is None


def render_gsplat(
    gaussians: WorldGaussians, camera: Camera, background: Sequence[float] = (1.0, 1.0, 1.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Render on the GPU; returns host (image (H,W,3) in [0,1], alpha (H,W)) like the CPU backend."""
    import gsplat

    device = torch.device("cuda")

    def dev(t: torch.Tensor) -> torch.Tensor:
        return t.detach().to(device=device, dtype=torch.float32).contiguous()

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
        backgrounds=torch.as_tensor(background, dtype=torch.float32, device=device).reshape(1, 3),
        render_mode="RGB",
        rasterize_mode="classic",
    )
    image = colors[0].clamp_(0.0, 1.0).cpu().numpy()
    alpha = alphas[0, ..., 0].cpu().numpy()
    return image, alpha
