"""The project's gsplat backend, unmodified, through gsplat 1.5.3's real Python code on a CPU.

Only gsplat's compiled kernels are replaced (tests/gsplat_torch_kernels.py), so a call that
gsplat's own checks reject — like 1.5.3's packed-mode background assertion, which once broke
every frame — fails here on any machine, long before anyone runs it on a GPU.
"""
from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from splat.avatar import load_avatar, resolve_avatar_rig
from splat.cameras import frame_preset
from splat.pipeline import AvatarPipeline
from splat.render import gsplat_backend, resolve_backend
from splat.render.cpu import render_cpu
from splat.render.gsplat_backend import render_gsplat
from tests import gsplat_torch_kernels
from tests.render_scenes import head_scene, psnr

AVATAR = Path(__file__).resolve().parents[1] / "assets" / "default_avatar"
BACKGROUND = (0.2, 0.4, 0.9)


@pytest.fixture(scope="module")
def ported_gsplat():
    assert importlib.metadata.version("gsplat") == "1.5.3", "the test environment pins gsplat 1.5.3"
    with gsplat_torch_kernels.installed():
        yield


@pytest.fixture(scope="module")
def default_pipe():
    avatar = load_avatar(AVATAR)
    return AvatarPipeline(avatar, resolve_avatar_rig(AVATAR, avatar=avatar), backend="cpu")


def _compare(scene, camera, packed):
    port_image, port_alpha = render_gsplat(scene, camera, BACKGROUND, device="cpu", packed=packed)
    cpu_image, cpu_alpha = render_cpu(scene, camera, BACKGROUND)
    assert port_image.shape == cpu_image.shape == (camera.height, camera.width, 3)
    assert port_alpha.shape == cpu_alpha.shape == (camera.height, camera.width)
    assert cpu_alpha.mean() > 0.05, "the scene must cover part of the frame"
    return psnr(port_image, cpu_image), float(np.abs(port_alpha - cpu_alpha).mean())


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("jaw,size", [(0.0, 256), (0.3, 256), (0.3, 512)])
def test_default_avatar_matches_cpu_renderer(ported_gsplat, default_pipe, packed, jaw, size):
    params = {"jaw_pose": np.array([jaw, 0.0, 0.0], np.float32)}
    with torch.no_grad():
        scene = default_pipe.gaussians(params)
    camera = frame_preset(default_pipe.vertices(params), "face", size)
    db, alpha_diff = _compare(scene, camera, packed)
    print(f"default avatar jaw {jaw} {size}px packed={packed}: PSNR {db:.1f} dB, alpha diff {alpha_diff:.2e}")
    assert db > 40.0
    assert alpha_diff < 1e-3


@pytest.mark.parametrize("packed", [False, True])
def test_sh3_scene_matches_cpu_renderer(ported_gsplat, packed):
    scene = head_scene(20000, sh_degree=3)
    camera = frame_preset(scene.means.numpy(), "face", 256, yaw_deg=35.0)
    db, alpha_diff = _compare(scene, camera, packed)
    print(f"SH-3 scene packed={packed}: PSNR {db:.1f} dB, alpha diff {alpha_diff:.2e}")
    assert db > 40.0
    assert alpha_diff < 1e-3


def test_the_packed_background_call_that_broke_every_frame_is_caught(ported_gsplat):
    """gsplat 1.5.3 rejects backgrounds with packed=True; the port reproduces its refusal."""
    import gsplat

    scene = head_scene(500, sh_degree=0)
    camera = frame_preset(scene.means.numpy(), "face", 64)
    with pytest.raises(AssertionError):
        gsplat.rasterization(
            means=scene.means, quats=scene.quats, scales=scene.scales, opacities=scene.opacities,
            colors=scene.sh, sh_degree=0, width=64, height=64,
            viewmats=torch.as_tensor(camera.viewmat, dtype=torch.float32)[None],
            Ks=torch.as_tensor(camera.K, dtype=torch.float32)[None],
            backgrounds=torch.tensor([BACKGROUND]), packed=True,
        )


def _without_backend_module(monkeypatch):
    monkeypatch.delitem(sys.modules, "gsplat.cuda._backend", raising=False)
    gsplat_backend.gsplat_unusable_reason.cache_clear()


def test_no_cuda_means_cpu_without_a_word(monkeypatch, capsys):
    _without_backend_module(monkeypatch)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    try:
        assert resolve_backend("auto") == "cpu"
        assert "CUDA GPU" in gsplat_backend.gsplat_unusable_reason()
    finally:
        gsplat_backend.gsplat_unusable_reason.cache_clear()
    assert capsys.readouterr().err == ""


def test_unbuilt_kernels_fall_back_with_one_line_and_never_compile(monkeypatch, tmp_path, capsys):
    """A GPU with gsplat installed but no build: auto says why and names the build command.

    nvcc may well be on this machine: importing gsplat's _backend would start a minutes-long
    JIT build, so the check must decide from the build folder without importing it.
    """
    import splat.render as render_pkg

    _without_backend_module(monkeypatch)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(gsplat_backend, "gsplat_build_dir", lambda: tmp_path / "gsplat_cuda")
    monkeypatch.setattr(render_pkg, "_fallback_said", False)
    try:
        assert resolve_backend("auto") == "cpu"
        assert resolve_backend("auto") == "cpu"
        reason = gsplat_backend.gsplat_unusable_reason()
    finally:
        gsplat_backend.gsplat_unusable_reason.cache_clear()
    assert "gsplat.cuda._backend" not in sys.modules
    assert "doctor --build-gsplat" in reason
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(lines) == 1 and "doctor --build-gsplat" in lines[0]


def test_a_build_that_fails_to_load_is_one_clear_reason(monkeypatch, tmp_path):
    build = tmp_path / "gsplat_cuda"
    build.mkdir()
    (build / "gsplat_cuda.so").write_bytes(b"not a shared object")

    def broken_load():
        raise RuntimeError("Error building extension 'gsplat_cuda'\nninja: build stopped")

    _without_backend_module(monkeypatch)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(gsplat_backend, "gsplat_build_dir", lambda: build)
    monkeypatch.setattr(gsplat_backend, "load_extension", broken_load)
    try:
        reason = gsplat_backend.gsplat_unusable_reason()
    finally:
        gsplat_backend.gsplat_unusable_reason.cache_clear()
    assert "failed to load (Error building extension 'gsplat_cuda')" in reason
    assert "\n" not in reason


def test_gaussians_at_equal_depth_keep_index_order_in_both_renderers(ported_gsplat):
    """Ties in depth are layered in index order (gsplat's radix sort is stable); so must the CPU be.

    40 Gaussians share one point, each a saturated colour, among 60 at other depths: numpy's
    default (unstable) argsort reorders such ties, which changes the centre pixels by ~0.01-0.3 depending on the draw.
    """
    rng = np.random.default_rng(3)
    n_tied, n_other = 40, 60
    means = np.zeros((n_tied + n_other, 3), np.float32)
    means[n_tied:, :2] = rng.uniform(-0.05, 0.05, (n_other, 2))
    means[n_tied:, 2] = rng.uniform(-0.05, 0.05, n_other)
    scene = head_scene(n_tied + n_other, sh_degree=0, seed=3)
    scene.means = torch.as_tensor(means)
    scene.scales = torch.full((n_tied + n_other, 3), 0.02)
    scene.opacities = torch.full((n_tied + n_other,), 0.6)
    scene.sh = torch.as_tensor(rng.choice([-1.8, 1.8], size=(n_tied + n_other, 1, 3)).astype(np.float32))
    camera = frame_preset(np.array([[-0.1, -0.1, 0.0], [0.1, 0.1, 0.0]]), "face", 64)
    port_image, _ = render_gsplat(scene, camera, BACKGROUND, device="cpu")
    cpu_image, _ = render_cpu(scene, camera, BACKGROUND)
    assert np.abs(port_image - cpu_image).max() < 1e-3
