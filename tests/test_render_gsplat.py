"""gsplat's real CUDA kernels and the CPU renderer agree; skipped without CUDA + built kernels.

tests/test_render_gsplat_port.py runs the same comparison everywhere with gsplat's compiled ops
replaced by torch ports; this file is the proof with the real kernels on a GPU machine.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from splat.cameras import frame_preset
from splat.render.gsplat_backend import gsplat_unusable_reason
from tests.render_scenes import head_scene, psnr

reason = gsplat_unusable_reason()
pytestmark = pytest.mark.skipif(reason is not None, reason=f"gsplat backend needs {reason}")

AVATAR = Path(__file__).resolve().parents[1] / "assets" / "default_avatar"
BACKGROUND = (0.2, 0.4, 0.9)


def _check(scene, cam, packed, label):
    from splat.render.cpu import render_cpu
    from splat.render.gsplat_backend import render_gsplat

    gpu_image, gpu_alpha = render_gsplat(scene, cam, BACKGROUND, packed=packed)
    cpu_image, cpu_alpha = render_cpu(scene, cam, BACKGROUND)
    db = psnr(gpu_image, cpu_image)
    max_diff = float(np.abs(gpu_image - cpu_image).max())
    print(f"gsplat vs cpu {label} packed={packed}: PSNR {db:.1f} dB, max abs diff {max_diff:.4f}, "
          f"alpha max abs diff {np.abs(gpu_alpha - cpu_alpha).max():.4f}")
    assert gpu_image.shape == cpu_image.shape == (cam.height, cam.width, 3)
    assert db > 40.0
    assert np.abs(gpu_alpha - cpu_alpha).mean() < 1e-3


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("sh_degree,size,yaw", [(0, 256, 0.0), (3, 512, 35.0)])
def test_gsplat_matches_cpu(sh_degree, size, yaw, packed):
    scene = head_scene(20000, sh_degree)
    cam = frame_preset(scene.means.numpy(), "face", size, yaw_deg=yaw)
    _check(scene, cam, packed, f"sh{sh_degree} {size}px")


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("jaw,size", [(0.0, 512), (0.3, 1024)])
def test_gsplat_matches_cpu_on_the_default_avatar(jaw, size, packed):
    from splat.avatar import load_avatar, resolve_avatar_rig
    from splat.pipeline import AvatarPipeline

    avatar = load_avatar(AVATAR)
    pipe = AvatarPipeline(avatar, resolve_avatar_rig(AVATAR, avatar=avatar), backend="gsplat")
    params = {"jaw_pose": np.array([jaw, 0.0, 0.0], np.float32)}
    with torch.no_grad():
        scene = pipe.gaussians(params)
    assert scene.means.is_cuda, "the pipeline keeps a gsplat avatar on the GPU"
    cam = frame_preset(pipe.vertices(params), "face", size)
    _check(scene, cam, packed, f"default avatar jaw {jaw} {size}px")
