"""The real window under Xvfb with a PulseAudio virtual microphone, driven by a script."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from tests import xvfb_pulse
from tests.xvfb_pulse import make_speech, play_into_vmic, pulse_vmic, xvfb

ROOT = Path(__file__).resolve().parents[1]
HAS_MODEL = (ROOT / "assets" / "default_model" / "config.json").is_file()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), **extra)
    return env


def test_no_display_names_the_headless_command(tmp_path):
    env = _env(tmp_path)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    proc = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "main.py render" in lines[0]


def _mouth(png: Path, rect: list[float]) -> np.ndarray:
    import cv2

    img = cv2.imread(str(png)).astype(np.float32) / 255
    x, y, w, h = (int(v) for v in rect)
    # the Face view frames like `still`/`render`: the mouth sits in the lower fifth or so
    return img[y + int(0.70 * h):y + int(0.90 * h), x + int(0.35 * w):x + int(0.65 * w)]


@pytest.mark.skipif(xvfb_pulse.XVFB_MISSING or xvfb_pulse.PULSE_MISSING,
                    reason="needs Xvfb and PulseAudio (apt: xvfb pulseaudio pulseaudio-utils)")
def test_scripted_live_session(tmp_path):
    shots = tmp_path / "shots"
    shots.mkdir()
    # one breath (~3 s, no long pause) so every "during speech" shot really is during speech
    speech = make_speech(tmp_path / "speech.wav", "Papa bought a big blue bottle, and we went far away.")
    broken = tmp_path / "broken_avatar"
    broken.mkdir()
    (broken / "point_cloud.ply").write_bytes(b"ply\nthis is not a point cloud\n")
    ready = tmp_path / "ready.json"
    script = [
        {"set": {"blink": False, "gaze": False, "sway": False}},  # still head: compare mouths
        {"wait_loaded": True}, {"wait": 0.5},
        {"screenshot": str(shots / "rest.png")},
        {"set": {"jaw": 0.3}}, {"wait": 0.8}, {"screenshot": str(shots / "jaw.png")},
        {"set": {"jaw": 0.0}}, {"wait": 0.8}, {"screenshot": str(shots / "rest2.png")},
        {"do": "start_live"}, {"do": "record_start"},
        # the virtual mic (a fresh null sink's monitor) delivers nothing for its first ~2 s:
        # speak only once audio flows, so the shots below really follow the speech onset
        {"wait_audio": True}, {"wait": 0.3},
        {"report": str(ready)},  # the test starts speaking into the virtual mic now
        {"wait": 0.6}, {"screenshot": str(shots / "speech0.png")},
        {"wait": 0.4}, {"screenshot": str(shots / "speech1.png")},
        {"wait": 0.4}, {"screenshot": str(shots / "speech2.png")},
        {"wait": 0.4}, {"screenshot": str(shots / "speech3.png")},
        {"wait": 1.5}, {"do": "record_stop"},
        {"wait": 2.5}, {"screenshot": str(shots / "silence.png")},
        {"load_avatar": str(broken)}, {"wait": 0.2}, {"wait_idle": True}, {"wait": 0.3},
        {"screenshot": str(shots / "after_broken.png")},
        {"report": str(tmp_path / "report.json")}, {"do": "quit"},
    ]
    (tmp_path / "script.json").write_text(json.dumps(script))
    with xvfb() as display, pulse_vmic() as env:
        env = _env(tmp_path, DISPLAY=display, XDG_RUNTIME_DIR=env["XDG_RUNTIME_DIR"],
                   PULSE_SERVER=env["PULSE_SERVER"])
        app = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--script", str(tmp_path / "script.json"),
                                "--backend", "cpu", "--size", "256"], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 120
        while not ready.exists() and app.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        player = play_into_vmic(env, speech)
        out, _ = app.communicate(timeout=150)
        player.wait(timeout=30)
    assert app.returncode == 0, out[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    rect = report["image_rect"]

    # the pipeline moves the mouth (manual jaw) and comes back to rest
    rest, jaw, rest2 = (_mouth(shots / f"{n}.png", rect) for n in ("rest", "jaw", "rest2"))
    assert np.abs(jaw - rest).mean() > 4 * max(np.abs(rest2 - rest).mean(), 0.002)
    if HAS_MODEL:  # the trained default model: speech opens the mouth, silence rests it
        moved = max(np.abs(_mouth(shots / f"speech{i}.png", rect) - rest).mean() for i in range(4))
        silence_m = _mouth(shots / "silence.png", rect)
        assert moved > 2 * max(np.abs(silence_m - rest).mean(), 0.002)
        assert report["latency_ms"] is not None

    # the recording: H.264 video + AAC audio of matching length, with the speech in it
    mp4 = Path(report["saved_recording"])
    assert mp4.is_file()
    with av.open(str(mp4)) as container:
        v = container.streams.video[0]
        a = container.streams.audio[0]
        assert v.codec_context.name == "h264" and a.codec_context.name == "aac"
        v_dur, a_dur = float(v.duration * v.time_base), float(a.duration * a.time_base)
    assert v_dur > 2.0 and abs(v_dur - a_dur) < 0.25

    # a broken avatar: message shown, previous avatar kept and still rendering
    assert any("load failed" in m for m in report["messages"])
    assert report["avatar"] == "default_avatar"
    after = _mouth(shots / "after_broken.png", rect)
    assert after.std() > 0.01
    assert mp4.parent == tmp_path  # recordings land in the working folder by default
