"""driver.retarget: a source rig's motion mapped onto another FLAME-layout rig.

The synthetic pair: an analytic head (ellipsoid + nose + lip ridge, separate eyeballs) with
named expression fields, and a FLAME-style target built from the same analytic surface but
remeshed at another resolution, jittered, scaled, rotated and moved, whose anonymous
`expr_NNN` basis is an invertible mix of the same fields plus unrelated extra components. The
exact answer is therefore known: the target can reproduce every source shape (except the
tongue, which the target lacks) once the mixing is undone.
"""
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from scipy.spatial.transform import Rotation

from driver.motion import MotionFrame
from driver.retarget import Retargeter
from splat.assets_paths import DEFAULT_RIG
from splat.avatar import GaussianAvatar, save_avatar
from splat.errors import UserInputError
from splat.rig import RigData, Rig, load_rig_data, save_rig_data
from tests.conftest import ROOT

SRC_NAMES = ["lips_part", "smile_L", "smile_R", "lip_pucker", "blink_L", "brow_raise", "tongue_up"]
N_FIELDS = 6                               # all but the tongue act on the face surface
EYES = np.array([[0.032, 0.02, 0.06], [-0.032, 0.02, 0.06]])
TONGUE = np.array([0.0, -0.05, 0.05])
SIM = dict(scale=1.15, R=Rotation.from_euler("xyz", [8, -12, 5], degrees=True).as_matrix(),
           t=np.array([0.01, -0.02, 0.03]))


def uv_sphere(n_lat: int, n_lon: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit sphere: poles + rings, outward-facing triangles; +z at longitude 0."""
    theta = np.linspace(0, np.pi, n_lat + 2)[1:-1]
    phi = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    T, P = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(T) * np.sin(P), np.cos(T), np.sin(T) * np.cos(P)], -1).reshape(-1, 3)
    verts = np.vstack([[0, 1, 0], ring, [0, -1, 0]])
    faces = []
    idx = lambda i, j: 1 + i * n_lon + j % n_lon  # noqa: E731
    for j in range(n_lon):
        faces.append([0, idx(0, j + 1), idx(0, j)])
        faces.append([len(verts) - 1, idx(n_lat - 1, j), idx(n_lat - 1, j + 1)])
        for i in range(n_lat - 1):
            faces += [[idx(i, j), idx(i, j + 1), idx(i + 1, j)],
                      [idx(i, j + 1), idx(i + 1, j + 1), idx(i + 1, j)]]
    return verts, np.array(faces)


def bump(c: np.ndarray, centre, radius) -> np.ndarray:
    d = (c[:, :2] - np.asarray(centre)) / np.asarray(radius)
    return np.exp(-np.sum(d * d, axis=1)) * (c[:, 2] > 0)


def head_surface(n_lat: int, n_lon: int) -> tuple[np.ndarray, np.ndarray]:
    v, f = uv_sphere(n_lat, n_lon)
    v = v * [0.075, 0.1, 0.09]
    v[:, 2] += 0.018 * bump(v, (0, -0.01), (0.01, 0.016))        # nose
    v[:, 2] += 0.005 * bump(v, (0, -0.045), (0.025, 0.01))       # lip ridge
    return v, f


def fields(c: np.ndarray, part: np.ndarray) -> np.ndarray:
    """(V,3,7) canonical displacement of each SRC_NAMES shape at canonical positions c."""
    skin = (part == 0)[:, None]
    lips = bump(c, (0, -0.045), (0.03, 0.012))[:, None]
    out = np.zeros((len(c), 3, len(SRC_NAMES)))
    out[:, 1, 0] = 0.004 * lips[:, 0] * np.tanh((c[:, 1] + 0.045) / 0.008)
    for k, side in ((1, 1), (2, -1)):
        corner = bump(c, (side * 0.028, -0.045), (0.016, 0.016))[:, None]
        out[:, :, k] = 0.005 * corner * [side * 0.7, 0.7, 0]
    out[:, :, 3] = 0.006 * lips * [0, 0, 1]
    out[:, :, 4] = 0.006 * bump(c, (0.032, 0.03), (0.016, 0.012))[:, None] * [0, -1, 0]
    out[:, :, 5] = 0.004 * bump(c, (0, 0.055), (0.05, 0.012))[:, None] * [0, 1, 0]
    out[:, :, :N_FIELDS] *= skin[:, :, None]
    out[:, :, 6] = (part == 3)[:, None] * [0, 0.008, 0]
    return out


def analytic_rig(rig_id: str, n_lat: int, n_lon: int, tongue: bool, flame_masks: bool,
                 jitter: float = 0.0, seed: int = 0
                 ) -> tuple[RigData, np.ndarray, np.ndarray, np.ndarray]:
    """A FLAME-layout head in canonical space: (rig with the named fields, canonical verts,
    canonical fields, part labels). Parts: 0 skin, 1 eyeballs, 3 tongue (EXCLUSIVE_PARTS + 1)."""
    rng = np.random.default_rng(seed)
    v, f = head_surface(n_lat, n_lon)
    v = v + rng.normal(0, jitter, v.shape)
    parts, faces = [np.zeros(len(v), int)], [f]
    ev, ef = uv_sphere(5, 8)
    blobs = [(EYES[0], 0.011, 1), (EYES[1], 0.011, 1)] + ([(TONGUE, 0.01, 3)] if tongue else [])
    for centre, radius, label in blobs:
        faces.append(ef + sum(len(p) for p in parts))
        v = np.vstack([v, ev * radius + centre])
        parts.append(np.full(len(ev), label))
    part, faces = np.concatenate(parts), np.vstack(faces)
    V, bottom_pole = len(v), len(parts[0]) - 1
    weights = np.zeros((V, 5))
    front = v[:, 2] > 0
    jaw = np.clip((-0.045 - v[:, 1]) / 0.004 + 0.5, 0, 1) * front * (part == 0) + (part == 3)
    weights[:, 2], weights[:, 1] = jaw, 1 - jaw
    eye_idx = [np.flatnonzero(part == 1)[:len(ev)], np.flatnonzero(part == 1)[len(ev):]]
    J = np.zeros((5, V))
    J[0, bottom_pole] = J[1, bottom_pole] = 1.0
    J[2, [0, bottom_pole]] = 0.5                                  # the jaw pivots at the centre
    J[3, eye_idx[0]], J[4, eye_idx[1]] = 1 / len(ev), 1 / len(ev)
    canon_fields = fields(v, part)
    lips = np.flatnonzero((part == 0) & (bump(v, (0, -0.045), (0.026, 0.007)) > 0.5))
    masks = {"lips": lips, "upper_face": np.flatnonzero((part == 0) & front & (v[:, 1] > 0)),
             "eyes": np.flatnonzero(part == 1)}
    if flame_masks:
        masks.update(left_eyeball=eye_idx[0], right_eyeball=eye_idx[1])
    else:
        masks["eyeballs"] = np.flatnonzero(part == 1)
    if tongue:
        masks["tongue"] = np.flatnonzero(part == 3)
    names = SRC_NAMES if tongue else SRC_NAMES[:N_FIELDS]
    rig = RigData(v_template=v, faces=faces, shapedirs=canon_fields[:, :, :len(names)],
                  n_shape=0, n_expr=len(names), posedirs=np.zeros((V, 3, 36)), J_regressor=J,
                  weights=weights, kintree_table=np.array([[-1, 0, 1, 1, 1], [0, 1, 2, 3, 4]]),
                  expr_names=names, shape_names=[], masks=masks, rig_id=rig_id)
    return rig, v, canon_fields, part


def flame_like_target(n_extra: int = 3, seed: int = 1):
    """The remeshed, transformed FLAME-style target, its canonical verts and fields, and the
    mixing matrix A (basis = s R F @ A, plus extras)."""
    rng = np.random.default_rng(seed)
    rig, canon, canon_fields, part = analytic_rig("flame-like", 60, 100, tongue=False,
                                                  flame_masks=True,
                                            jitter=0.0002, seed=seed)
    s, R, t = SIM["scale"], SIM["R"], SIM["t"]
    A = np.eye(N_FIELDS) + 0.4 * rng.normal(size=(N_FIELDS, N_FIELDS))
    moved = s * np.einsum("ij,vjk->vik", R, canon_fields[:, :, :N_FIELDS])
    extra = np.stack([0.003 * bump(canon, rng.uniform(-0.04, 0.04, 2), (0.01, 0.01))[:, None]
                      * rng.normal(size=3) for _ in range(n_extra)], axis=-1)
    basis = np.concatenate([moved @ A, s * np.einsum("ij,vjk->vik", R, extra)], axis=-1)
    E = basis.shape[-1]
    target = RigData(v_template=s * canon @ R.T + t, faces=rig.faces, shapedirs=basis, n_shape=0,
                     n_expr=E, posedirs=rig.posedirs, J_regressor=rig.J_regressor,
                     weights=rig.weights, kintree_table=rig.kintree_table,
                     expr_names=[f"expr_{i:03d}" for i in range(E)], shape_names=[],
                     masks=rig.masks, rig_id="flame-like")
    return target, (canon, canon_fields, part), A


@pytest.fixture(scope="module")
def pair():
    source = analytic_rig("analytic-src", 70, 120, tongue=True, flame_masks=False)[0]
    target, canon, A = flame_like_target()
    return source, target, canon, A, Retargeter(source, target, cache_dir=None)


def test_alignment_finds_the_transform(pair):
    *_, rt = pair
    sim = rt.fit.similarity
    assert abs(sim.scale - SIM["scale"]) < 0.03
    assert np.degrees(np.linalg.norm(Rotation.from_matrix(sim.R @ SIM["R"].T).as_rotvec())) < 2


def test_source_expression_becomes_the_aligned_displacement(pair):
    source, target, (canon, fields_t, part), A, rt = pair
    t_rig = Rig(target)
    rest = t_rig({})[0].numpy()
    face = np.flatnonzero((part == 0) & (canon[:, 2] > 0.03))
    for k in range(N_FIELDS):
        e = np.zeros(source.n_expr, np.float32)
        e[k] = 1.0
        out = rt.apply(MotionFrame(t=0.0, expr=e))
        got = t_rig({"expr": out.expr})[0].numpy() - rest
        want = SIM["scale"] * fields_t[:, :, k] @ SIM["R"].T
        err = np.linalg.norm(got[face] - want[face]) / np.linalg.norm(want[face])
        assert err < 0.15, (SRC_NAMES[k], err)
    # The mixing is undone: the first columns of M are A^-1 (transposed), extras stay unused.
    assert np.abs(rt.matrix[:N_FIELDS, :N_FIELDS] - np.linalg.inv(A).T).max() < 0.15
    assert np.abs(rt.matrix[:, N_FIELDS:]).max() < 0.1


def test_quality_reports_each_source_shape(pair):
    *_, rt = pair
    q = rt.quality()
    assert list(q) == SRC_NAMES
    assert all(q[n] < 0.15 for n in SRC_NAMES[:N_FIELDS]), q
    assert q["tongue_up"] > 0.95                     # the target has no tongue
    assert "'analytic-src' to rig 'flame-like'" in rt.summary()


def test_poses_pass_through_conjugated_by_the_alignment(pair):
    source, target, _, _, rt = pair
    jaw = np.float32([0.2, 0.01, -0.02])
    frame = MotionFrame(t=1.5, expr=np.zeros(source.n_expr, np.float32), jaw_pose=jaw,
                        eyes_pose=np.float32([0.1, 0.2, 0, 0.1, 0.2, 0]))
    out = rt.apply(frame)
    R = rt.fit.similarity.R
    assert out.t == 1.5 and out.expr.shape == (target.n_expr,)
    assert np.allclose(out.jaw_pose, R @ jaw, atol=1e-6)
    assert np.isclose(np.linalg.norm(out.jaw_pose), np.linalg.norm(jaw), atol=1e-6)
    assert np.allclose(out.eyes_pose[3:], R @ frame.eyes_pose[3:], atol=1e-6)
    assert np.allclose(out.translation, 0, atol=1e-7) and np.allclose(out.expr, 0)


def test_global_rotation_pivots_like_the_source(pair):
    """A rigid head turn on the source, aligned, equals the retargeted turn on the target."""
    source, target, _, _, rt = pair
    frame = MotionFrame(t=0.0, expr=np.zeros(source.n_expr, np.float32),
                        rotation=np.float32([0.1, 0.3, -0.05]),
                        translation=np.float32([0.01, 0.0, -0.02]))
    src_moved = rt.fit.similarity.apply(Rig(source)(frame.params())[0].numpy())
    eye_src = src_moved[source.J_regressor[3] > 0].mean(0)
    tgt_moved = Rig(target)(rt.apply(frame).params())[0].numpy()
    eye_tgt = tgt_moved[target.J_regressor[3] > 0].mean(0)
    assert np.linalg.norm(eye_src - eye_tgt) < 0.002


def test_same_rig_gives_identity(pair):
    source, *_ = pair
    rt = Retargeter(source, source, cache_dir=None)
    assert np.abs(rt.matrix - np.eye(source.n_expr)).max() < 0.02
    assert max(rt.quality().values()) < 0.02
    assert np.isclose(rt.fit.similarity.scale, 1) and np.allclose(rt.fit.similarity.R, np.eye(3))


def test_cache_round_trip(pair, tmp_path):
    source, target, *_, rt = pair
    first = Retargeter(source, target, cache_dir=tmp_path)
    again = Retargeter(source, target, cache_dir=tmp_path)
    assert not first.from_cache and again.from_cache and len(list(tmp_path.iterdir())) == 1
    assert np.allclose(again.matrix, rt.matrix) and again.quality() == first.quality()


@pytest.mark.skipif(not DEFAULT_RIG.is_file(), reason="default rig not generated")
def test_default_rig_onto_a_perturbed_reordered_copy():
    """The shipped rig onto itself with shuffled vertices, 0.2 mm of noise, another pose in
    space and a mixed basis: M must undo the mixing and every shape must transfer."""
    rig = load_rig_data(DEFAULT_RIG)
    rng = np.random.default_rng(3)
    perm = rng.permutation(rig.num_verts)
    inv = np.argsort(perm)
    s, R, t = SIM["scale"], SIM["R"], SIM["t"]
    A = np.eye(rig.n_expr) + 0.1 * rng.normal(size=(rig.n_expr, rig.n_expr))
    expr = rig.shapedirs[perm, :, rig.n_shape:]
    target = RigData(
        v_template=s * (rig.v_template[perm] + rng.normal(0, 2e-4, (rig.num_verts, 3))) @ R.T + t,
        faces=inv[rig.faces], shapedirs=s * np.einsum("ij,vjk->vik", R, expr) @ A, n_shape=0,
        n_expr=rig.n_expr, posedirs=rig.posedirs[perm], J_regressor=rig.J_regressor[:, perm],
        weights=rig.weights[perm], kintree_table=rig.kintree_table,
        expr_names=[f"expr_{i:03d}" for i in range(rig.n_expr)], shape_names=[],
        masks={k: inv[v] for k, v in rig.masks.items()}, rig_id="default-copy")
    rt = Retargeter(rig, target, cache_dir=None)
    q = rt.quality()
    assert max(q.values()) < 0.15 and np.median(list(q.values())) < 0.05, q
    # Nearly collinear shapes (the rig's basis is not orthogonal) leave M a little freedom.
    assert np.abs(rt.matrix - np.linalg.inv(A).T).max() < 0.15


# ------------------------------------------------------------------------- render command

def run_main(tmp_path, *args):
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
           "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def flame_like_avatar(tmp_path_factory):
    """The synthetic target as an avatar folder (one Gaussian per triangle) + the source rig."""
    folder = tmp_path_factory.mktemp("retarget_avatar")
    target = flame_like_target()[0]
    source = analytic_rig("analytic-src", 70, 120, tongue=True, flame_masks=False)[0]
    F = len(target.faces)
    avatar = GaussianAvatar(
        xyz=np.zeros((F, 3), np.float32), log_scales=np.full((F, 3), np.log(0.9), np.float32),
        quats=np.tile(np.float32([1, 0, 0, 0]), (F, 1)), opacity_logits=np.full(F, 6.0, np.float32),
        sh=np.zeros((F, 1, 3), np.float32), binding=np.arange(F, dtype=np.int64))
    save_avatar(avatar, folder / "avatar")
    save_rig_data(target, folder / "avatar" / "rig.npz")
    save_rig_data(source, folder / "source.npz")
    seconds = 0.3
    sr = 16000
    soundfile.write(folder / "in.wav", np.zeros(int(seconds * sr), np.float32), sr)
    n = int(seconds * 30)
    expr = np.zeros((n, source.n_expr), np.float32)
    expr[:, 1] = np.linspace(0, 1, n)                     # a growing left smile
    np.savez(folder / "motion.npz", expr=expr, jaw_pose=np.zeros((n, 3), np.float32))
    return folder


def test_render_with_retarget_from_a_motion_file(tmp_path, flame_like_avatar):
    d = flame_like_avatar
    r = run_main(tmp_path, "render", "--audio", d / "in.wav", "--out", tmp_path / "clip.mp4",
                 "--avatar", d / "avatar", "--motion", d / "motion.npz", "--retarget",
                 "--source-rig", d / "source.npz", "--size", 32, "--backend", "cpu", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "motion is retargeted from rig 'analytic-src' to rig 'flame-like'" in r.stdout
    assert (tmp_path / "clip.mp4").stat().st_size > 0
    assert len(list((tmp_path / "cache" / "talking-splat" / "retarget").iterdir())) == 1


def test_checkpoint_for_another_rig_asks_for_retarget(tmp_path, flame_like_avatar):
    from driver.checkpoint import CheckpointInfo, save_checkpoint
    from driver.model import Learn2TalkRegressor
    from tests.test_model import tiny_config

    d = flame_like_avatar
    source = load_rig_data(d / "source.npz")
    model = Learn2TalkRegressor(tiny_config(outputs=[("expr", source.n_expr), ("jaw_pose", 3)]))
    save_checkpoint(model, CheckpointInfo.for_rig(source), tmp_path / "ckpt")
    common = ("render", "--audio", d / "in.wav", "--out", tmp_path / "clip.mp4", "--avatar",
              d / "avatar", "--checkpoint", tmp_path / "ckpt", "--size", 32, "--backend", "cpu",
              "--quiet", "--no-idle")
    r = run_main(tmp_path, *common)
    assert r.returncode == 2 and "--retarget" in r.stderr and "'analytic-src'" in r.stderr
    r = run_main(tmp_path, *common, "--retarget")      # the rig is found nowhere: say how
    assert r.returncode == 2 and "--source-rig" in r.stderr
    r = run_main(tmp_path, *common, "--retarget", "--source-rig", d / "avatar" / "rig.npz")
    assert r.returncode == 2 and "trained for 'analytic-src'" in r.stderr
    r = run_main(tmp_path, *common, "--retarget", "--source-rig", d / "source.npz")
    assert r.returncode == 0, r.stderr
    assert "retargeted from rig 'analytic-src'" in r.stdout


def test_live_engine_retargets_a_foreign_rig(tmp_path, flame_like_avatar, monkeypatch):
    """The window has no --retarget flag: opening a checkpoint for another rig retargets (auto)
    and says so; the same checkpoint on its own rig streams unchanged."""
    from driver.checkpoint import CheckpointInfo, save_checkpoint
    from driver.model import Learn2TalkRegressor
    from driver.motion_source import open_motion
    from tests.test_model import tiny_config

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    d = flame_like_avatar
    source = load_rig_data(d / "source.npz")
    target = load_rig_data(d / "avatar" / "rig.npz")
    model = Learn2TalkRegressor(tiny_config(outputs=[("expr", source.n_expr), ("jaw_pose", 3)]))
    save_checkpoint(model, CheckpointInfo.for_rig(source), tmp_path / "ckpt")
    save_rig_data(source, tmp_path / "ckpt" / "rig.npz")   # a checkpoint that ships its rig

    opened = open_motion(tmp_path / "ckpt", target, retarget="auto", device="cpu")
    assert opened.note.startswith("retargeted:") and opened.rig.rig_id == source.rig_id
    engine = opened.engine()
    frames = engine.push(np.zeros(16000, np.float32), 0.0) + engine.flush()
    assert frames and all(f.expr.shape == (target.n_expr,) for f in frames)

    same = open_motion(tmp_path / "ckpt", source, retarget="auto", device="cpu")
    assert same.note == "" and same.rigs.retargeter is None
    assert all(f.expr.shape == (source.n_expr,) for f in same.engine().push(np.zeros(8000, np.float32), 0.0))
    with pytest.raises(UserInputError, match="--retarget"):      # render without --retarget
        open_motion(tmp_path / "ckpt", target, retarget="off", device="cpu")