"""The live path's latency budget per stage, and a renderer that never queues stale motion."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from avatar_app.av_sync import StepEngine, impulse_audio
from avatar_app.latency_stages import STAGES, FrameStamps, LatencyBreakdown
from avatar_app.live_motion import DriverWorker, MotionBuffer, TimedFrame
from avatar_app.live_render import RenderWorker, Scene
from avatar_app.live_session import LiveSession
from driver.audio import MOTION_FPS, SAMPLE_RATE
from driver.motion import MotionFrame
from splat.cameras import orbit_camera
from tests.live_fakes import BarPipeline

ROOT = Path(__file__).resolve().parents[1]


def _camera(size: int):
    return orbit_camera(0.0, 0.0, 1.0, np.zeros(3), width=size)


class _Frames:
    """Stands in for the recorder: keeps every rendered frame in order, and the capture times
    of the motion frames the renderer skipped (which a recording fills in afterwards)."""

    def __init__(self) -> None:
        self.t_start = time.monotonic()
        self.frames = []
        self.skipped: list[float] = []

    def add_frame(self, frame) -> None:
        self.frames.append(frame)

    def add_skipped(self, t_capture: float, _frame, _params) -> None:
        self.skipped.append(t_capture)


def test_stages_add_up_to_the_latency_and_take_the_look_ahead_from_the_model():
    motion = MotionBuffer()
    engine = StepEngine(n_expr=0, lookahead_ms=20.0)
    worker = DriverWorker(source=None, engine=engine, motion=motion, gate_factory=lambda: None,
                          on_audio=lambda _c: None)
    audio = impulse_audio(0.3, 0.6)
    t0 = time.monotonic() - 0.6   # the newest frame is fresh when rendered below
    for i in range(0, audio.size, 80):       # 5 ms blocks, delivered 3 ms after capture
        t_cap = t0 + i / SAMPLE_RATE
        worker.drive(audio[i:i + 80], t_cap, t_arrived=t_cap + (80 - 1) / SAMPLE_RATE + 0.003,
                     t_read=t_cap + 80 / SAMPLE_RATE + 0.004)
    tf = motion.select(time.monotonic())
    assert tf is not None and tf.stamps is not None
    renderer = RenderWorker(motion, _camera, lambda _o: None)
    frame = renderer.render_once(Scene(BarPipeline(), "bar"), renderer.options, time.monotonic())
    frame.stamps.taken = time.monotonic()
    shown = frame.stamps.taken + 0.002
    stages = frame.stamps.stages_ms(shown, engine.lookahead_ms / 1000)
    assert stages.sum() == pytest.approx((shown - frame.t_capture) * 1000, abs=1e-6)
    named = dict(zip(STAGES, stages))
    assert named["look-ahead"] == pytest.approx(20.0)
    assert 0 <= named["block"] <= 5.1                    # at most one 5 ms block past the need
    assert named["capture"] == pytest.approx(3.0, abs=0.01)
    assert named["queue"] == pytest.approx(1.0625, abs=0.01)
    assert named["upload"] == pytest.approx(2.0, abs=1e-6)
    assert min(stages) > -0.1

    breakdown = LatencyBreakdown()
    breakdown.add(frame.stamps, shown, 0.02)
    breakdown.add_present(4.0)
    assert breakdown.medians()["present"] == 4.0
    assert breakdown.text().startswith("LA 20 ") and breakdown.text().endswith("(+present 4)")
    assert LatencyBreakdown.format(breakdown.medians()).startswith("look-ahead 20.0 + block")


def test_session_reads_the_look_ahead_from_the_loaded_engine():
    session = LiveSession(_camera, lambda _o: None)
    try:
        assert session.lookahead_s == 0.0
        session.set_engine(StepEngine(n_expr=0, lookahead_ms=32.5))
        assert session.lookahead_s == pytest.approx(0.0325)
    finally:
        session.close()


def _publish(motion: MotionBuffer, n: int, t0: float, stop: threading.Event) -> None:
    """Motion at 30 fps in real time; frame k's jaw is k / 1000 (so a render says which k)."""
    for k in range(n):
        wait = t0 + k / MOTION_FPS - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        if stop.is_set():
            return
        mf = MotionFrame(t=k / MOTION_FPS, expr=np.zeros(0, np.float32),
                         jaw_pose=np.array([k / 1000, 0, 0], np.float32))
        t_cap = t0 + k / MOTION_FPS
        motion.push([TimedFrame(mf, t_cap, 0.0, FrameStamps(t_cap, t_cap, t_cap, t_cap, t_cap))])


def _run(render_delay_s: float, n: int) -> tuple[RenderWorker, list, list[TimedFrame]]:
    motion = MotionBuffer()
    worker = RenderWorker(motion, _camera, lambda _o: None)
    worker.options.size = 32
    seen = _Frames()
    worker.recorder = seen
    worker.scene = Scene(BarPipeline(delay_s=render_delay_s), "bar")
    stop = threading.Event()
    worker.start()
    t0 = time.monotonic() + 0.05
    try:
        _publish(motion, n, t0, stop)
        time.sleep(0.3)
    finally:
        stop.set()
        worker.stop()
        worker.join(timeout=5)
    published = [motion.select(t0 + k / MOTION_FPS) for k in range(n)]
    return worker, [f for f in seen.frames if f.stamps is not None], published


def test_a_slow_renderer_skips_to_the_newest_motion():
    worker, rendered, published = _run(render_delay_s=0.1, n=30)
    assert len(rendered) >= 5
    ks = [round((f.t_capture - published[0].t_capture) * MOTION_FPS) for f in rendered]
    for frame, k in zip(rendered, ks):
        newest = max(j for j, tf in enumerate(published) if tf.stamps.published <= frame.stamps.render_start)
        assert k == newest   # not the next one in line: the newest published when it started
    assert max(np.diff(ks)) >= 3   # ~3 motion frames per 100 ms render were dropped, not queued
    skipped = [round((t - published[0].t_capture) * MOTION_FPS) for t in worker.recorder.skipped]
    # ...and handed to the recording, each once (the newest may be drawn again while no newer
    # motion comes)
    assert sorted(skipped + sorted(set(ks))) == list(range(ks[-1] + 1))
    last = worker.take()
    assert last is rendered[-1] or last.stamps is None   # the window gets only the newest image
    assert worker.take() is None


def test_a_fast_renderer_shows_each_motion_frame_once():
    _worker, rendered, published = _run(render_delay_s=0.0, n=45)
    ks = [round((f.t_capture - published[0].t_capture) * MOTION_FPS) for f in rendered]
    assert len(set(ks)) >= 0.8 * len(published)   # on a busy machine a few may still be skipped
    waits = [f.stamps.render_start - f.stamps.published for f in rendered]
    assert np.median(waits) < 0.02   # started on the push, not on a clock of its own


def test_the_window_is_woken_by_a_finished_image_not_by_its_clock():
    """`wait_posted` is what the window sleeps on: set while an image waits, clear once taken."""
    worker = RenderWorker(MotionBuffer(), _camera, lambda _o: None)
    worker.options.size = 32
    assert worker.wait_posted(0.0) is False            # nothing rendered yet
    worker.scene = Scene(BarPipeline(delay_s=0.0), "bar")
    worker.start()
    try:
        assert worker.wait_posted(5.0) is True         # woken by the first image
    finally:
        worker.stop()
        worker.join(timeout=5)
    assert worker.wait_posted(0.0) is True             # still waiting in the mailbox
    assert worker.take() is not None
    assert worker.wait_posted(0.0) is False            # taken: the window sleeps again


def test_paced_file_source_delivers_a_block_once_it_is_complete(tmp_path):
    """Like a microphone: no chunk reaches the driver before its newest sample's capture time."""
    import soundfile as sf

    from avatar_app.audio_out import FilePlayer

    wav = tmp_path / "a.wav"
    sf.write(wav, impulse_audio(0.1, 0.6), SAMPLE_RATE)
    player = FilePlayer(wav, speakers=False)
    player.start()
    lags = []
    try:
        while not player.finished:
            chunk = player.read(timeout=0.05)
            if chunk is not None:
                newest = chunk.t_capture + (len(chunk.samples) - 1) / SAMPLE_RATE
                lags.append(chunk.t_arrived - newest)
    finally:
        player.stop()
    assert len(lags) > 10 and min(lags) > -0.0005


def test_bench_capture_refuses_a_bad_latency():
    proc = subprocess.run([sys.executable, "main.py", "bench", "capture", "--latency", "fast"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --latency must be low, high or seconds, got 'fast'"
