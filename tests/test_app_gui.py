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
        # wait_frames: a shot shows a picture rendered after the change, however slow the
        # machine is (under load one render can take most of a second)
        {"wait_loaded": True}, {"wait_frames": 2}, {"wait": 0.3},
        {"screenshot": str(shots / "rest.png")},
        {"set": {"jaw": 0.3}}, {"wait_frames": 2}, {"wait": 0.3}, {"screenshot": str(shots / "jaw.png")},
        {"set": {"jaw": 0.0}}, {"wait_frames": 2}, {"wait": 0.3}, {"screenshot": str(shots / "rest2.png")},
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


def _wait_for(path: Path, app: subprocess.Popen, timeout: float = 150.0) -> None:
    """Block until the window's script wrote `path` (a sync point) or the window ended."""
    deadline = time.time() + timeout
    while not path.exists():
        if app.poll() is not None or time.time() > deadline:
            out = app.stdout.read() if app.poll() is not None else ""
            raise AssertionError(f"window never reached {path.name}: {out[-3000:]}")
        time.sleep(0.05)


def _mouth_diff(a: Path, b: Path) -> float:
    """Mean difference of the mouth region of two saved renders (the Face view's framing)."""
    import cv2

    ia, ib = (cv2.imread(str(p)).astype(np.float32) / 255 for p in (a, b))
    h, w = ia.shape[:2]
    box = (slice(int(0.62 * h), int(0.92 * h)), slice(int(0.3 * w), int(0.7 * w)))
    return float(np.abs(ia[box] - ib[box]).mean())


USB_MIC_ASOUNDRC = """pcm.usbmic {
    type pulse
    device "vmic2.monitor"
    hint { show on
           description "USB test microphone" }
}
"""


@pytest.mark.skipif(xvfb_pulse.XVFB_MISSING or xvfb_pulse.PULSE_MISSING or xvfb_pulse.XTEST_MISSING,
                    reason="needs Xvfb, PulseAudio and libXtst (apt: xvfb pulseaudio pulseaudio-utils libxtst6)")
def test_window_controls_hotplug_gain_hotkeys_layout(tmp_path):
    """One real window on a 1366x768 screen: layout and tooltips, gate slider per mode, pose
    sliders, motion-file playback under the lip-sync strength slider, a microphone plugged in
    (a new ALSA device on a second PulseAudio null sink) and unplugged, input gain on the
    meter and the recording (kept at the capture rate, motion file beside it), hotkeys typed
    through XTEST, and the virtual-camera line where no virtual camera exists."""
    import soundfile as sf

    from driver.motion import MotionFrame
    from driver.motion_files import read_motion, write_motion
    from splat.default_rig_spec import EXPRESSION_NAMES

    # ALSA reads $XDG_CONFIG_HOME/alsa/asoundrc: a device defined there is "plugged in"
    asoundrc = tmp_path / "config" / "alsa" / "asoundrc"
    asoundrc.parent.mkdir(parents=True)
    r = tmp_path / "r"
    r.mkdir()
    names = list(EXPRESSION_NAMES)
    motion = tmp_path / "open_jaw.npz"
    write_motion(motion, [MotionFrame(t=k / 30, expr=np.zeros(len(names), np.float32),
                                      jaw_pose=np.array([0.3, 0, 0], np.float32))
                          for k in range(12 * 30)], names, fps=30)
    tone_wav = tmp_path / "tone48k.wav"
    sf.write(tone_wav, xvfb_pulse.tone(8.0, rate=48000, freq=300.0, amp=0.1), 48000)

    tabs = ("tab_audio", "tab_look", "tab_pose", "tab_avatar", "tab_output")
    script = [{"set": {"blink": False, "gaze": False, "sway": False}}, {"wait_loaded": True}]
    for tab in tabs:
        script += [{"tab": tab}, {"wait": 1.0}, {"report": str(r / f"layout_{tab}.json")}]
    for mode in ("noise", "off", "voice"):
        script += [{"set": {"gate_mode": mode}}, {"report": str(r / f"gate_{mode}.json")}]
    script += [
        {"wait_frames": 2}, {"save_render": str(r / "rest.png")},
        {"pose": {"smile_L": 1.0, "smile_R": 1.0, "lips_part": 1.0}}, {"wait_frames": 2},
        {"save_render": str(r / "pose.png")}, {"do": "reset_pose"}, {"wait_frames": 2},
        {"save_render": str(r / "rest2.png")},
        {"play_motion": str(motion)}, {"wait": 0.5}, {"wait_frames": 2},
        {"save_render": str(r / "motion1.png")},
        {"set": {"expression_intensity": 0.0}}, {"wait_frames": 2},
        {"save_render": str(r / "motion0.png")}, {"set": {"expression_intensity": 1.0}},
        {"wait_motion_done": True}, {"wait": 0.4}, {"wait_frames": 2},
        {"save_render": str(r / "after_motion.png")},
        {"set": {"smoothing_ms": 120.0}}, {"report": str(r / "motion.json")},
        # hot-plug: the test adds an ALSA device now; the periodic re-scan must find it
        {"report": str(r / "ready_plug.json")}, {"wait_devices": "usbmic"},
        {"set": {"input_device": "usbmic", "gate_mode": "off"}}, {"do": "start_live"},
        {"wait_audio": True}, {"report": str(r / "ready_tone.json")},   # the tone starts
        {"wait": 1.5}, {"report": str(r / "gain0.json")},
        {"set": {"input_gain_db": 12.0}}, {"wait": 1.0}, {"report": str(r / "gain12.json")},
        {"do": "record_start"}, {"wait": 2.0}, {"do": "record_stop"},
        {"report": str(r / "recorded.json")}, {"do": "stop_live"},
        {"report": str(r / "ready_unplug.json")}, {"do": "refresh_devices"},
        {"wait_message": "is gone"}, {"report": str(r / "unplugged.json")},
        {"report": str(r / "ready_keys.json")}, {"wait_hotkeys": 6}, {"wait": 1.5},
        {"report": str(r / "keys.json")}, {"do": "quit"},
    ]
    (tmp_path / "script.json").write_text(json.dumps(script))
    with xvfb(1366, 768) as display, pulse_vmic() as penv:
        env = _env(tmp_path, DISPLAY=display, XDG_RUNTIME_DIR=penv["XDG_RUNTIME_DIR"],
                   PULSE_SERVER=penv["PULSE_SERVER"])
        app = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "gui", "--script",
                                str(tmp_path / "script.json"), "--backend", "cpu", "--size", "256",
                                "--virtual-camera"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            _wait_for(r / "ready_plug.json", app)
            subprocess.run(["pactl", "load-module", "module-null-sink", "sink_name=vmic2"],
                           env=penv, check=True, capture_output=True)
            asoundrc.write_text(USB_MIC_ASOUNDRC)
            _wait_for(r / "ready_tone.json", app)
            player = subprocess.Popen(["paplay", "-d", "vmic2", str(tone_wav)], env=penv)
            _wait_for(r / "ready_unplug.json", app)
            player.kill()
            player.wait(timeout=10)
            asoundrc.unlink()
            _wait_for(r / "ready_keys.json", app)
            xvfb_pulse.press_keys(display, "Talking Splat", ["s", "f", "r", "r", "space", "space"])
            out, _ = app.communicate(timeout=120)
        finally:
            if app.poll() is None:
                app.kill()
    assert app.returncode == 0, out[-3000:]
    rep = {p.stem: json.loads(p.read_text()) for p in r.glob("*.json")}

    # layout: a 1280x720 window on the 1366x768 screen, nothing outside it, no tab scrolls,
    # every control explains itself
    for tab in tabs:
        lay = rep[f"layout_{tab}"]
        vw, vh = lay["viewport"]
        assert vw <= 1366 and vh <= 768 - 40, lay["viewport"]     # room for a task bar
        for name, (x, y, w, h) in lay["rects"].items():
            assert x >= 0 and y >= 0 and x + w <= vw and y + h <= vh, (tab, name, lay["rects"])
        assert lay["panel_scroll_max"] == 0, (tab, lay["panel_scroll_max"])
        assert lay["tab"] == tab
        assert lay["missing_tooltips"] == [], lay["missing_tooltips"]
    assert rep["layout_tab_audio"]["image_rect"][3] >= 512          # the view stays large
    assert rep["layout_tab_pose"]["pose_sliders"] == len(names)     # one per rig expression
    # the gate's slider is the one that acts in each mode (none for "off")
    assert rep["gate_noise"]["gate_sliders_shown"] == ["gate_db"]
    assert rep["gate_voice"]["gate_sliders_shown"] == ["gate_voice"]
    assert rep["gate_off"]["gate_sliders_shown"] == []

    # pose sliders move the face and go back; a motion file plays, scaled by the strength
    rest = r / "rest.png"
    noise = max(_mouth_diff(rest, r / "rest2.png"), 0.002)
    assert _mouth_diff(rest, r / "pose.png") > 4 * noise
    opened = _mouth_diff(rest, r / "motion1.png")
    assert opened > 4 * noise
    assert _mouth_diff(rest, r / "motion0.png") < 0.3 * opened     # strength 0: mouth at rest
    assert _mouth_diff(rest, r / "after_motion.png") < 0.3 * opened
    assert any("playing motion open_jaw.npz" in m for m in rep["motion"]["messages"])
    assert any("motion file finished" in m for m in rep["motion"]["messages"])

    # hot-plug: found by the periodic re-scan; gone after Refresh, with a message
    assert "usbmic" in rep["ready_tone"]["devices"] and rep["ready_tone"]["input_device"] == "usbmic"
    assert rep["ready_tone"]["capture_rate"] == 48000
    assert "usbmic" not in rep["unplugged"]["devices"]
    assert rep["unplugged"]["input_device"] != "usbmic"
    assert any("'usbmic' is gone" in m for m in rep["unplugged"]["messages"])

    # input gain: +12 dB on the meter (a -23 dBFS tone), and in the recording
    level0, level12 = rep["gain0"]["level_db"], rep["gain12"]["level_db"]
    assert -26 < level0 < -20, level0
    assert 10.5 < level12 - level0 < 13.5, (level0, level12)
    mp4 = Path(rep["recorded"]["saved_recording"])
    with av.open(str(mp4)) as container:
        stream = container.streams.audio[0]
        assert stream.rate == 48000                                   # the capture rate
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
    mid = pcm[len(pcm) // 4: 3 * len(pcm) // 4]
    rec_db = 20 * np.log10(np.sqrt(np.mean(mid ** 2)))
    assert abs(rec_db - level12) < 2.0, (rec_db, level12)
    beside = mp4.with_suffix(".npz")
    frames, fps = read_motion(beside, names)
    assert fps == 30 and 1.5 < len(frames) / fps < 3.0
    assert any(beside.name in m for m in rep["recorded"]["messages"])

    # hotkeys typed on the keyboard: screenshot, face view, record twice, live twice
    keys = rep["keys"]
    assert keys["hotkeys_used"] == ["save_render", "face_view", "toggle_record", "toggle_record",
                                    "toggle_live", "toggle_live"]
    assert len(list(tmp_path.glob("avatar-*.png"))) == 1
    assert keys["saved_recording"] != rep["recorded"]["saved_recording"]
    assert Path(keys["saved_recording"]).is_file() and keys["live"] == ""
    assert any("opening the microphone" in m for m in keys["messages"])

    # --virtual-camera without a virtual camera device: one line saying what to install
    line = next(ln for ln in out.splitlines() if ln.startswith("virtual camera:"))
    assert "v4l2loopback" in line and keys["virtual_camera"] is None
