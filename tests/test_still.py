"""`main.py still`: writes a PNG of the right size, poses the avatar, and refuses bad input clearly."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

import main
from tests.test_pipeline import EXPR_NAMES, write_tiny_avatar_folder


@pytest.fixture(scope="module")
def avatar_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("avatar")
    write_tiny_avatar_folder(folder)
    return folder


def test_still_writes_a_png_with_the_avatar_over_the_background(avatar_dir, tmp_path, capsys):
    out = tmp_path / "x.png"
    code = main.main(["still", "--out", str(out), "--avatar", str(avatar_dir), "--size", "64",
                      "--backend", "cpu", "--background", "0,0,1", "--framing", "head"])
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    bgr = cv2.imread(str(out))
    assert bgr.shape == (64, 64, 3)
    assert tuple(bgr[0, 0]) == (255, 0, 0)  # blue background in a corner, written as BGR
    assert np.abs(bgr.astype(int) - [255, 0, 0]).sum(axis=2).max() > 100  # the avatar is there


def test_pose_flags_change_the_picture(avatar_dir, tmp_path):
    images = {}
    for name, extra in {"neutral": [], "posed": ["--jaw", "0.3", "--expr", "smile=1", "--yaw", "20"]}.items():
        out = tmp_path / f"{name}.png"
        assert main.main(["still", "--out", str(out), "--avatar", str(avatar_dir), "--size", "48", *extra]) == 0
        images[name] = cv2.imread(str(out)).astype(int)
    assert np.abs(images["posed"] - images["neutral"]).max() > 50


def test_unknown_expression_lists_the_valid_names(avatar_dir, tmp_path, capsys):
    code = main.main(["still", "--out", str(tmp_path / "x.png"), "--avatar", str(avatar_dir), "--expr", "grin=1"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown expression 'grin'" in err
    assert all(name in err for name in EXPR_NAMES)


@pytest.mark.parametrize("flags,message", [
    (["--background", "red"], "--background"),
    (["--size", "4"], "--size"),
    (["--backend", "gsplat"], "gsplat"),
])
def test_bad_flags_end_in_one_clear_line(avatar_dir, tmp_path, capsys, flags, message):
    import torch

    if "gsplat" in flags and torch.cuda.is_available():
        pytest.skip("a GPU is present: gsplat may be usable")
    code = main.main(["still", "--out", str(tmp_path / "x.png"), "--avatar", str(avatar_dir), *flags])
    assert code == 2 and message in capsys.readouterr().err


def test_missing_default_avatar_says_how_to_make_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("splat.assets_paths.DEFAULT_AVATAR", tmp_path / "nowhere")
    assert main.main(["still", "--out", str(tmp_path / "x.png")]) == 2
    assert "default avatar missing; run python main.py assets" in capsys.readouterr().err
