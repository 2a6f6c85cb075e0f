"""The procedural default rig: layout, names, joints and what the jaw moves."""
from pathlib import Path

import numpy as np
import pytest
import torch

from splat.default_rig_spec import EXPRESSION_NAMES
from splat.rig import Rig, load_rig_data

RIG_PATH = Path(__file__).resolve().parents[1] / "assets" / "default_avatar" / "rig.npz"


@pytest.fixture(scope="module")
def rig():
    return Rig(load_rig_data(RIG_PATH))


def _verts(rig, **params):
    with torch.no_grad():
        return rig({k: torch.as_tensor(v, dtype=torch.float32) for k, v in params.items()})[0].numpy()


def test_layout_names_and_masks(rig):
    data = rig.data
    assert data.rig_id == "procedural-head-v1"
    assert 4000 <= data.num_verts <= 10000
    assert data.expr_names == list(EXPRESSION_NAMES)
    assert data.n_shape >= 6
    for name in ("lips", "upper_face", "eyes", "mouth", "teeth", "tongue", "eyeballs", "eyelids"):
        assert data.masks[name].size > 0, name
    np.testing.assert_allclose(data.weights.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(data.J_regressor.sum(1), 1.0, atol=1e-5)
    assert (data.J_regressor >= 0).all() and (data.weights >= 0).all()
    size = data.v_template.max(0) - data.v_template.min(0)
    assert 0.13 < size[0] < 0.18                                   # head width with ears


def test_joints_sit_where_flame_puts_them(rig):
    J = rig.data.J_regressor @ rig.data.v_template
    left, right = J[3], J[4]
    assert left[0] > 0.02 and right[0] < -0.02 and abs(left[0] + right[0]) < 1e-6
    assert abs(J[2, 0]) < 1e-6 and J[2, 1] < left[1]               # jaw hinge below the eyes
    assert J[0, 1] < J[1, 1] < J[2, 1]                             # root below neck below jaw


def test_jaw_moves_only_the_lower_face(rig):
    rest = _verts(rig)
    open_ = _verts(rig, jaw_pose=np.array([0.3, 0.0, 0.0]))
    moved = np.linalg.norm(open_ - rest, axis=1)
    masks = rig.data.masks
    above_nose = rest[:, 1] > -0.04
    assert moved[above_nose].max() < 1e-6
    chin = np.argmin(rest[:, 1] + 10 * (np.abs(rest[:, 0]) > 0.01) + 10 * (rest[:, 2] < 0.05))
    assert moved[chin] > 0.015 and open_[chin, 1] < rest[chin, 1]
    teeth = masks["teeth"]
    upper_teeth = teeth[rest[teeth, 1] > rest[teeth, 1].mean() + 0.002]
    lower_teeth = teeth[rest[teeth, 1] < rest[teeth, 1].mean() - 0.002]
    assert moved[upper_teeth].max() < 1e-6 and moved[lower_teeth].min() > 1e-3
    assert moved[masks["tongue"]].min() > 1e-3


@pytest.mark.parametrize("name", EXPRESSION_NAMES)
def test_every_expression_moves_something_sensible(rig, name):
    expr = np.zeros(len(EXPRESSION_NAMES))
    expr[EXPRESSION_NAMES.index(name)] = 1.0
    delta = np.linalg.norm(_verts(rig, expr=expr) - _verts(rig), axis=1)
    assert 0.002 < delta.max() < 0.03, name
    assert (delta > 1e-4).mean() < 0.35, name                       # local, not the whole head


def test_lips_close_shuts_a_slightly_open_jaw(rig):
    masks = rig.data.masks
    lips = masks["lips"]
    closed = np.zeros(len(EXPRESSION_NAMES))
    closed[EXPRESSION_NAMES.index("lips_close")] = 1.0
    for jaw in (0.05, 0.08):
        v = _verts(rig, jaw_pose=np.array([jaw, 0, 0]), expr=closed)
        base = _verts(rig, jaw_pose=np.array([jaw, 0, 0]))
        center = lips[np.abs(rig.data.v_template[lips, 0]) < 0.004]
        gap_open = np.ptp(base[center, 1])
        gap_closed = np.ptp(v[center, 1])
        assert gap_closed < gap_open


def test_blink_closes_the_lids_and_eyes_follow_their_joints(rig):
    expr = np.zeros(len(EXPRESSION_NAMES))
    expr[EXPRESSION_NAMES.index("blink_L")] = 1.0
    moved = np.linalg.norm(_verts(rig, expr=expr) - _verts(rig), axis=1)
    lids = rig.data.masks["eyelids"]
    assert moved[lids].max() > 0.004
    assert moved[rig.data.v_template[:, 0] < -0.01].max() < 1e-6   # the right eye stays open
    gaze = _verts(rig, eyes_pose=np.array([0, 0.3, 0, 0, 0, 0]))
    eyeballs = rig.data.masks["eyeballs"]
    left = eyeballs[rig.data.v_template[eyeballs, 0] > 0]
    assert np.linalg.norm(gaze - _verts(rig), axis=1)[left].max() > 0.002
