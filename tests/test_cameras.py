"""Camera helpers: intrinsics, the orbit convention (front view, +y up, yaw to the left) and presets."""
from __future__ import annotations

import numpy as np
import pytest

from splat.cameras import frame_preset, intrinsics_from_fov, orbit_camera
from splat.errors import UserInputError


def project(cam, point):
    p = cam.viewmat[:3, :3] @ np.asarray(point, dtype=float) + cam.viewmat[:3, 3]
    uv = cam.K @ (p / p[2])
    return uv[:2], p[2]


def test_intrinsics_from_fov():
    K = intrinsics_from_fov(90.0, 200, 100)
    assert K[1, 1] == pytest.approx(50.0) and K[0, 0] == pytest.approx(50.0)
    assert (K[0, 2], K[1, 2]) == (100.0, 50.0)


def test_front_view_sits_on_plus_z_with_world_up_on_screen_up():
    cam = orbit_camera(0.0, 0.0, 2.0, target=(0.0, 0.1, 0.0), width=64)
    np.testing.assert_allclose(cam.center, [0.0, 0.1, 2.0], atol=1e-12)
    rot = cam.viewmat[:3, :3]
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    (u, v), depth = project(cam, [0.0, 0.1, 0.0])
    assert (u, v) == pytest.approx((32.0, 32.0)) and depth == pytest.approx(2.0)
    (_, v_up), _ = project(cam, [0.0, 0.2, 0.0])
    (u_left, _), _ = project(cam, [0.1, 0.1, 0.0])  # +x is the subject's left: viewer's right
    assert v_up < 32.0 and u_left > 32.0


def test_yaw_and_pitch_move_the_camera_as_documented():
    assert orbit_camera(90.0, 0.0, 1.0).center == pytest.approx([1.0, 0.0, 0.0])
    assert orbit_camera(0.0, 90.0, 1.0).center[1] > 0.99  # clamped just off the pole, above
    cam = orbit_camera(30.0, -20.0, 1.5, target=(0.1, 0.2, 0.3), width=48, height=32)
    (u, v), _ = project(cam, [0.1, 0.2, 0.3])
    assert (u, v) == pytest.approx((24.0, 16.0))
    assert np.linalg.norm(cam.center - [0.1, 0.2, 0.3]) == pytest.approx(1.5)


@pytest.mark.parametrize("preset", ["face", "head"])
def test_presets_keep_the_mesh_in_view(preset):
    rng = np.random.default_rng(0)
    verts = rng.uniform([-0.08, -0.12, -0.1], [0.08, 0.1, 0.1], size=(500, 3)) + [0.0, 0.0, 0.05]
    cam = frame_preset(verts, preset, 128, 96)
    uv = np.array([project(cam, v)[0] for v in verts])
    assert (uv >= 0).all() and (uv[:, 0] <= 128).all() and (uv[:, 1] <= 96).all()
    span = uv.max(axis=0) - uv.min(axis=0)
    assert span.max() / 96 > (0.75 if preset == "face" else 0.45)


def test_head_preset_is_wider_than_face_and_bad_preset_is_refused():
    verts = np.array([[-0.1, -0.1, -0.1], [0.1, 0.1, 0.1]])
    head, face = frame_preset(verts, "head", 64), frame_preset(verts, "face", 64)
    assert np.linalg.norm(head.center) > np.linalg.norm(face.center)
    with pytest.raises(UserInputError, match="preset"):
        frame_preset(verts, "feet", 64)
