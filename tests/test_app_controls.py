"""The window's controls below the GUI: smoothing, gain, capture-rate recording with its motion
file, pose offsets, gate knobs, device-list messages, settings ranges, the virtual camera."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from avatar_app.audio_in import CAPTURE_RATE, AudioChunk, CaptureAudio, RingSource
from avatar_app.motion_smoothing import SmoothedEngine
from driver.audio import MOTION_FPS, SAMPLE_RATE
from driver.motion import MotionFrame


class StepEngine:
    """An input for the filter: silence, then the jaw fully open from frame 10 on."""

    lookahead_ms = 42.0

    def __init__(self) -> None:
        self.n = 0
        self.resets = 0

    def push(self, block: np.ndarray, t0: float) -> list[MotionFrame]:
        frames = []
        for _ in range(len(block) // (SAMPLE_RATE // MOTION_FPS)):
            on = 1.0 if self.n >= 10 else 0.0
            frames.append(MotionFrame(t=self.n / MOTION_FPS, expr=np.full(3, on, np.float32),
                                      jaw_pose=np.array([0.2 * on, 0, 0], np.float32)))
            self.n += 1
        return frames

    def flush(self) -> list[MotionFrame]:
        return []

    def reset(self) -> None:
        self.n, self.resets = 0, self.resets + 1


def _run(engine, seconds: float = 1.0) -> list[MotionFrame]:
    return engine.push(np.zeros(int(seconds * SAMPLE_RATE), np.float32), 0.0)


def test_smoothing_is_a_one_pole_with_the_chosen_time_constant():
    raw = _run(StepEngine())
    assert [f.jaw_pose[0] for f in _run(SmoothedEngine(StepEngine(), 0.0))] == \
        [f.jaw_pose[0] for f in raw]                                  # 0 ms: untouched
    tau = 0.1
    smoothed = _run(SmoothedEngine(StepEngine(), tau))
    jaw = np.array([f.jaw_pose[0] for f in smoothed]) / 0.2
    expr = np.array([f.expr[0] for f in smoothed])
    assert np.allclose(jaw, expr, atol=1e-6)                          # jaw and expressions alike
    assert jaw[:10].max() == 0.0
    k = 9 + round(tau * MOTION_FPS)       # the step's third filtered frame: one tau after it
    assert jaw[k] == pytest.approx(1 - math.exp(-1), abs=1e-5)
    assert 0.99 < jaw[-1] <= 1.0 and np.all(np.diff(jaw) >= 0)        # no overshoot
    engine = SmoothedEngine(StepEngine(), tau)
    assert engine.lookahead_ms == 42.0                                # facts of the engine
    _run(engine)
    engine.reset()
    assert engine.engine.resets == 1 and _run(engine)[0].jaw_pose[0] == 0.0


class _Ring(RingSource):
    """A RingSource fed by the test instead of a sound card (the reader side is the real one)."""

    def __init__(self, rate: int) -> None:
        super().__init__()
        self._attach(rate)

    def feed(self, x: np.ndarray, stamp: float) -> None:
        self._ring.write(x, stamp)


def test_gain_acts_where_audio_enters_model_meter_and_recording_alike():
    src = _Ring(CAPTURE_RATE)
    t = np.arange(CAPTURE_RATE) / CAPTURE_RATE
    src.feed((0.05 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 100.0)
    level0 = src.level_db()
    src.gain = 10 ** (12 / 20)
    assert src.level_db() - level0 == pytest.approx(12.0, abs=0.05)
    chunk = src.read(timeout=0.1)
    assert chunk.capture.rate == CAPTURE_RATE == src.capture_rate
    assert chunk.capture.t_capture == pytest.approx(100.0)
    assert len(chunk.capture.samples) == CAPTURE_RATE                 # device-rate audio kept
    rms = lambda x: 20 * np.log10(np.sqrt(np.mean(x[len(x) // 4:-len(x) // 4] ** 2)))
    assert rms(chunk.capture.samples) - level0 == pytest.approx(12.0, abs=0.1)
    assert rms(chunk.samples) - level0 == pytest.approx(12.0, abs=0.2)  # the model's 16 kHz
    silent = chunk.silenced()
    assert not silent.samples.any() and not silent.capture.samples.any()
    assert silent.capture.t_capture == chunk.capture.t_capture and silent.t_capture == chunk.t_capture


def _frame(rgba, t, params=None):
    from avatar_app.live_render import RenderedFrame

    return RenderedFrame(rgba, t, 0.0, 0.0, params=params)


def test_recording_keeps_the_capture_rate_and_writes_its_motion_beside(tmp_path):
    import av

    from avatar_app.recorder import Recorder
    from driver.motion_files import read_motion

    names = ["lips_part", "smile_L"]
    rec = Recorder(str(tmp_path / "take.mp4"), 32, sample_rate=48000, motion_suffix=".csv",
                   expr_names=names, rig_id="test-rig")
    t0 = rec.t_start
    rgba = np.zeros((32, 32, 4), np.float32)
    rgba[..., 0] = rgba[..., 3] = 1.0   # opaque red
    sec = 48000
    tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(2 * sec) / sec)).astype(np.float32)
    for k in range(20):             # 10 ms device blocks, like the microphone's callback
        block = tone[k * sec // 10:(k + 1) * sec // 10]
        rec.add_audio(AudioChunk(np.zeros(0, np.float32), t0 + k / 10,
                                 capture=CaptureAudio(block, t0 + k / 10, 48000)))
    for k in range(1, 60):
        jaw = 0.01 * k
        params = {"expr": np.array([jaw, 0.0], np.float32), "jaw_pose": np.array([jaw, 0, 0], np.float32),
                  **{key: np.zeros(n, np.float32) for key, n in
                     (("rotation", 3), ("neck_pose", 3), ("eyes_pose", 6), ("translation", 3))}}
        rec.add_frame(_frame(rgba, t0 + k / MOTION_FPS, params))
    rec.close()
    assert rec.error == "" and rec.motion_error == ""
    with av.open(str(tmp_path / "take.mp4")) as container:
        a = container.streams.audio[0]
        assert a.rate == 48000
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(a)])
    spectrum = np.abs(np.fft.rfft(pcm[4800:4800 + sec]))
    assert np.argmax(spectrum) == pytest.approx(440, abs=2)           # 48 kHz content intact
    assert rec.extra_files == [str(tmp_path / "take.csv")]
    frames, fps = read_motion(tmp_path / "take.csv", names)
    jaw = np.array([f.jaw_pose[0] for f in frames])
    assert fps == pytest.approx(MOTION_FPS, rel=0.01) and 55 <= len(frames) <= 62
    assert jaw[0] == pytest.approx(0.01, abs=1e-6) and jaw[-1] == pytest.approx(0.59, abs=0.011)


def test_recording_resamples_audio_of_another_rate(tmp_path):
    import av

    from avatar_app.recorder import Recorder

    rec = Recorder(str(tmp_path / "file.mp4"), 32, sample_rate=48000)
    t0 = rec.t_start
    x = (0.1 * np.sin(2 * np.pi * 500 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    for k in range(10):          # a 16 kHz source (the file player) in 100 ms chunks
        rec.add_audio(AudioChunk(x[k * 1600:(k + 1) * 1600], t0 + k / 10))
    rgba = np.ones((32, 32, 4), np.float32)
    for k in range(1, 30):
        rec.add_frame(_frame(rgba, t0 + k / MOTION_FPS))
    rec.close()
    with av.open(str(tmp_path / "file.mp4")) as container:
        a = container.streams.audio[0]
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(a)])
    assert a.rate == 48000 and len(pcm) == pytest.approx(48000, abs=2048)
    spectrum = np.abs(np.fft.rfft(pcm[4800:4800 + 24000]))
    assert np.argmax(spectrum) / 0.5 == pytest.approx(500, abs=4)


def test_pose_sliders_add_to_the_motion():
    from avatar_app.live_render import frame_params

    frame = MotionFrame(t=0.0, expr=np.array([0.2, 0.0, 0.0], np.float32))
    params = frame_params(frame, 0.1, (0.5, 0.0, 1.0))
    assert np.allclose(params["expr"], [0.7, 0.0, 1.0]) and params["jaw_pose"][0] == pytest.approx(0.1)
    assert np.allclose(frame.expr, [0.2, 0.0, 0.0])                   # the motion is not changed
    assert np.allclose(frame_params(frame, 0.0, (1.0,) * 5)["expr"], [1.2, 1.0, 1.0])


def test_each_gate_mode_has_the_knob_that_acts():
    from avatar_app.vad import EnergyGate, VoiceGate, make_gate

    assert make_gate("off") is None
    noise = make_gate("noise", -30.0, 0.9)
    assert isinstance(noise, EnergyGate) and noise.open_db == -30.0
    voice = make_gate("voice", -30.0, 0.8)
    assert isinstance(voice, VoiceGate) and voice.threshold == 0.8
    voice.set_threshold(0.3)
    assert voice.threshold == 0.3 and voice.close_threshold == pytest.approx(0.15)


def test_device_list_changes_are_one_line():
    from avatar_app.audio_in import InputDevice
    from avatar_app.gui.devices import changes

    a, b, c = (InputDevice(i, n, 48000.0, False) for i, n in enumerate(["pulse", "USB mic", "HDMI"]))
    assert changes([a], [a]) == ""
    assert changes([a], [a, b]) == "new input 'USB mic'"
    assert changes([a, b, c], [a]) == "input 'USB mic', 'HDMI' are gone"
    assert changes([a, b], [a, c]) == "new input 'HDMI'; input 'USB mic' is gone"


def test_settings_outside_the_controls_fall_back(tmp_path):
    from avatar_app.settings import Settings, load_settings

    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"gate_mode": "loud", "record_motion": ".exe", "input_gain_db": 90,
                                "smoothing_ms": -5, "voice_threshold": 0.7, "backend": "cpu",
                                "record_motion_x": 1}))
    s = load_settings(path)
    d = Settings()
    assert (s.gate_mode, s.record_motion, s.input_gain_db, s.smoothing_ms) == \
        (d.gate_mode, d.record_motion, d.input_gain_db, d.smoothing_ms)
    assert s.voice_threshold == 0.7 and s.backend == "cpu"


# ------------------------------------------------------------------------ virtual camera
def test_virtual_camera_without_pyvirtualcam_says_what_to_install(monkeypatch):
    import sys

    from avatar_app.virtual_camera import VirtualCamera, install_hint
    from splat.errors import UserInputError

    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)   # import fails as if not installed
    with pytest.raises(UserInputError) as err:
        VirtualCamera.open(64, 64)
    line = str(err.value)
    assert "\n" not in line and "pip install" in line and install_hint() in line
    assert "v4l2loopback" in install_hint("Linux") and "modprobe" in install_hint("Linux")
    assert "OBS" in install_hint("Windows") and "OBS" in install_hint("Darwin")


def test_virtual_camera_without_a_device_says_what_to_install():
    """Real pyvirtualcam on this machine, which has no v4l2loopback device."""
    pytest.importorskip("pyvirtualcam")
    if any(Path(f"/sys/devices/virtual/video4linux/video{n}").exists() for n in range(100)):
        pytest.skip("a v4l2loopback device exists here")
    from avatar_app.virtual_camera import VirtualCamera, install_hint
    from splat.errors import UserInputError

    with pytest.raises(UserInputError) as err:
        VirtualCamera.open(64, 64)
    line = str(err.value)
    assert line.startswith("virtual camera: no virtual camera device") and install_hint() in line
    assert "\n" not in line


def test_virtual_camera_sends_composited_frames_through_pyvirtualcam():
    """pyvirtualcam's own Camera class with a backend registered the documented way
    (`register_backend`) that keeps what it is sent: the frames a real device would get."""
    pyvirtualcam = pytest.importorskip("pyvirtualcam")
    from avatar_app.virtual_camera import VirtualCamera

    sent = []

    class KeepFrames:
        def __init__(self, width, height, fps, fourcc, device):
            self.size = (width, height)

        def send(self, frame):   # pyvirtualcam hands backends the frame's bytes, flattened
            sent.append(frame.reshape(self.size[1], self.size[0], 3).copy())

        def close(self):
            pass

        def device(self):
            return "test-device"

        def native_fourcc(self):
            return None

    pyvirtualcam.register_backend("keep_frames", KeepFrames)
    cam = VirtualCamera.open(32, 32, backend="keep_frames")
    rgba = np.zeros((64, 64, 4), np.float32)
    rgba[..., 1] = 1.0
    rgba[:32, :, 3] = 1.0           # top opaque green, bottom transparent
    cam.send(rgba, (1.0, 0.0, 0.0))
    cam.close()
    assert cam.name == "test-device" and cam.frames == 1
    (frame,) = sent
    assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8   # resized to the camera
    assert tuple(frame[4, 16]) == (0, 255, 0) and tuple(frame[28, 16]) == (255, 0, 0)


def test_transparent_recording_keeps_the_alpha(tmp_path):
    """The window's transparent background + Record: a ProRes 4444 .mov whose decoded frames
    hold the render's alpha, with the sound at the capture rate (PCM)."""
    import av

    from avatar_app.recorder import Recorder

    rec = Recorder(str(tmp_path / "take.mp4"), 32, sample_rate=48000, alpha=True)
    assert rec.path == str(tmp_path / "take.mov")
    t0 = rec.t_start
    rgba = np.zeros((32, 32, 4), np.float32)
    rgba[..., 1] = 1.0
    rgba[:16, :, 3] = 1.0               # top half opaque green, bottom half transparent
    rgba[16:, :, 3] = 0.0
    rec.add_audio(AudioChunk(np.zeros(0, np.float32), t0,
                             capture=CaptureAudio(np.full(48000, 0.1, np.float32), t0, 48000)))
    for k in range(1, 20):
        rec.add_frame(_frame(rgba, t0 + k / MOTION_FPS))
    rec.close()
    assert rec.error == ""
    with av.open(rec.path) as container:
        v, a = container.streams.video[0], container.streams.audio[0]
        assert v.codec_context.name == "prores" and a.rate == 48000
        frame = next(container.decode(v)).to_ndarray(format="rgba")
    assert frame[4, 16, 3] == 255 and frame[28, 16, 3] == 0
    assert frame[4, 16, 1] > 240 and frame[4, 16, 0] < 15
