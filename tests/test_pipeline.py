"""AvatarPipeline: rig -> binding -> render for a tiny rig, identity applied on every frame."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from splat.avatar import GaussianAvatar, save_avatar
from splat.cameras import frame_preset
from splat.pipeline import AvatarPipeline
from splat.rig import RigData, save_rig_data

EXPR_NAMES = ["smile", "blink"]


def tiny_rig(n: int = 9) -> RigData:
    """An n x n vertex plane facing +z (10 cm wide); its lower half rides the jaw joint.

    Expression "smile" lifts the corners in +y, shape component 0 pushes everything along +z.
    """
    xs, ys = np.meshgrid(np.linspace(-0.05, 0.05, n), np.linspace(-0.05, 0.05, n))
    verts = np.stack([xs.ravel(), ys.ravel(), np.zeros(n * n)], axis=1)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    shapedirs = np.zeros((n * n, 3, 1 + len(EXPR_NAMES)))
    shapedirs[:, 2, 0] = 0.01
    shapedirs[:, 1, 1] = 0.02 * np.abs(verts[:, 0]) / 0.05
    weights = np.zeros((n * n, 5))
    lower = verts[:, 1] < 0
    weights[lower, 2] = 1.0
    weights[~lower, 0] = 1.0
    J_regressor = np.zeros((5, n * n))
    J_regressor[:, idx[n // 2, n // 2]] = 1.0  # every joint at the centre of the plane
    return RigData(
        v_template=verts, faces=faces, shapedirs=shapedirs, n_shape=1, n_expr=len(EXPR_NAMES),
        posedirs=np.zeros((n * n, 3, 36)), J_regressor=J_regressor, weights=weights,
        kintree_table=np.array([[-1, 0, 1, 1, 1], [0, 1, 2, 3, 4]]), expr_names=EXPR_NAMES,
        shape_names=["depth"], masks={"lips": idx[n // 2], "upper_face": idx[-1], "eyes": idx[-2]},
        rig_id="test-plane",
    )


def tiny_avatar(rig: RigData, flame_param: dict | None = None) -> GaussianAvatar:
    """Several Gaussians on every face of the rig, in its local frames, with varied colours."""
    rng = np.random.default_rng(1)
    per_face = 4
    n = rig.num_faces * per_face
    sh = np.zeros((n, 4, 3), dtype=np.float32)
    sh[:, 0] = rng.uniform(-1.0, 1.0, (n, 3))
    return GaussianAvatar(
        xyz=rng.uniform(-0.3, 0.3, (n, 3)).astype(np.float32) * [1, 0.05, 1],
        log_scales=np.full((n, 3), np.log(0.5), dtype=np.float32) + [0, np.log(0.1), 0],
        quats=np.tile(np.array([1, 0, 0, 0], dtype=np.float32), (n, 1)),
        opacity_logits=np.full(n, 3.0, dtype=np.float32),
        sh=sh,
        binding=np.repeat(np.arange(rig.num_faces), per_face),
        flame_param=flame_param or {},
    )


def write_tiny_avatar_folder(folder: Path) -> RigData:
    """A complete avatar folder with its own rig.npz, like the embedded default."""
    rig = tiny_rig()
    save_avatar(tiny_avatar(rig), folder)
    save_rig_data(rig, folder / "rig.npz")
    return rig


def test_vertices_apply_the_avatars_identity():
    rig = tiny_rig()
    plain = AvatarPipeline(tiny_avatar(rig), rig, backend="cpu")
    shaped = AvatarPipeline(tiny_avatar(rig, {"shape": np.array([2.0], np.float32)}), rig, backend="cpu")
    np.testing.assert_allclose(plain.vertices({}), rig.v_template, atol=1e-7)
    np.testing.assert_allclose(shaped.vertices({})[:, 2], 0.02, atol=1e-7)
    np.testing.assert_allclose(shaped.vertices({"shape": np.array([0.0])}), rig.v_template, atol=1e-7)


def test_render_follows_the_jaw_and_expressions():
    rig = tiny_rig()
    pipe = AvatarPipeline(tiny_avatar(rig), rig, backend="cpu")
    cam = frame_preset(pipe.vertices({}), "head", 64)
    timings: dict[str, float] = {}
    neutral, alpha = pipe.render({}, cam, (1.0, 1.0, 1.0), timings=timings)
    assert neutral.shape == (64, 64, 3) and alpha.max() > 0.9
    assert set(timings) == {"rig+bind", "project", "sort+bin", "composite"}
    jaw, _ = pipe.render({"jaw_pose": np.array([0.4, 0.0, 0.0])}, cam)
    smile, _ = pipe.render({"expr": np.array([1.0, 0.0])}, cam)
    diff_jaw = np.abs(jaw - neutral).max(axis=2)
    assert diff_jaw[40:].max() > 0.2  # lower half (image rows below the centre) moved
    assert diff_jaw[:24].max() < 1e-6  # upper half did not
    assert np.abs(smile - neutral).max() > 0.2


def test_rigless_scene_renders_and_frames_on_its_gaussians():
    rig = tiny_rig()
    avatar = tiny_avatar(rig)
    avatar.binding = None
    avatar.xyz = avatar.xyz * 0.1
    avatar.log_scales = avatar.log_scales + np.log(0.01)
    pipe = AvatarPipeline(avatar, None, backend="cpu")
    cam = frame_preset(pipe.framing_points(), "face", 32)
    image, alpha = pipe.render(None, cam)
    assert alpha.max() > 0.5
    from splat.errors import UserInputError

    with pytest.raises(UserInputError):
        pipe.vertices({})
