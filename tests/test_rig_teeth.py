"""The GaussianAvatars teeth extension on a synthetic FLAME-sized (5023-vertex) rig."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from splat.rig import Rig, load_rig_data
from splat.teeth import (LIP_OUTSIDE_RING_LOWER, LIP_OUTSIDE_RING_UPPER, add_teeth,
                         teeth_faces)
from tests.test_rig_fakes import N_SHAPE, fake_flame_dict, fake_rig_data, write_plain_pickle

V, F = 5023, 9976
# Faces of GaussianAvatars' add_teeth (teeth-local vertex indices) at positions in its list.
GA_FACES = {
    0: [0, 31, 30], 1: [0, 1, 31], 13: [6, 7, 37], 14: [7, 8, 37], 15: [8, 38, 37],
    27: [14, 44, 43], 28: [60, 75, 76], 29: [60, 76, 61], 41: [66, 82, 67], 42: [67, 82, 68],
    43: [68, 82, 83], 55: [74, 88, 89], 56: [75, 30, 76], 57: [76, 30, 31], 69: [82, 36, 37],
    70: [82, 37, 38], 71: [82, 38, 83], 83: [88, 44, 89],
    84: [45, 46, 15], 85: [46, 16, 15], 97: [52, 22, 21], 98: [52, 23, 22], 99: [52, 53, 23],
    111: [58, 59, 29], 112: [90, 106, 105], 113: [90, 91, 106], 125: [96, 97, 112],
    126: [97, 98, 112], 127: [98, 113, 112], 139: [104, 119, 118], 140: [105, 106, 45],
    141: [106, 46, 45], 153: [112, 52, 51], 154: [112, 53, 52], 155: [112, 113, 53],
    167: [118, 119, 59],
}


@pytest.fixture(scope="module")
def flame_like():
    """A 5023-vertex fake whose lip rings form an arch, like a face seen from the front."""
    rig = fake_rig_data(num_verts=V, num_faces=F, seed=3)
    x = np.linspace(-0.025, 0.025, 15)
    z = 0.09 - 8.0 * x ** 2
    rig.v_template[LIP_OUTSIDE_RING_UPPER] = np.stack([x, np.full(15, 0.006), z], 1)
    rig.v_template[LIP_OUTSIDE_RING_LOWER] = np.stack([x, np.full(15, -0.006), z], 1)
    return rig, add_teeth(rig)


def test_counts_and_id(flame_like):
    base, teeth = flame_like
    assert teeth.num_verts == 5143 and teeth.num_faces == 10144
    assert teeth.rig_id == "flame2020+teeth"
    assert np.array_equal(teeth.faces[:F], base.faces)
    assert sorted(teeth.masks["teeth"].tolist()) == list(range(V, V + 120))


def test_faces_match_gaussianavatars_order():
    faces = teeth_faces()
    assert faces.shape == (168, 3)
    for position, face in GA_FACES.items():
        assert faces[position].tolist() == face, position
    assert len({tuple(f) for f in faces.tolist()}) == 168
    # Consistent winding: no directed edge is used twice.
    edges = [(f[i], f[(i + 1) % 3]) for f in faces.tolist() for i in range(3)]
    assert len(edges) == len(set(edges))


def test_skinning_blendshapes_and_correctives(flame_like):
    base, teeth = flame_like
    upper, lower = teeth.masks["teeth_upper"], teeth.masks["teeth_lower"]
    assert len(upper) == len(lower) == 60
    assert np.array_equal(teeth.weights[upper], np.tile([0, 1, 0, 0, 0], (60, 1)))
    assert np.array_equal(teeth.weights[lower], np.tile([0, 0, 1, 0, 0], (60, 1)))
    lip_mean = 0.5 * (base.shapedirs[LIP_OUTSIDE_RING_UPPER] + base.shapedirs[LIP_OUTSIDE_RING_LOWER])
    for row in range(8):
        dirs = teeth.shapedirs[V + 15 * row:V + 15 * (row + 1)]
        assert np.allclose(dirs[:, :, :N_SHAPE], lip_mean[:, :, :N_SHAPE])
        assert not dirs[:, :, N_SHAPE:].any()
    assert not teeth.posedirs[V:].any() and not teeth.J_regressor[:, V:].any()


def test_geometry_sits_behind_the_lips(flame_like):
    base, teeth = flame_like
    t = teeth.v_template[V:]
    gap = 0.012
    lips_z = base.v_template[LIP_OUTSIDE_RING_UPPER, 2]
    assert np.allclose(t[30:45, 2], lips_z - 1.5 * gap, atol=1e-6)       # upper edge row
    assert np.allclose(t[30:45, 1], 0.1 * gap, atol=1e-6)
    assert np.allclose(t[0:15, 1], 2.1 * gap, atol=1e-6)                 # upper root row
    assert np.allclose(t[45:60, 2], lips_z - 1.9 * gap, atol=1e-6)       # lower edge row
    assert np.allclose(t[60:75, 2], t[0:15, 2] - gap, atol=1e-6)         # back copies


def test_jaw_moves_lower_teeth_only(flame_like):
    _, teeth = flame_like
    rig = Rig(teeth)
    moved = (rig({"jaw_pose": [0.3, 0, 0]})[0] - rig.v_template).norm(dim=1)
    assert (moved[torch.as_tensor(teeth.masks["teeth_lower"])] > 1e-5).all()
    assert (moved[torch.as_tensor(teeth.masks["teeth_upper"])] < 1e-7).all()


def test_teeth_flag_on_a_pickle(tmp_path):
    write_plain_pickle(fake_flame_dict(num_verts=V, num_faces=F, seed=4), tmp_path / "flame2023.pkl")
    rig = load_rig_data(tmp_path / "flame2023.pkl", teeth=True)
    assert (rig.num_verts, rig.num_faces, rig.rig_id) == (5143, 10144, "flame2023+teeth")
