"""The embedded human head (MakeHuman CC0 data): reproducible, a sound ARKit-52 rig, relightable."""
import numpy as np
import pytest
import torch

from avatar_app.commands.assets import check_against_manifest, read_manifest
from splat.assets_paths import ASSETS_DIR, HUMAN_AVATAR
from splat.avatar import load_avatar
from splat.human.rig_build import ARKIT_NAMES
from splat.rig import Rig, load_rig_data


@pytest.fixture(scope="module")
def rig():
    return load_rig_data(HUMAN_AVATAR / "rig.npz")


def test_committed_human_avatar_equals_a_fresh_generation():
    assert check_against_manifest(ASSETS_DIR, ["human_avatar"]) == []


def test_manifest_records_small_files_and_cc0_provenance():
    section = read_manifest(ASSETS_DIR)["generators"]["human_avatar"]
    assert set(section["files"]) == {"human_avatar/rig.npz", "human_avatar/point_cloud.ply",
                                     "human_avatar/flame_param.npz"}
    assert sum(f["bytes"] for f in section["files"].values()) < 8e6
    assert all(v.startswith("CC0-1.0") for v in section["provenance"]["members"].values())


def test_rig_has_the_52_arkit_units_identity_and_flame_joints(rig):
    assert rig.expr_names == list(ARKIT_NAMES) and len(set(rig.expr_names)) == 52
    assert rig.n_shape >= 5
    assert np.allclose(rig.weights.sum(axis=1), 1.0, atol=1e-5) and rig.weights.min() >= 0
    joints = rig.J_regressor @ rig.v_template
    assert joints[3, 0] > 0.02 and joints[4, 0] < -0.02          # left eye at +x
    assert abs(joints[3, 1] - 0.006) < 1e-4                       # placed like FLAME's eyes
    for name in ("lips", "upper_face", "eyes", "mouth", "teeth", "tongue", "eyeballs", "eyelids"):
        assert rig.masks[name].size > 0, name
    # eyeballs ride only their eye joints; upper teeth the head, lower teeth the jaw
    eyeballs = rig.masks["eyeballs"]
    assert np.allclose(rig.weights[eyeballs, 3:].sum(axis=1), 1.0)


def test_lips_meet_at_rest_and_part_with_the_jaw(rig):
    from driver.metrics import CLOSED_MM, LipGap

    gap = LipGap.from_rig_data(rig)
    model = Rig(rig)
    with torch.no_grad():
        rest = model({})[0].numpy()
        jaw = model({"jaw_pose": np.array([0.2, 0.0, 0.0])})[0].numpy()
        e = np.zeros(rig.n_expr)
        e[rig.expr_names.index("jawOpen")] = 1.0
        opened = model({"expr": e})[0].numpy()
    assert gap.gaps(rest[None])[0] * 1000 < CLOSED_MM
    assert gap.gaps(jaw[None])[0] * 1000 > 8.0
    assert gap.gaps(opened[None])[0] * 1000 > 8.0


def test_avatar_is_bound_and_relightable(rig):
    avatar = load_avatar(HUMAN_AVATAR)
    assert avatar.relightable and avatar.binding.max() < rig.num_faces
    assert 40_000 <= len(avatar) <= 70_000
    assert np.allclose(np.linalg.norm(avatar.normals, axis=1), 1.0, atol=1e-3)
    assert (avatar.albedo >= 0).all() and (avatar.albedo <= 1).all()
