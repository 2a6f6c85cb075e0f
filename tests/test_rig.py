"""Rig: LBS behaviour, parameter handling and the npz / FLAME-pickle file formats."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from splat.errors import UserInputError
from splat.rig import Rig, axis_angle_to_matrix, load_rig_data, save_rig_data
from tests.test_rig_fakes import (N_EXPR, N_SHAPE, fake_flame_dict, fake_rig_data,
                                  write_chumpy_pickle, write_plain_pickle)


@pytest.fixture(scope="module")
def rig() -> Rig:
    return Rig(fake_rig_data())


def test_zero_parameters_give_the_template(rig):
    verts = rig({})
    assert verts.shape == (1, rig.num_verts, 3)
    assert torch.equal(verts[0], rig.v_template)
    zeros = {"expr": np.zeros(N_EXPR), "jaw_pose": np.zeros(3), "eyes_pose": np.zeros(6)}
    assert torch.allclose(rig(zeros)[0], rig.v_template, atol=1e-7)


def test_global_rotation_is_rigid_about_the_root_joint(rig):
    rvec = torch.tensor([0.3, -0.5, 0.2])
    verts = rig({"rotation": rvec})[0]
    R = axis_angle_to_matrix(rvec)
    root = rig.J_template[0]
    expected = (rig.v_template - root) @ R.T + root
    assert torch.allclose(verts, expected, atol=1e-6)
    dist = lambda v: (v[:, None] - v[None]).norm(dim=-1)  # noqa: E731
    assert torch.allclose(dist(verts), dist(rig.v_template), atol=1e-6)


def test_jaw_rotation_moves_only_jaw_weighted_vertices(rig):
    verts = rig({"jaw_pose": [0.25, 0.0, 0.0]})[0]
    moved = (verts - rig.v_template).norm(dim=1) > 1e-7
    jaw_weighted = rig.weights[:, 2] > 0
    assert moved.any()
    assert torch.equal(moved, jaw_weighted)


def test_translation_and_static_offset(rig):
    offset = torch.full((rig.num_verts, 3), 0.01)
    verts = rig({"translation": [1.0, 2.0, 3.0], "static_offset": offset[None]})[0]
    expected = rig.v_template + 0.01 + torch.tensor([1.0, 2.0, 3.0])
    assert torch.allclose(verts, expected, atol=1e-6)


def test_batched_equals_single_frames_and_short_vectors_pad(rig):
    g = torch.Generator().manual_seed(1)
    params = {"expr": torch.randn(3, N_EXPR, generator=g), "jaw_pose": torch.randn(3, 3, generator=g) * 0.2,
              "neck_pose": torch.randn(3, 3, generator=g) * 0.2, "eyes_pose": torch.randn(3, 6, generator=g) * 0.2,
              "shape": torch.randn(1, 20, generator=g)}   # B=1 broadcasts; 20 of 300 values pad
    batch = rig(params)
    for b in range(3):
        single = rig({k: (v[b] if v.shape[0] == 3 else v[0]) for k, v in params.items()})
        assert torch.allclose(batch[b], single[0], atol=1e-6)


def test_bad_parameters_are_refused(rig):
    with pytest.raises(UserInputError, match="'expr' has 11 values"):
        rig({"expr": np.zeros(N_EXPR + 1)})
    with pytest.raises(UserInputError, match="'jaw_pose' must have 3"):
        rig({"jaw_pose": np.zeros(4)})
    with pytest.raises(KeyError):
        rig({"jaw": np.zeros(3)})


def test_forward_is_differentiable(rig):
    expr = torch.zeros(1, N_EXPR, requires_grad=True)
    jaw = torch.zeros(1, 3, requires_grad=True)
    rig({"expr": expr, "jaw_pose": jaw}).square().sum().backward()
    assert expr.grad is not None and jaw.grad is not None
    assert torch.isfinite(jaw.grad).all() and jaw.grad.abs().sum() > 0


def test_npz_round_trip(tmp_path):
    data = fake_rig_data()
    save_rig_data(data, tmp_path / "rig.npz")
    back = load_rig_data(tmp_path / "rig.npz")
    for name in ("v_template", "faces", "shapedirs", "posedirs", "J_regressor", "weights",
                 "kintree_table"):
        assert np.array_equal(getattr(back, name), getattr(data, name)), name
    assert (back.n_shape, back.n_expr) == (N_SHAPE, N_EXPR)
    assert back.expr_names == data.expr_names and back.rig_id == data.rig_id
    assert back.masks.keys() == data.masks.keys()
    assert back.topology_digest() == data.topology_digest()
    assert data.topology_digest().startswith(f"V{data.num_verts}-F{data.num_faces}-")


def test_chumpy_and_plain_pickles_load_the_same(tmp_path):
    d = fake_flame_dict()
    write_plain_pickle(d, tmp_path / "plain.pkl")
    write_plain_pickle(d, tmp_path / "old.pkl", sparse_j=True, old_numpy_paths=True)
    write_chumpy_pickle(d, tmp_path / "chumpy.pkl")
    assert b"chumpy.ch" in (tmp_path / "chumpy.pkl").read_bytes()
    assert b"numpy.core.multiarray" in (tmp_path / "old.pkl").read_bytes()
    rigs = [load_rig_data(tmp_path / n) for n in ("plain.pkl", "old.pkl", "chumpy.pkl")]
    for other in rigs[1:]:
        for name in ("v_template", "faces", "shapedirs", "posedirs", "J_regressor", "weights",
                     "kintree_table"):
            assert np.array_equal(getattr(other, name), getattr(rigs[0], name)), name
    r = rigs[0]
    assert (r.n_shape, r.n_expr) == (300, N_EXPR)
    assert r.expr_names[:2] == ["expr_000", "expr_001"]
    assert r.rig_id == "flame2020"
    assert np.allclose(r.v_template, d["v_template"]) and r.faces.dtype == np.int64
    assert {"lips", "upper_face", "eyes"} <= r.masks.keys()   # geometric fallback masks
    assert np.array_equal(np.sort(r.masks["eyes"]), np.flatnonzero(d["weights"][:, 3:5].sum(1)))


def test_flame_masks_file_beside_the_pickle_is_used(tmp_path):
    write_plain_pickle(fake_flame_dict(), tmp_path / "generic_model.pkl")
    regions = {"lips": np.array([1, 2]), "forehead": np.array([3]), "eye_region": np.array([4]),
               "nose": np.array([5, 3]), "left_eyeball": np.array([6]), "right_eyeball": np.array([7]),
               "scalp": np.array([8, 9])}
    (tmp_path / "FLAME_masks.pkl").write_bytes(pickle.dumps(regions, protocol=2))
    masks = load_rig_data(tmp_path / "generic_model.pkl").masks
    assert masks["lips"].tolist() == [1, 2]
    assert masks["upper_face"].tolist() == [3, 4, 5]
    assert masks["eyes"].tolist() == [6, 7]
    assert masks["scalp"].tolist() == [8, 9]


def test_bad_rig_files_are_refused(tmp_path):
    with pytest.raises(UserInputError, match="not found"):
        load_rig_data(tmp_path / "missing.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(UserInputError, match="not a readable FLAME pickle"):
        load_rig_data(tmp_path / "junk.pkl")
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"v_template": print}, protocol=2))
    with pytest.raises(UserInputError, match="refusing to load .*print"):
        load_rig_data(tmp_path / "evil.pkl")
    d = fake_flame_dict()
    del d["weights"]
    write_plain_pickle(d, tmp_path / "partial.pkl")
    with pytest.raises(UserInputError, match="missing weights"):
        load_rig_data(tmp_path / "partial.pkl")
    with pytest.raises(UserInputError, match="teeth extension needs a FLAME rig"):
        write_plain_pickle(fake_flame_dict(), tmp_path / "small.pkl")
        load_rig_data(tmp_path / "small.pkl", teeth=True)
