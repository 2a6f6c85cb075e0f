"""The Avatar tab in the real window (Xvfb): the picker of embedded heads, live identity
sliders and the light of relightable avatars, with the 1366x768 layout and tooltip checks."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import xvfb_pulse
from tests.test_app_gui import ROOT, _env
from tests.xvfb_pulse import xvfb


def _face_diff(a: Path, b: Path) -> float:
    """Mean difference of the face (the Face view's middle) of two saved renders."""
    import cv2

    ia, ib = (cv2.imread(str(p)).astype(np.float32) / 255 for p in (a, b))
    h, w = ia.shape[:2]
    box = (slice(int(0.2 * h), int(0.95 * h)), slice(int(0.2 * w), int(0.8 * w)))
    return float(np.abs(ia[box] - ib[box]).mean())


def test_light_defaults_match_the_renderers():
    from avatar_app.settings import Settings
    from splat.relight import DEFAULT_AZ_EL

    s = Settings()
    assert (s.light_az, s.light_el) == DEFAULT_AZ_EL and s.light_colour == [1.0, 1.0, 1.0]


@pytest.mark.skipif(xvfb_pulse.XVFB_MISSING, reason="needs Xvfb (apt: xvfb)")
def test_pick_human_identity_sliders_and_light(tmp_path):
    r = tmp_path / "r"
    r.mkdir()
    script = [
        {"set": {"blink": False, "gaze": False, "sway": False}}, {"wait_loaded": True},
        {"tab": "tab_avatar"}, {"wait": 0.5}, {"report": str(r / "procedural.json")},
        {"avatar": "human"}, {"wait": 0.2}, {"wait_idle": True}, {"wait_frames": 2},
        {"wait": 0.5}, {"report": str(r / "human.json")},
        {"save_render": str(r / "rest.png")}, {"wait_frames": 2},
        {"save_render": str(r / "rest2.png")},
        {"identity": {"face_oval": 1.0, "nose_size": 1.0, "mouth_width": 1.0}},
        {"wait_frames": 2}, {"save_render": str(r / "variant.png")},
        {"do": "reset_identity"}, {"wait_frames": 2}, {"save_render": str(r / "reset.png")},
        {"set": {"light_az": 80.0, "light_el": -10.0}}, {"wait_frames": 2},
        {"save_render": str(r / "light.png")}, {"report": str(r / "lit.json")},
        {"set": {"light_on": False}}, {"report": str(r / "baked.json")},
        {"identity": {"no_such_part": 1.0}}, {"avatar": "nobody"},
        {"report": str(r / "bad.json")}, {"identity": {"nose_size": 0.5}}, {"do": "quit"},
    ]
    (tmp_path / "script.json").write_text(json.dumps(script))
    with xvfb(1366, 768) as display:
        env = _env(tmp_path, DISPLAY=display)
        proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "gui", "--script",
                               str(tmp_path / "script.json"), "--backend", "cpu", "--size", "256"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    rep = {p.stem: json.loads(p.read_text()) for p in r.glob("*.json")}

    # the picker shows what is on screen; each rig gets its own identity sliders; the light
    # controls appear only for the relightable head; the tab fits without scrolling
    proc_rep, human = rep["procedural"], rep["human"]
    assert proc_rep["avatar_pick"] == "procedural" and human["avatar_pick"] == "human"
    assert proc_rep["identity_sliders"] == 8 and not proc_rep["light_shown"]
    assert human["identity_sliders"] == 10 and human["light_shown"]
    assert human["avatar"] == "human_avatar" and human["identity_reset_enabled"]
    for lay in (proc_rep, human):
        assert lay["tab"] == "tab_avatar" and lay["panel_scroll_max"] == 0
        assert lay["missing_tooltips"] == [], lay["missing_tooltips"]
        vw, vh = lay["viewport"]
        for name, (x, y, w, h) in lay["rects"].items():
            assert x >= 0 and y >= 0 and x + w <= vw and y + h <= vh, (name, lay["rects"])

    # identity sliders reshape the face live and Reset brings it back; the light moves
    noise = max(_face_diff(r / "rest.png", r / "rest2.png"), 0.002)
    variant = _face_diff(r / "rest.png", r / "variant.png")
    assert variant > 4 * noise, (variant, noise)
    assert _face_diff(r / "rest.png", r / "reset.png") < 0.25 * variant
    assert _face_diff(r / "rest.png", r / "light.png") > 4 * noise
    lit = rep["lit"]["light"]
    assert human["light"] is not None and lit["direction"] != human["light"]["direction"]
    assert rep["baked"]["light"] is None                      # unticked: the baked colours
    # live: no load besides the first avatar and the picked one
    assert sum(m.startswith("loading ") for m in rep["baked"]["messages"]) == 2

    # bad names from a script: one line each, the window keeps running
    msgs = rep["bad"]["messages"]
    assert any("no identity component 'no_such_part'" in m for m in msgs)
    assert any("no embedded avatar 'nobody'" in m for m in msgs)

    # the choice, the light and the identity sliders are saved like the other settings
    saved = json.loads((tmp_path / "config" / "talking-splat" / "settings.json").read_text())
    assert Path(saved["avatar_dir"]).name == "human_avatar"
    assert (saved["light_az"], saved["light_el"]) == (80.0, -10.0)
    assert saved["identity"] == {saved["avatar_dir"]: {n: 0.5 if n == "nose_size" else 0.0
                                                       for n in saved["identity"][saved["avatar_dir"]]}}

    # ... and restored: the next start shows the same face variant on the same sliders
    (tmp_path / "script.json").write_text(json.dumps([
        {"wait_loaded": True}, {"tab": "tab_avatar"}, {"wait": 0.3},
        {"report": str(r / "restored.json")}, {"do": "quit"}]))
    with xvfb(1366, 768) as display:
        proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "gui", "--script",
                               str(tmp_path / "script.json"), "--backend", "cpu", "--size", "256"],
                              cwd=tmp_path, env=_env(tmp_path, DISPLAY=display),
                              capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    restored = json.loads((r / "restored.json").read_text())
    names = list(saved["identity"][saved["avatar_dir"]])
    assert restored["avatar_pick"] == "human" and restored["identity"][names.index("nose_size")] == 0.5
    assert sum(restored["identity"]) == 0.5
