"""The committed default assets are what `python main.py assets` generates (byte for byte on
the machine that made them, up to cross-CPU float rounding elsewhere)."""
from pathlib import Path

from avatar_app.commands.assets import check_against_manifest, read_manifest, same_up_to_rounding
from splat.assets_paths import ASSETS_DIR

ROOT = Path(__file__).resolve().parents[1]


def test_committed_avatar_equals_a_fresh_generation():
    assert check_against_manifest(ASSETS_DIR, ["default_avatar"]) == []


def test_rounding_is_forgiven_but_a_changed_asset_is_not(tmp_path):
    import numpy as np
    from plyfile import PlyData

    committed = ASSETS_DIR / "default_avatar" / "point_cloud.ply"
    ply = PlyData.read(str(committed))
    vertex = ply["vertex"].data
    vertex["rot_0"][:100] += 3e-7                      # an ulp or two: another CPU's kernels
    ply.write(str(tmp_path / "rounded.ply"))
    assert same_up_to_rounding(tmp_path / "rounded.ply", committed)
    vertex["x"][7] += np.float32(0.001)                # one splat moved by 1 mm: a real change
    ply.write(str(tmp_path / "moved.ply"))
    assert not same_up_to_rounding(tmp_path / "moved.ply", committed)
    rig = ASSETS_DIR / "default_avatar" / "rig.npz"
    assert same_up_to_rounding(rig, rig) and not same_up_to_rounding(rig, committed)


def test_committed_demo_clip_equals_a_fresh_generation():
    assert check_against_manifest(ASSETS_DIR, ["demo_speech"]) == []


def test_demo_clip_rests_then_speaks():
    import numpy as np
    import soundfile as sf

    audio, rate = sf.read(ASSETS_DIR / "demo_speech.wav", dtype="float32")
    assert rate == 16000 and audio.ndim == 1
    assert np.abs(audio[: int(0.9 * rate)]).max() == 0.0     # the leading second is silent
    assert np.sqrt(np.mean(audio[rate:] ** 2)) > 0.01          # then speech


def test_manifest_lists_the_avatar_files_and_stays_small():
    files = read_manifest(ASSETS_DIR)["generators"]["default_avatar"]["files"]
    assert set(files) == {"default_avatar/rig.npz", "default_avatar/point_cloud.ply",
                          "default_avatar/flame_param.npz"}
    assert sum(f["bytes"] for f in files.values()) < 15e6


def test_assets_command_checks_and_regenerates(tmp_path):
    from main import main

    assert main(["assets", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "default_avatar" / "point_cloud.ply").is_file()
    assert main(["assets", "--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "default_avatar" / "rig.npz").write_bytes(b"changed")
    assert main(["assets", "--out", str(tmp_path), "--check"]) == 2


def test_default_paths_have_one_owner_and_ignore_the_current_folder(tmp_path, monkeypatch):
    """eval, render, the benches and the window take their defaults from splat.assets_paths,
    which names the files the way splat.avatar reads an avatar folder."""
    import argparse

    from avatar_app.commands import eval as eval_command
    from splat import assets_paths
    from splat.avatar import PLY_NAME, RIG_NAME

    assert ASSETS_DIR == ROOT / "assets"
    assert assets_paths.DEFAULT_RIG.name == RIG_NAME and assets_paths.DEFAULT_RIG.is_file()
    assert (assets_paths.default_avatar() / PLY_NAME).is_file()
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    eval_command.register(parser.add_subparsers())
    args = parser.parse_args(["eval"])
    assert args.checkpoint == assets_paths.DEFAULT_MODEL and args.checkpoint.is_absolute()
