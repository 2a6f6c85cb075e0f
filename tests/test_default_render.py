"""The default avatar on the CPU renderer: coverage, jaw, blink."""
from pathlib import Path

import numpy as np
import pytest

from splat.avatar import load_avatar, resolve_avatar_rig
from splat.cameras import orbit_camera, preset_view
from splat.default_rig_spec import EXPRESSION_NAMES
from splat.pipeline import AvatarPipeline

AVATAR = Path(__file__).resolve().parents[1] / "assets" / "default_avatar"


@pytest.fixture(scope="module")
def pipe():
    avatar = load_avatar(AVATAR)
    return AvatarPipeline(avatar, resolve_avatar_rig(AVATAR, avatar=avatar), backend="cpu")


def _camera(pipe, size, yaw=0.0):
    target, distance = preset_view(pipe.framing_points({}), "face", size)
    return orbit_camera(yaw, 0.0, distance, target, width=size)


def _params(jaw=0.0, **expr):
    e = np.zeros(len(EXPRESSION_NAMES), dtype=np.float32)
    for name, value in expr.items():
        e[EXPRESSION_NAMES.index(name)] = value
    return {"expr": e, "jaw_pose": np.array([jaw, 0.0, 0.0], dtype=np.float32)}


def _project(camera, points):
    cam = (camera.viewmat[:3, :3] @ np.asarray(points, float).T).T + camera.viewmat[:3, 3]
    uv = (camera.K @ cam.T).T
    return uv[:, :2] / uv[:, 2:3]


def _interior(mask, margin):
    """Pixels at least `margin` pixels inside the silhouette (its holes filled)."""
    import cv2

    m = mask.astype(np.uint8)
    flood = m.copy()
    h, w = m.shape
    cv2.floodFill(flood, np.zeros((h + 2, w + 2), np.uint8), (0, 0), 2)
    filled = (flood != 2).astype(np.uint8)
    return cv2.erode(filled, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) > 0


@pytest.mark.parametrize("size,yaw", [(512, 0.0), (1024, 0.0), (512, 40.0)])
def test_no_holes_over_the_silhouette(pipe, size, yaw):
    camera = _camera(pipe, size, yaw)
    _, alpha = pipe.render(_params(), camera)
    inside = _interior(alpha > 0.5, margin=max(2, size // 256))
    neck_cut = int(_project(camera, [[0.0, -0.17, 0.0]])[0, 1])   # the mesh ends below here
    inside[neck_cut:] = False
    assert inside.sum() > 0.1 * size * size
    assert alpha[inside].min() > 0.97


def test_opening_the_jaw_changes_the_mouth_and_only_below_the_nose(pipe):
    cam = _camera(pipe, 384)
    rest, a_rest = pipe.render(_params(), cam)
    opened, a_open = pipe.render(_params(jaw=0.3), cam)
    mouth = pipe.vertices({})[pipe.rig.data.masks["mouth"]]
    (u0, v0), (u1, v1) = _project(cam, mouth).min(0), _project(cam, mouth).max(0)
    box = (slice(int(v0), int(v1) + 1), slice(int(u0), int(u1) + 1))
    assert np.abs(opened[box] - rest[box]).mean() > 0.05
    changed_rows = np.flatnonzero(((a_rest > 0.5) != (a_open > 0.5)).any(axis=1))
    nose_bottom = _project(cam, [[0.0, -0.046, 0.09]])[0, 1]
    assert changed_rows.size and changed_rows.min() > nose_bottom


def test_blinking_covers_the_eyeballs(pipe):
    cam = _camera(pipe, 384)
    rig = pipe.rig.data
    eyeball_faces = np.isin(rig.faces, rig.masks["eyeballs"]).all(axis=1)
    on_eyeball = eyeball_faces[pipe.avatar.binding]
    green = pipe.tensors.sh.clone()
    green[np.flatnonzero(on_eyeball), 0] = \
        green.new_tensor([-1.7, 1.7, -1.7])
    pipe.tensors.sh = green

    def green_pixels(image):
        return ((image[..., 1] > 0.6) & (image[..., 0] < 0.4) & (image[..., 2] < 0.4)).sum()

    assert green_pixels(pipe.render(_params(), cam)[0]) > 100
    assert green_pixels(pipe.render(_params(blink_L=1.0, blink_R=1.0), cam)[0]) == 0
    assert green_pixels(pipe.render(_params(0.25, blink_L=1.0, blink_R=1.0), cam)[0]) == 0
