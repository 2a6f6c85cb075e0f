"""Bad data and bad numbers, command by command (issue 13): every row is a command line that
names a crafted file or a bad option value; each must exit 2 with a message naming the option
or the file and field, write nothing, never say "wrote", and never show a traceback. Crafted
pickles must never run their payload (a marker file they would create stays absent).

Rows run in-process through `main.main` (fast); a few run `main.py` in a subprocess to hold the
real entry point to the same promise.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile

import main
from driver.checkpoint import CheckpointInfo, save_checkpoint
from driver.model import Learn2TalkRegressor, RegressorConfig
from splat.avatar import GaussianAvatar, save_avatar, write_ply
from splat.rig import save_rig_data
from tests.conftest import ROOT
from tests.test_pipeline import tiny_avatar, tiny_rig
from tests.test_rig_fakes import fake_flame_dict, write_plain_pickle

MARKER = "pwned.marker"


class Payload:
    """Unpickling this runs a shell command that creates the marker file (if anything lets it)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


# ------------------------------------------------------------------------- the crafted files

def _motion(lab: Path, name: str, **arrays) -> None:
    np.savez(lab / f"{name}.npz", **arrays)


def _plain_scene(n: int = 40, **override) -> GaussianAvatar:
    """A small world-space 3DGS blob in front of the origin; fields replaced by `override`."""
    rng = np.random.default_rng(3)
    fields = dict(xyz=rng.normal(size=(n, 3)).astype(np.float32) * 0.05,
                  log_scales=np.full((n, 3), np.log(0.01), np.float32),
                  quats=np.tile(np.float32([1, 0, 0, 0]), (n, 1)),
                  opacity_logits=np.full(n, 4.0, np.float32),
                  sh=rng.uniform(-1, 1, (n, 1, 3)).astype(np.float32))
    fields.update(override)
    return GaussianAvatar(**fields)


def _bound_ply(folder: Path, num_faces: int = 100) -> None:
    """A FLAME-bound avatar folder without rig.npz (so --flame gives its rig)."""
    n = 20
    rng = np.random.default_rng(2)
    save_avatar(GaussianAvatar(
        xyz=np.zeros((n, 3), np.float32), log_scales=np.full((n, 3), -1.0, np.float32),
        quats=np.tile(np.float32([1, 0, 0, 0]), (n, 1)), opacity_logits=np.full(n, 3.0, np.float32),
        sh=rng.uniform(-1, 1, (n, 1, 3)).astype(np.float32),
        binding=rng.integers(0, num_faces, n)), folder)


def _flame(lab: Path, name: str, change: Callable[[dict], None]) -> None:
    d = fake_flame_dict()
    change(d)
    folder = lab / f"flame_{name}"
    folder.mkdir()
    write_plain_pickle(d, folder / "generic_model.pkl")


def _checkpoint(lab: Path, name: str, edit: Callable[[dict], object]) -> None:
    """A copy of the good checkpoint whose config.json is replaced by edit(config)."""
    folder = lab / f"ckpt_{name}"
    shutil.copytree(lab / "ckpt_good", folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(edit(config)))


def _arch(**changes):
    def edit(config: dict) -> dict:
        for key, value in changes.items():
            if key.startswith("frontend_"):
                config["architecture"]["frontend"][key[len("frontend_"):]] = value
            else:
                config["architecture"][key] = value
        return config
    return edit


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    lab = tmp_path_factory.mktemp("bad_inputs")
    sr = 16000
    soundfile.write(lab / "a.wav", (0.2 * np.sin(np.arange(sr // 5) / 5.0)).astype(np.float32), sr)

    rig = tiny_rig()
    (lab / "avatar").mkdir()
    save_avatar(tiny_avatar(rig), lab / "avatar")
    save_rig_data(rig, lab / "avatar" / "rig.npz")

    T = 6
    good = dict(jaw_pose=np.zeros((T, 3), np.float32), expr=np.zeros((T, 2), np.float32))
    _motion(lab, "m_good", **good)
    _motion(lab, "m_fps0", fps=np.float32(0), **good)
    _motion(lab, "m_fpsnan", fps=np.float32("nan"), **good)
    _motion(lab, "m_fps2", fps=np.float32([30, 30]), **good)
    _motion(lab, "m_empty", jaw_pose=np.zeros((0, 3), np.float32))
    _motion(lab, "m_nan", jaw_pose=np.where(np.arange(T)[:, None] == 3, np.nan, np.zeros((T, 3))))
    _motion(lab, "m_inf", expr=np.full((T, 2), np.inf))
    _motion(lab, "m_width", jaw_pose=np.zeros((T, 2)))
    _motion(lab, "m_flat", expr=np.zeros(T))
    _motion(lab, "m_counts", jaw_pose=np.zeros((T, 3)), expr=np.zeros((T + 1, 2)))
    _motion(lab, "m_jaw", jaw_pose=np.tile([1e9, 0, 0], (T, 1)))
    _motion(lab, "m_neck", neck_pose=np.tile([0, 40.0, 0], (T, 1)))
    _motion(lab, "m_expr", expr=np.full((T, 2), 1e6))
    _motion(lab, "m_key", lips=np.zeros((T, 3)))
    _motion(lab, "m_str", expr=np.array([["a", "b"]] * T))
    _motion(lab, "m_wide", expr=np.zeros((T, 7)))
    (lab / "m_junk.npz").write_bytes(b"PK\x03\x04 not really a zip")

    config = RegressorConfig(outputs=[("expr", rig.n_expr), ("jaw_pose", 3)], d_model=16,
                             n_heads=2)
    config.frontend["channels"] = 16
    model = Learn2TalkRegressor(config)
    save_checkpoint(model, CheckpointInfo.for_rig(rig, trained=True), lab / "ckpt_good")
    _checkpoint(lab, "list", lambda c: [c])
    _checkpoint(lab, "heads0", _arch(n_heads=0))
    _checkpoint(lab, "negative", _arch(d_model=-16))
    _checkpoint(lab, "fpsnan", _arch(fps=float("nan")))
    _checkpoint(lab, "channels", _arch(frontend_channels=-1))
    _checkpoint(lab, "outputs", _arch(outputs=[["expr", -3]]))
    _checkpoint(lab, "kind", _arch(frontend_kind="magic"))
    _checkpoint(lab, "window", _arch(self_attn_window="90"))
    _checkpoint(lab, "rigid", lambda c: {**c, "rig_id": 7})
    (lab / "ckpt_notjson").mkdir()
    (lab / "ckpt_notjson" / "config.json").write_text("{architecture: nope")
    shutil.copytree(lab / "ckpt_good", lab / "ckpt_nan")
    from safetensors.torch import load_file, save_file
    weights = load_file(str(lab / "ckpt_nan" / "model.safetensors"))
    first = sorted(k for k, v in weights.items() if v.is_floating_point())[0]
    weights[first] = weights[first].clone().fill_(float("nan"))
    save_file(weights, str(lab / "ckpt_nan" / "model.safetensors"))
    shutil.copytree(lab / "ckpt_good", lab / "ckpt_pickled")
    (lab / "ckpt_pickled" / "model.safetensors").write_bytes(
        pickle.dumps(Payload(lab / "ckpt_pickled" / MARKER)))

    (lab / "bound").mkdir()
    _bound_ply(lab / "bound")
    V = 60
    _flame(lab, "shapedirs", lambda d: d.update(shapedirs=d["shapedirs"][:-1]))
    _flame(lab, "posedirs", lambda d: d.update(posedirs=d["posedirs"][:, :, :20]))
    _flame(lab, "jreg", lambda d: d.update(J_regressor=np.zeros((5, V + 1))))
    _flame(lab, "weights", lambda d: d.update(weights=d["weights"][:, :4]))
    _flame(lab, "vtemplate", lambda d: d.update(v_template=d["v_template"][:, :2]))
    _flame(lab, "vnan", lambda d: d["v_template"].__setitem__((0, 0), np.nan))
    _flame(lab, "faces", lambda d: d.update(f=d["f"] + V))
    _flame(lab, "kintree", lambda d: d.update(kintree_table=np.zeros((2, 3), np.uint32)))
    _flame(lab, "strings", lambda d: d.update(weights=np.array(["x"] * V)))
    (lab / "flame_list").mkdir()
    (lab / "flame_list" / "generic_model.pkl").write_bytes(pickle.dumps([1, 2], protocol=2))
    (lab / "flame_evil").mkdir()
    (lab / "flame_evil" / "generic_model.pkl").write_bytes(
        pickle.dumps({"v_template": Payload(lab / "flame_evil" / MARKER)}, protocol=2))
    _flame(lab, "masks", lambda d: None)
    (lab / "flame_masks" / "FLAME_masks.pkl").write_bytes(
        pickle.dumps({"lips": Payload(lab / "flame_masks" / MARKER)}, protocol=2))

    for name, edit in {"rig_vnan": ("v_template", (3, 1)), "rig_wnan": ("weights", (0, 2))}.items():
        folder = lab / name
        shutil.copytree(lab / "avatar", folder)
        with np.load(folder / "rig.npz") as z:
            arrays = dict(z)
        arrays[edit[0]] = arrays[edit[0]].copy()
        arrays[edit[0]][edit[1]] = np.nan
        np.savez(folder / "rig.npz", **arrays)

    n = 40
    scenes = {
        "ply_nan": _plain_scene(xyz=np.full((n, 3), np.nan, np.float32)),
        "ply_huge": _plain_scene(log_scales=np.full((n, 3), 80.0, np.float32)),
        "ply_zeroquat": _plain_scene(quats=np.zeros((n, 4), np.float32)),
        "ply_clear": _plain_scene(opacity_logits=np.full(n, -40.0, np.float32)),
    }
    for name, scene in scenes.items():
        write_ply(scene, lab / f"{name}.ply")
    for name, param in {"offset": {"static_offset": np.full((1, rig.num_verts, 3), 1e30)},
                        "shapenan": {"shape": np.array([np.nan], np.float32)}}.items():
        folder = lab / f"fp_{name}"
        shutil.copytree(lab / "avatar", folder)
        np.savez(folder / "flame_param.npz", **param)
    return lab


# ------------------------------------------------------------------------------------ the rows

@dataclass
class Row:
    id: str
    argv: list[str]          # after the command's common options; "{lab}" is the crafted folder
    fragment: str            # must appear in the error line
    command: str = "still"
    marker: str | None = None  # a file a crafted pickle would create; it must stay absent

    def full_argv(self, lab: Path, out: Path) -> list[str]:
        args = [a.replace("{lab}", str(lab)) for a in self.argv]
        common = ["--size", "32", "--backend", "cpu"]
        if self.command == "still":
            if "--avatar" not in args:
                args += ["--avatar", str(lab / "avatar")]
            return ["still", "--out", str(out / "o.png"), *common, *args]
        if "--avatar" not in args:
            args += ["--avatar", str(lab / "avatar")]
        return ["render", "--audio", str(lab / "a.wav"), "--out", str(out / "o.mp4"), *common,
                "--quiet", "--no-idle", *args]


def _render(id: str, argv: list[str], fragment: str, marker: str | None = None) -> Row:
    return Row(id, argv, fragment, "render", marker)


def _motion_row(name: str, fragment: str) -> Row:
    return _render(f"motion-{name}", ["--motion", f"{{lab}}/m_{name}.npz"], f"m_{name}.npz: " + fragment)


def _ckpt_row(name: str, fragment: str, marker: str | None = None) -> Row:
    return _render(f"checkpoint-{name}", ["--checkpoint", f"{{lab}}/ckpt_{name}"], fragment, marker)


def _flame_row(name: str, fragment: str, marker: str | None = None) -> Row:
    return Row(f"flame-{name}", ["--avatar", "{lab}/bound", "--flame",
                                 f"{{lab}}/flame_{name}/generic_model.pkl"], fragment,
               marker=marker)


ROWS = [
    # still: every number an option can carry
    Row("jaw-nan", ["--jaw", "nan"], "--jaw must be a number from -0.2 to 0.7"),
    Row("jaw-inf", ["--jaw", "inf"], "--jaw must be"),
    Row("jaw-huge", ["--jaw", "1e9"], "--jaw must be"),
    Row("jaw-negative", ["--jaw", "-3"], "--jaw must be"),
    Row("yaw-nan", ["--yaw", "nan"], "--yaw must be"),
    Row("yaw-inf", ["--yaw=-inf"], "--yaw must be"),
    Row("pitch-nan", ["--pitch", "nan"], "--pitch must be"),
    Row("pitch-beyond-vertical", ["--pitch", "120"], "--pitch must be"),
    Row("distance-nan", ["--distance", "nan"], "--distance must be a positive number"),
    Row("distance-inf", ["--distance", "inf"], "--distance must be a positive number"),
    Row("distance-zero", ["--distance", "0"], "--distance must be a positive number"),
    Row("distance-negative", ["--distance", "-2"], "--distance must be a positive number"),
    Row("size-zero", ["--size", "0"], "--size must be between"),
    Row("size-huge", ["--size", "100000"], "--size must be between"),
    Row("expr-nan", ["--expr", "smile=nan"], "--expr smile must be a number"),
    Row("expr-inf", ["--expr", "smile=inf"], "--expr smile must be a number"),
    Row("expr-huge", ["--expr", "smile=1e9"], "--expr smile must be a number"),
    Row("expr-text", ["--expr", "smile=wide"], "--expr smile: 'wide' is not a number"),
    Row("camera-sees-nothing", ["--distance", "900"], "shows no avatar pixels"),
    # render: its own numbers, and the same camera checks
    _render("render-fps-zero", ["--fps", "0"], "--fps must be a number from 1 to 240"),
    _render("render-fps-nan", ["--fps", "nan"], "--fps must be"),
    _render("render-fps-inf", ["--fps", "inf"], "--fps must be"),
    _render("render-yaw-nan", ["--yaw", "nan"], "--yaw must be"),
    _render("render-pitch-nan", ["--pitch", "nan"], "--pitch must be"),
    _render("render-distance-inf", ["--distance", "inf"], "--distance must be"),
    _render("render-size-zero", ["--size", "0"], "--size must be between"),
    _render("render-camera-sees-nothing", ["--motion", "{lab}/m_good.npz", "--distance", "900"],
            "frame 0 (t=0.00 s) shows no avatar pixels"),
    # --motion files: every field of the schema
    _motion_row("fps0", "fps must be from 1 to 240, got 0"),
    _motion_row("fpsnan", "fps must be from 1 to 240, got nan"),
    _motion_row("fps2", "fps must be one number"),
    _motion_row("empty", "the motion has no frames"),
    _motion_row("nan", "jaw_pose holds NaN or infinite values (first at frame 3)"),
    _motion_row("inf", "expr holds NaN or infinite values"),
    _motion_row("width", "jaw_pose needs 3 values per frame, has 2"),
    _motion_row("flat", "expr must be (frames, values) arrays"),
    _motion_row("counts", "motion arrays have different frame counts"),
    _motion_row("jaw", "jaw_pose[:, 0] (jaw opening, radians) must stay within -0.2..0.7"),
    _motion_row("neck", "neck_pose (radians) must stay within"),
    _motion_row("expr", "expr must stay within -10..10"),
    _motion_row("key", "unknown motion keys ['lips']"),
    _motion_row("str", "expr must be numeric arrays"),
    _motion_row("wide", "expr has 7 values, the rig has 2"),
    _motion_row("junk", "not a readable motion .npz"),
    # checkpoint folders: config.json schema and the weights
    _ckpt_row("list", "corrupt checkpoint config (expected a JSON object, found list)"),
    _ckpt_row("heads0", "architecture.n_heads must be a whole number in 1..256, got 0"),
    _ckpt_row("negative", "architecture.d_model must be a whole number in 1..8192, got -16"),
    _ckpt_row("fpsnan", "architecture.fps must be a number"),
    _ckpt_row("channels", "architecture.frontend.channels must be a whole number"),
    _ckpt_row("outputs", "architecture.outputs must be a non-empty list"),
    _ckpt_row("kind", "architecture.frontend.kind is 'magic'"),
    _ckpt_row("window", "architecture.self_attn_window must be a whole number"),
    _ckpt_row("rigid", "rig_id and rig_topology must be strings"),
    _ckpt_row("notjson", "corrupt checkpoint config"),
    _ckpt_row("nan", "NaN or infinite weights"),
    _ckpt_row("pickled", "corrupt weights file", marker="ckpt_pickled/" + MARKER),
    # FLAME pickles: arrays checked against each other; code never runs
    _flame_row("shapedirs", "shapedirs has shape (59, 3, 310), which does not fit the 60 vertices"),
    _flame_row("posedirs", "posedirs has shape (60, 3, 20)"),
    _flame_row("jreg", "J_regressor has shape (5, 61), expected (5, 60)"),
    _flame_row("weights", "weights has shape (60, 4), expected (60, 5)"),
    _flame_row("vtemplate", "v_template has shape (60, 2), expected (V, 3)"),
    _flame_row("vnan", "v_template holds NaN or infinite values"),
    _flame_row("faces", "faces index vertices outside 0..59"),
    _flame_row("kintree", "kintree_table has shape (2, 3), expected (2, 5)"),
    _flame_row("strings", "weights is not a numeric array"),
    _flame_row("list", "expected a pickled dict, found list"),
    _flame_row("evil", "refusing to load posix.system", marker="flame_evil/" + MARKER),
    _flame_row("masks", "FLAME_masks.pkl: not a readable FLAME pickle",
               marker="flame_masks/" + MARKER),
    # rig.npz and PLY avatars
    Row("rig-npz-nan-vertex", ["--avatar", "{lab}/rig_vnan"], "rig.npz: rig 'test-plane': "
        "v_template holds NaN or infinite values"),
    Row("rig-npz-nan-weight", ["--avatar", "{lab}/rig_wnan"], "weights holds NaN"),
    Row("ply-nan", ["--avatar", "{lab}/ply_nan.ply"], "ply_nan.ply: PLY holds NaN or infinite values (xyz)"),
    Row("ply-huge-scales", ["--avatar", "{lab}/ply_huge.ply"], "every Gaussian is degenerate (0 "
        "with an all-zero rotation, 40 with a log-scale above 12)"),
    Row("ply-zero-quaternions", ["--avatar", "{lab}/ply_zeroquat.ply"], "every Gaussian is "
        "degenerate (40 with an all-zero rotation"),
    Row("ply-transparent", ["--avatar", "{lab}/ply_clear.ply"], "shows no avatar pixels: no "
        "Gaussian falls inside the camera's view"),
    Row("static-offset-1e30", ["--avatar", "{lab}/fp_offset"], "flame_param.npz: static_offset "
        "holds 1e+30, beyond the plausible +-1"),
    Row("flame-param-nan", ["--avatar", "{lab}/fp_shapenan"], "flame_param.npz: shape holds NaN"),
    _render("render-rig-npz-nan", ["--avatar", "{lab}/rig_vnan", "--motion", "{lab}/m_good.npz"],
            "v_template holds NaN"),
    _render("render-static-offset", ["--avatar", "{lab}/fp_offset", "--motion",
                                     "{lab}/m_good.npz"], "static_offset holds 1e+30"),
]


def _check(row: Row, lab: Path, out: Path, code: int, stdout: str, stderr: str) -> None:
    assert code == 2, (row.id, stdout, stderr)
    assert row.fragment in stderr, (row.id, stderr)
    assert stderr.strip().splitlines()[-1].startswith("error: "), stderr
    assert "Traceback" not in stdout + stderr
    assert "wrote" not in stdout
    assert not (out / "o.png").exists()
    if row.marker is not None:
        assert not (lab / row.marker).exists(), "a crafted pickle ran its payload"


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_is_one_clear_error(row, lab, tmp_path, capsys):
    code = main.main(row.full_argv(lab, tmp_path))
    captured = capsys.readouterr()
    _check(row, lab, tmp_path, code, captured.out, captured.err)


def test_the_table_covers_every_kind_of_bad_input():
    assert len(ROWS) >= 60 and len({r.id for r in ROWS}) == len(ROWS)
    assert sum(r.marker is not None for r in ROWS) >= 3


SUBPROCESS_ROWS = ["jaw-nan", "motion-fps0", "flame-evil"]


@pytest.mark.parametrize("row_id", SUBPROCESS_ROWS)
def test_the_real_entry_point_agrees(row_id, lab, tmp_path):
    row = next(r for r in ROWS if r.id == row_id)
    result = subprocess.run([sys.executable, "main.py", *row.full_argv(lab, tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    _check(row, lab, tmp_path, result.returncode, result.stdout, result.stderr)
