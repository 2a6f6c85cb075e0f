"""gsplat (CUDA) and the CPU renderer agree on the same scene; skipped without CUDA + gsplat."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from splat.cameras import frame_preset
from splat.gaussians import WorldGaussians
from splat.render.gsplat_backend import gsplat_unusable_reason

reason = gsplat_unusable_reason()
pytestmark = pytest.mark.skipif(reason is not None, reason=f"gsplat backend needs {reason}")


def head_scene(n: int, sh_degree: int, seed: int = 0) -> WorldGaussians:
    """Gaussians on an ellipsoid shell of head size with random orientation, opacity and SH."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    spacing = np.sqrt(4 * np.pi * 0.095**2 / n)
    scales = np.stack([rng.uniform(0.5, 1.5, n) * spacing, rng.uniform(0.5, 1.5, n) * spacing,
                       np.full(n, 0.2 * spacing)], axis=1)
    sh = rng.normal(scale=0.15, size=(n, (sh_degree + 1) ** 2, 3))
    sh[:, 0] = rng.uniform(-1.0, 1.0, (n, 3))
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    return WorldGaussians(
        means=t(d * [0.08, 0.11, 0.10]), quats=t(rng.normal(size=(n, 4))), scales=t(scales),
        opacities=t(rng.uniform(0.05, 1.0, n)), sh=t(sh),
    )


@pytest.mark.parametrize("sh_degree,size,yaw", [(0, 256, 0.0), (3, 512, 35.0)])
def test_gsplat_matches_cpu(sh_degree, size, yaw):
    from splat.render.cpu import render_cpu
    from splat.render.gsplat_backend import render_gsplat

    scene = head_scene(20000, sh_degree)
    cam = frame_preset(scene.means.numpy(), "face", size, yaw_deg=yaw)
    background = (0.2, 0.4, 0.9)
    gpu_image, gpu_alpha = render_gsplat(scene, cam, background)
    cpu_image, cpu_alpha = render_cpu(scene, cam, background)
    mse = float(np.mean((gpu_image.astype(np.float64) - cpu_image) ** 2))
    psnr = 10 * np.log10(1.0 / max(mse, 1e-20))
    max_diff = float(np.abs(gpu_image - cpu_image).max())
    print(f"gsplat vs cpu sh{sh_degree} {size}px: PSNR {psnr:.1f} dB, max abs diff {max_diff:.4f}, "
          f"alpha max abs diff {np.abs(gpu_alpha - cpu_alpha).max():.4f}")
    assert gpu_image.shape == cpu_image.shape == (size, size, 3)
    assert psnr > 40.0
    assert np.abs(gpu_alpha - cpu_alpha).mean() < 1e-3
