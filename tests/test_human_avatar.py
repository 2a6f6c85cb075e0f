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


def test_light_follows_head_turns_and_plain_avatars_keep_their_colours():
    from splat.assets_paths import DEFAULT_AVATAR
    from splat.cameras import orbit_camera
    from splat.errors import UserInputError
    from splat.pipeline import AvatarPipeline
    from splat.relight import Light

    human = AvatarPipeline.open(HUMAN_AVATAR, backend="cpu")
    target, distance = human.framing("face")
    camera = orbit_camera(0.0, 0.0, distance, target, 30.0, 64, 64)
    human.set_light(Light.from_az_el(70.0, 10.0))
    still = human.gaussians({}, camera).sh
    turned = human.gaussians({"rotation": np.array([0.0, 0.6, 0.0])}, camera).sh
    assert float((still - turned).abs().mean()) > 0.05          # the shading moved on the face
    human.set_light(Light.from_az_el(-70.0, 10.0))
    assert float((human.gaussians({}, camera).sh - still).abs().mean()) > 0.05
    human.set_light(None)                                        # baked: turns change nothing
    baked = human.gaussians({}, camera).sh
    assert torch.equal(baked, human.gaussians({"rotation": np.array([0.0, 0.6, 0.0])}, camera).sh)
    plain = AvatarPipeline.open(DEFAULT_AVATAR, backend="cpu")
    assert plain.relighter is None and plain.light is None
    with pytest.raises(UserInputError, match="not relightable"):
        plain.set_light(Light.from_az_el(0.0, 0.0))


@pytest.mark.parametrize("text", ["10", "a,b", "0,95", "0,0,3,1,1", "nan,0"])
def test_light_option_refuses_bad_values(text):
    from splat.errors import UserInputError
    from splat.relight import parse_light_option

    with pytest.raises(UserInputError):
        parse_light_option(text)


def test_light_option_reads_direction_colour_and_off():
    from splat.relight import parse_light_option

    light = parse_light_option("0,90,1,0.5,0.5")
    assert np.allclose(light.direction, (0.0, 1.0, 0.0), atol=1e-9)
    assert light.colour == (1.0, 0.5, 0.5)
    assert parse_light_option("off") == "off" and parse_light_option(None) is None
