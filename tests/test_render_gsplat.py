"""gsplat (CUDA) and the CPU renderer agree on the same scene; skipped without CUDA + gsplat."""
from __future__ import annotations

import numpy as np
import pytest

from splat.cameras import frame_preset
from splat.render.gsplat_backend import gsplat_unusable_reason
from tests.render_scenes import head_scene, psnr

reason = gsplat_unusable_reason()
pytestmark = pytest.mark.skipif(reason is not None, reason=f"gsplat backend needs {reason}")


@pytest.mark.parametrize("sh_degree,size,yaw", [(0, 256, 0.0), (3, 512, 35.0)])
def test_gsplat_matches_cpu(sh_degree, size, yaw):
    from splat.render.cpu import render_cpu
    from splat.render.gsplat_backend import render_gsplat

    scene = head_scene(20000, sh_degree)
    cam = frame_preset(scene.means.numpy(), "face", size, yaw_deg=yaw)
    background = (0.2, 0.4, 0.9)
    gpu_image, gpu_alpha = render_gsplat(scene, cam, background)
    cpu_image, cpu_alpha = render_cpu(scene, cam, background)
    db = psnr(gpu_image, cpu_image)
    max_diff = float(np.abs(gpu_image - cpu_image).max())
    print(f"gsplat vs cpu sh{sh_degree} {size}px: PSNR {db:.1f} dB, max abs diff {max_diff:.4f}, "
          f"alpha max abs diff {np.abs(gpu_alpha - cpu_alpha).max():.4f}")
    assert gpu_image.shape == cpu_image.shape == (size, size, 3)
    assert db > 40.0
    assert np.abs(gpu_alpha - cpu_alpha).mean() < 1e-3
