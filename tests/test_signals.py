"""Every way a recording can end leaves a valid file (issue 13, part B): each output is read back
to its last packet with PyAV.

- `render` x SIGINT / SIGTERM / SIGHUP, sent once the progress bar runs: exit 128+signal, one
  line saying the partial clip was kept, a file whose frame count matches that line;
- `render` onto a full disk (a 200 KB tmpfs; skipped where mounting is not permitted) and onto
  /dev/full: exit 2, one `error:` line, no crash, what fitted kept playable;
- the writer on a file object that fails with ENOSPC after N bytes (no root needed);
- the window's recording x window close / SIGINT / SIGTERM / SIGHUP (Xvfb + PulseAudio);
- the window with a frozen sound server, and with a bad checkpoint that must not be saved.
"""
from __future__ import annotations

import errno
import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from avatar_app import mp4_writer
from avatar_app.mp4_writer import Mp4Writer, Mp4WriteError, read_back
from tests import xvfb_pulse
from tests.conftest import ROOT
from tests.test_render_cmd import tiny_avatar  # noqa: F401  (a pytest fixture)

FPS = 30
ENV = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
       "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
GUI_READY = pytest.mark.skipif(xvfb_pulse.XVFB_MISSING or xvfb_pulse.PULSE_MISSING,
                               reason="needs Xvfb and PulseAudio (apt: xvfb pulseaudio pulseaudio-utils)")


def tone(path: Path, seconds: float, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)
    return path


@pytest.fixture(scope="module")
def long_job(tmp_path_factory):
    """60 s of audio and a still motion for the tiny avatar: far longer than any test waits."""
    folder = tmp_path_factory.mktemp("sig")
    tone(folder / "in.wav", 60.0)
    np.savez(folder / "motion.npz", jaw_pose=np.zeros((60 * FPS, 3), np.float32))
    return folder


def render_cmd(job: Path, avatar: Path, out: Path) -> list[str]:
    return [sys.executable, "main.py", "render", "--audio", str(job / "in.wav"), "--out", str(out),
            "--avatar", str(avatar), "--motion", str(job / "motion.npz"), "--size", "48",
            "--backend", "cpu", "--no-idle"]


class StderrTail:
    """Collects a child's stderr on a thread so the test can wait for the progress bar."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc) -> None:
        for chunk in iter(lambda: proc.stderr.read1(256), b""):
            self.text += chunk.decode(errors="replace")

    def wait_for(self, pattern: str, proc, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while not re.search(pattern, self.text):
            assert proc.poll() is None and time.time() < deadline, self.text[-2000:]
            time.sleep(0.05)

    def lines(self) -> list[str]:
        self._thread.join(timeout=10)
        return [ln for ln in re.split(r"[\r\n]", self.text) if ln.strip()]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=lambda s: signal.Signals(s).name)
def test_render_signal_keeps_a_valid_partial_clip(sig, long_job, tiny_avatar, tmp_path):  # noqa: F811
    out = tmp_path / "clip.mp4"
    proc = subprocess.Popen(render_cmd(long_job, tiny_avatar, out), cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tail = StderrTail(proc)
    tail.wait_for(r"render:.*\| *[1-9]\d*/", proc)          # frames are being written
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == 128 + sig
    last = tail.lines()[-1]
    name = signal.Signals(sig).name
    m = re.fullmatch(rf"interrupted by {name}: kept {re.escape(str(out))}, (\d+) frames "
                     r"\(([\d.]+) s\), a valid partial file", last)
    assert m, tail.text[-1000:]
    assert "Traceback" not in tail.text
    ends = read_back(out)
    assert ends.video_frames == int(m.group(1)) > 0
    assert ends.video_end == pytest.approx(int(m.group(1)) / FPS, abs=1e-3)
    assert abs(ends.drift) < 1 / FPS                          # sound ends with the picture


def _one_error_line(tail: StderrTail) -> str:
    lines = [ln for ln in tail.lines() if not ln.startswith("render:")]
    assert len(lines) == 1 and lines[0].startswith("error: "), tail.text[-2000:]
    assert "Traceback" not in tail.text
    return lines[0]


def test_render_to_a_full_disk_stops_and_keeps_what_fitted(long_job, tiny_avatar, tmp_path):  # noqa: F811
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        out = disk / "clip.mp4"
        proc = subprocess.Popen(render_cmd(long_job, tiny_avatar, out), cwd=ROOT, env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        tail = StderrTail(proc)
        assert proc.wait(timeout=300) == 2
        line = _one_error_line(tail)
        m = re.search(r"No space left on device\); kept the first ([\d.]+) s", line)
        assert m, line
        ends = read_back(out)                                 # readable to its last packet
        assert ends.video_frames > FPS and ends.video_end < 60
        assert ends.video_end == pytest.approx(float(m.group(1)), abs=0.06)
        assert abs(ends.drift) < 0.1
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_render_to_dev_full_is_an_error_not_a_crash(long_job, tiny_avatar, tmp_path):  # noqa: F811
    out = tmp_path / "full.mp4"
    out.symlink_to("/dev/full")                               # a .mp4 name the checks accept
    proc = subprocess.Popen(render_cmd(long_job, tiny_avatar, out), cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tail = StderrTail(proc)
    assert proc.wait(timeout=300) == 2                       # it used to segfault (139)
    assert "No space left on device" in _one_error_line(tail)


class FailingFile(mp4_writer._OutputFile):
    """The writer's output file, but the disk is 'full' after LIMIT bytes."""

    LIMIT = 60_000

    def __init__(self, path) -> None:
        super().__init__(path)
        self.written = 0

    def write(self, data) -> int:
        if self.error is None and self.written + len(data) > self.LIMIT:
            self.error = OSError(errno.ENOSPC, "No space left on device")
        if self.error is not None:
            raise self.error
        self.written += len(data)
        return self._fh.write(data)


def test_writer_stops_at_the_first_failed_write(tmp_path, monkeypatch):
    monkeypatch.setattr(mp4_writer, "_OutputFile", FailingFile)
    path = tmp_path / "fault.mp4"
    writer = Mp4Writer(path, 64, 64, fps=FPS)
    rng = np.random.default_rng(0)
    with pytest.raises(Mp4WriteError, match=r"No space left on device\); kept the first") as err:
        for k in range(100 * FPS):
            writer.write_frame(rng.random((64, 64, 3)) * 0.2 + k % 30 / 40, k / FPS)
            writer.write_audio(np.zeros(16000 // FPS, np.float32), k / FPS)
    assert writer.closed and k < 100 * FPS - 1                # stopped at once, not at close
    with pytest.raises(Mp4WriteError):                        # and stays stopped
        writer.write_frame(np.zeros((64, 64, 3)), 1e4)
    writer.close()                                            # closing again is harmless
    ends = read_back(path)
    assert 0 < ends.video_end < k / FPS and path.stat().st_size <= FailingFile.LIMIT
    kept = float(re.search(r"kept the first ([\d.]+) s", str(err.value)).group(1))
    assert ends.video_end == pytest.approx(kept, abs=0.06)


def test_writer_with_nothing_complete_removes_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(FailingFile, "LIMIT", 2_000)
    monkeypatch.setattr(mp4_writer, "_OutputFile", FailingFile)
    path = tmp_path / "tiny.mp4"
    writer = Mp4Writer(path, 64, 64, fps=FPS)
    with pytest.raises(Mp4WriteError, match="nothing playable could be kept"):
        for k in range(10 * FPS):
            writer.write_frame(np.random.rand(64, 64, 3), k / FPS)
            writer.write_audio(np.zeros(16000 // FPS, np.float32), k / FPS)
        writer.close()
    assert not path.exists()


# ------------------------------------------------------------------------------ the window
def _gui(tmp_path: Path, env: dict, script: list, *extra: str) -> subprocess.Popen:
    (tmp_path / "script.json").write_text(json.dumps(script))
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--script",
                             str(tmp_path / "script.json"), "--backend", "cpu", "--size", "128",
                             *extra], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_file(path: Path, proc: subprocess.Popen, timeout: float = 150) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise AssertionError(f"window ended early: {proc.communicate()[0][-3000:]}")
        time.sleep(0.1)


@GUI_READY
@pytest.mark.parametrize("how", ["close", "SIGINT", "SIGTERM", "SIGHUP"])
def test_window_recording_survives(how, tmp_path):
    speech = tone(tmp_path / "speech.wav", 20.0)
    ready = tmp_path / "ready.json"
    script = [{"wait_loaded": True}, {"play_file": str(speech)}, {"wait_audio": True},
              {"do": "record_start"}, {"wait": 2.5}, {"report": str(ready)}, {"wait": 120}]
    with xvfb_pulse.xvfb() as display, xvfb_pulse.pulse_vmic() as penv:
        env = dict(penv, DISPLAY=display, XDG_CONFIG_HOME=str(tmp_path / "config"))
        app = _gui(tmp_path, env, script)
        _wait_file(ready, app)
        if how == "close":
            xvfb_pulse.close_window(display, "Talking Splat")
        else:
            app.send_signal(getattr(signal, how))
        out, _ = app.communicate(timeout=60)
    assert app.returncode == 0, out[-3000:]
    why = "" if how == "close" else f" after {how}"
    m = re.search(rf"recording kept{why}: (\S+\.mp4) \(([\d.]+) s, finalised\)", out)
    assert m, out[-3000:]
    ends = read_back(m.group(1))
    assert ends.video_codec == "h264" and ends.audio_codec == "aac"
    assert ends.video_end > 2.0 and ends.video_frames > 10
    assert ends.video_end == pytest.approx(float(m.group(2)), abs=0.06)
    assert abs(ends.drift) < 0.1


@GUI_READY
def test_window_frozen_sound_server_and_bad_checkpoint(tmp_path):
    """A hung sound server: a message within ~2 s while the window keeps rendering. A bad
    --checkpoint: blamed on the checkpoint in words, the embedded avatar shown, nothing saved."""
    bad = tmp_path / "bad_ckpt"
    bad.mkdir()
    (bad / "config.json").write_text("[1, 2, 3]")
    (bad / "model.safetensors").write_bytes(b"\0" * 64)
    frozen, after = tmp_path / "frozen.json", tmp_path / "after.json"
    # the test freezes the server as soon as `frozen` appears, inside the 2 s wait
    script = [{"wait_loaded": True}, {"report": str(frozen)}, {"wait": 2.0},
              {"do": "start_live"}, {"wait": 3.0}, {"report": str(after)}, {"wait": 120}]
    with xvfb_pulse.xvfb() as display, xvfb_pulse.pulse_vmic() as penv:
        env = dict(penv, DISPLAY=display, XDG_CONFIG_HOME=str(tmp_path / "config"))
        app = _gui(tmp_path, env, script, "--checkpoint", str(bad))
        _wait_file(frozen, app)
        with xvfb_pulse.frozen_pulse(penv):
            _wait_file(after, app)
        app.send_signal(signal.SIGTERM)
        out, _ = app.communicate(timeout=60)
    assert app.returncode == 0, out[-3000:]
    first, later = json.loads(frozen.read_text()), json.loads(after.read_text())
    failure = next(m for m in first["messages"] if "load failed" in m)
    blamed, _, fallback = failure.partition(";")
    assert str(bad) in blamed and "checkpoint" in blamed and "avatar" not in blamed
    assert "showing the embedded avatar" in fallback
    assert "Error" not in failure                             # words, not an exception name
    assert first["avatar"] == "default_avatar"
    assert any("did not answer within 2 s" in m for m in later["messages"]), later["messages"]
    assert later["live"] == ""
    assert "GUI 0 fps" not in later["status"]                 # the window kept running
    saved = json.loads((tmp_path / "config" / "talking-splat" / "settings.json").read_text())
    assert str(bad) not in json.dumps(saved)


@GUI_READY
def test_window_starts_while_the_sound_server_hangs(tmp_path):
    """PortAudio initialises against the server: a hung one must not keep the window from
    opening; the device list is empty with a message, and a file still plays (no speakers)."""
    speech = tone(tmp_path / "speech.wav", 3.0)
    report = tmp_path / "report.json"
    script = [{"wait_loaded": True}, {"play_file": str(speech)}, {"wait": 3.0},
              {"report": str(report)}, {"do": "quit"}]
    with xvfb_pulse.xvfb() as display, xvfb_pulse.pulse_vmic() as penv:
        env = dict(penv, DISPLAY=display, XDG_CONFIG_HOME=str(tmp_path / "config"))
        with xvfb_pulse.frozen_pulse(penv):
            app = _gui(tmp_path, env, script)
            _wait_file(report, app)
            out, _ = app.communicate(timeout=60)
    assert app.returncode == 0, out[-3000:]
    state = json.loads(report.read_text())
    assert state["devices"] == []
    assert any("did not answer within 2 s" in m for m in state["messages"]), state["messages"]
    assert state["avatar"] == "default_avatar"


@GUI_READY
def test_window_fills_in_the_frames_a_slow_preview_skipped(tmp_path):
    """A renderer capped at 6 fps: after Stop the recording is rewritten with every motion
    frame, and the window says so."""
    speech = tone(tmp_path / "speech.wav", 12.0)
    done = tmp_path / "done.json"
    script = [{"wait_loaded": True}, {"set": {"gate_mode": "off"}}, {"render_fps": 6},
              {"play_file": str(speech)}, {"wait_audio": True},
              {"wait": 2.5},   # the model's first motion can take a while on a busy CPU
              {"do": "record_start"}, {"wait": 2.5}, {"do": "record_stop"},
              {"wait_message": "filled in the"},
              {"report": str(done)}, {"do": "quit"}]
    with xvfb_pulse.xvfb() as display, xvfb_pulse.pulse_vmic() as penv:
        env = dict(penv, DISPLAY=display, XDG_CONFIG_HOME=str(tmp_path / "config"))
        app = _gui(tmp_path, env, script)
        out, _ = app.communicate(timeout=180)
    assert app.returncode == 0, out[-3000:]
    report = json.loads(done.read_text())
    assert any(re.search(r"filled in the \d+ frames the preview skipped", m)
               for m in report["messages"]), report["messages"]
    ends = read_back(report["saved_recording"])
    assert ends.video_end > 2.0 and ends.video_frames >= 0.9 * ends.video_end * FPS
    assert abs(ends.drift) < 0.1 and not list(tmp_path.glob("*.filling.mp4"))


@GUI_READY
def test_a_fill_cut_short_by_sigterm_leaves_the_live_recording(tmp_path):
    speech = tone(tmp_path / "speech.wav", 20.0)
    ready = tmp_path / "ready.json"
    script = [{"wait_loaded": True}, {"set": {"gate_mode": "off"}}, {"render_fps": 3},
              {"play_file": str(speech)}, {"wait_audio": True}, {"do": "record_start"},
              {"wait": 3.0},
              {"do": "record_stop"}, {"report": str(ready)}, {"wait": 120}]
    with xvfb_pulse.xvfb() as display, xvfb_pulse.pulse_vmic() as penv:
        env = dict(penv, DISPLAY=display, XDG_CONFIG_HOME=str(tmp_path / "config"))
        app = _gui(tmp_path, env, script)
        _wait_file(ready, app)
        app.send_signal(signal.SIGTERM)
        out, _ = app.communicate(timeout=60)
    assert app.returncode == 0, out[-3000:]
    assert re.search(r"\.mp4: kept as recorded live \(\d+ of \d+ skipped frames filled", out), out[-3000:]
    ends = read_back(json.loads(ready.read_text())["saved_recording"])
    assert ends.video_end > 2.5 and ends.video_frames < 0.5 * ends.video_end * FPS
    assert not list(tmp_path.glob("*.filling.mp4"))
