"""Avatar files: lossless PLY / flame_param round trips, validation messages, rig resolution."""
from __future__ import annotations

import numpy as np
import pytest
from plyfile import PlyData, PlyElement

from splat.avatar import (GaussianAvatar, check_avatar_against_rig, load_avatar,
                          load_flame_param, read_ply, resolve_avatar_rig, save_avatar, write_ply)
from splat.errors import UserInputError
from splat.rig import save_rig_data
from tests.test_rig_fakes import fake_flame_dict, fake_rig_data, write_plain_pickle


def make_avatar(n: int = 50, degree: int = 3, bound: bool = True, max_face: int = 99,
                seed: int = 0) -> GaussianAvatar:
    g = np.random.default_rng(seed)
    f32 = lambda *shape: g.normal(size=shape).astype(np.float32)  # noqa: E731
    return GaussianAvatar(
        xyz=f32(n, 3), log_scales=f32(n, 3), quats=f32(n, 4), opacity_logits=f32(n),
        sh=f32(n, (degree + 1) ** 2, 3),
        binding=g.integers(0, max_face + 1, n) if bound else None,
    )


def _assert_same(a: GaussianAvatar, b: GaussianAvatar) -> None:
    for name in ("xyz", "log_scales", "quats", "opacity_logits", "sh"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert (a.binding is None) == (b.binding is None)
    if a.binding is not None:
        assert np.array_equal(a.binding, b.binding) and b.binding.dtype == np.int64


@pytest.mark.parametrize("bound", [True, False])
@pytest.mark.parametrize("degree", [0, 3])
def test_ply_round_trip_is_lossless(tmp_path, bound, degree):
    avatar = make_avatar(degree=degree, bound=bound)
    avatar.binding = None if not bound else avatar.binding
    avatar.flame_param = {"shape": np.ones(300, np.float32), "expr": np.zeros((4, 100), np.float32)}
    save_avatar(avatar, tmp_path)
    back = load_avatar(tmp_path)
    _assert_same(avatar, back)
    assert back.sh_degree == degree
    assert back.flame_param.keys() == avatar.flame_param.keys()
    assert np.array_equal(back.flame_param["expr"], avatar.flame_param["expr"])


def test_ply_layout_is_gaussianavatars(tmp_path):
    avatar = make_avatar(degree=3)
    write_ply(avatar, tmp_path / "a.ply")
    props = [p.name for p in PlyData.read(str(tmp_path / "a.ply"))["vertex"].properties]
    assert props == (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
                     + [f"f_rest_{i}" for i in range(45)]
                     + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2",
                        "rot_3", "binding_0"])
    v = PlyData.read(str(tmp_path / "a.ply"))["vertex"]
    # f_rest is channel-major: all 15 red coefficients first.
    assert np.array_equal(v["f_rest_0"], avatar.sh[:, 1, 0])
    assert np.array_equal(v["f_rest_1"], avatar.sh[:, 2, 0])
    assert np.array_equal(v["f_rest_15"], avatar.sh[:, 1, 1])


def _write_records(path, names, n=3, values=0.0):
    rec = np.full(n, values, dtype=[(name, "f4") for name in names])
    PlyData([PlyElement.describe(rec, "vertex")]).write(str(path))


BASE = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
        "rot_0", "rot_1", "rot_2", "rot_3"]


def test_bad_files_give_clear_messages(tmp_path):
    with pytest.raises(UserInputError, match="avatar not found"):
        load_avatar(tmp_path / "nothing")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(UserInputError, match="has no point_cloud.ply"):
        load_avatar(tmp_path / "empty_dir")
    (tmp_path / "text.ply").write_text("hello, not a ply\n")
    with pytest.raises(UserInputError, match="not a readable PLY file"):
        read_ply(tmp_path / "text.ply")
    write_ply(make_avatar(n=500), tmp_path / "good.ply")
    data = (tmp_path / "good.ply").read_bytes()
    (tmp_path / "cut.ply").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserInputError, match="corrupt or truncated"):
        read_ply(tmp_path / "cut.ply")
    _write_records(tmp_path / "missing.ply", [n for n in BASE if n not in ("opacity", "rot_3")])
    with pytest.raises(UserInputError, match="lacks Gaussian properties: opacity, rot_3"):
        read_ply(tmp_path / "missing.ply")
    _write_records(tmp_path / "empty.ply", BASE, n=0)
    with pytest.raises(UserInputError, match="holds no Gaussians"):
        read_ply(tmp_path / "empty.ply")
    _write_records(tmp_path / "nan.ply", BASE, values=np.nan)
    with pytest.raises(UserInputError, match="NaN or infinite"):
        read_ply(tmp_path / "nan.ply")
    _write_records(tmp_path / "sh.ply", BASE + [f"f_rest_{i}" for i in range(7)])
    with pytest.raises(UserInputError, match="7 f_rest_"):
        read_ply(tmp_path / "sh.ply")
    _write_records(tmp_path / "frac.ply", BASE + ["binding_0"], values=0.5)
    with pytest.raises(UserInputError, match="binding_0 must hold"):
        read_ply(tmp_path / "frac.ply")
    (tmp_path / "fp").mkdir()
    write_ply(make_avatar(), tmp_path / "fp" / "point_cloud.ply")
    np.savez(tmp_path / "fp" / "flame_param.npz", expr=np.full((2, 100), np.inf))
    with pytest.raises(UserInputError, match="expr holds NaN or infinite"):
        load_avatar(tmp_path / "fp")


def test_checks_against_the_rig():
    flame = fake_rig_data(num_faces=9976)
    check_avatar_against_rig(make_avatar(max_face=9975), flame)
    with pytest.raises(UserInputError, match=r"avatar binds to faces up to 10\d\d\d but the rig "
                                             "'flame2020' has 9976; avatar expects teeth; enable "
                                             r"the teeth extension \(--teeth\)"):
        check_avatar_against_rig(make_avatar(n=2000, max_face=10143), flame)
    with pytest.raises(UserInputError, match="made for another rig"):
        check_avatar_against_rig(make_avatar(max_face=200), fake_rig_data(rig_id="procedural"))
    bad_shape = make_avatar()
    bad_shape.flame_param = {"shape": np.zeros(100, np.float32)}
    with pytest.raises(UserInputError, match="has 100 shape values but the rig 'flame2020' has 300"):
        check_avatar_against_rig(bad_shape, fake_rig_data())
    bad_offset = make_avatar()
    bad_offset.flame_param = {"static_offset": np.zeros((1, 61, 3), np.float32)}
    with pytest.raises(UserInputError, match="static_offset covers 61 vertices"):
        check_avatar_against_rig(bad_offset, fake_rig_data())


def test_resolve_avatar_rig(tmp_path):
    own = tmp_path / "own"
    save_avatar(make_avatar(), own)
    save_rig_data(fake_rig_data(rig_id="procedural-head-v1"), own / "rig.npz")
    assert resolve_avatar_rig(own).rig_id == "procedural-head-v1"
    with pytest.raises(UserInputError, match="carries its own rig"):
        resolve_avatar_rig(own, flame_pkl=tmp_path / "x.pkl")

    ga = tmp_path / "ga"
    save_avatar(make_avatar(n=3000, max_face=10143, seed=1), ga)
    with pytest.raises(UserInputError, match="give the FLAME model it was made for with --flame"):
        resolve_avatar_rig(ga)
    write_plain_pickle(fake_flame_dict(num_verts=5023, num_faces=9976, seed=5),
                       tmp_path / "generic_model.pkl")
    rig = resolve_avatar_rig(ga, flame_pkl=tmp_path / "generic_model.pkl")
    assert rig.rig_id == "flame2020+teeth" and rig.num_faces == 10144
    with pytest.raises(UserInputError, match="avatar expects teeth"):
        resolve_avatar_rig(ga, flame_pkl=tmp_path / "generic_model.pkl", teeth=False)

    plain = tmp_path / "plain"
    save_avatar(make_avatar(bound=False), plain)
    assert resolve_avatar_rig(plain) is None


def test_degenerate_gaussians_are_dropped_with_a_warning(tmp_path):
    """A few diverged Gaussians (zero quaternion, enormous scale) are removed, saying how many;
    the rest, and their bindings, stay in order."""
    avatar = make_avatar(n=10)
    avatar.quats[2] = 0.0
    avatar.log_scales[7, 1] = 50.0
    write_ply(avatar, tmp_path / "a.ply")
    with pytest.warns(UserWarning, match=r"dropped 2 of 10 degenerate Gaussians \(1 with an "
                                         r"all-zero rotation, 1 with a log-scale above 12\)"):
        back = read_ply(tmp_path / "a.ply")
    keep = np.setdiff1d(np.arange(10), [2, 7])
    assert np.array_equal(back.xyz, avatar.xyz[keep])
    assert np.array_equal(back.binding, avatar.binding[keep])
    avatar.quats[:] = 0.0
    write_ply(avatar, tmp_path / "b.ply")
    with pytest.raises(UserInputError, match="every Gaussian is degenerate"):
        read_ply(tmp_path / "b.ply")


def test_flame_param_values_beyond_plausible_are_refused(tmp_path):
    np.savez(tmp_path / "fp.npz", static_offset=np.full((1, 4, 3), 2.0), expr=np.zeros((3, 2)))
    with pytest.raises(UserInputError, match="static_offset holds 2, beyond the plausible"):
        load_flame_param(tmp_path / "fp.npz")
    np.savez(tmp_path / "fp.npz", translation=np.full((3, 3), 1e6))
    with pytest.raises(UserInputError, match="translation holds 1e\\+06"):
        load_flame_param(tmp_path / "fp.npz")
    np.savez(tmp_path / "fp.npz", static_offset=np.full((1, 4, 3), 0.003))
    assert load_flame_param(tmp_path / "fp.npz")["static_offset"].max() == pytest.approx(0.003)
