"""Recordings in sync: a tone burst and a jaw step at the same instant, read back from the MP4.

Both recording paths: `render` (offline, the embedded avatar) and the window's Record (the live
path in real time, paced file source, scripted engine, with and without a display delay). The
offset is measured on the decoded file (PyAV): audio onset vs the first frame whose mouth
region changed, and must be 0 ± 1 frame.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar_app import av_sync
from avatar_app.live_render import Scene
from driver.audio import MOTION_FPS, SAMPLE_RATE
from tests.live_fakes import BarPipeline

ROOT = Path(__file__).resolve().parents[1]
FRAME = 1.0 / MOTION_FPS


@pytest.mark.skipif(not (ROOT / "assets" / "default_avatar").is_dir(), reason="default avatar not generated")
def test_render_keeps_sound_and_picture_together(tmp_path):
    r = av_sync.offline_av(tmp_path / "render.mp4", size=96, onset_s=1.0, seconds=1.6, backend="cpu")
    assert r.audio_onset == pytest.approx(1.0, abs=0.002)   # AAC priming does not shift the sound
    assert abs(r.offset) <= FRAME


@pytest.mark.parametrize("delay_s", [0.0, 0.3])
def test_window_recording_is_in_sync_whatever_the_display_delay(tmp_path, delay_s):
    live = av_sync.live_av(tmp_path / "rec.mp4", size=64, onset_s=1.2, seconds=2.0,
                           delay_s=delay_s, scene=Scene(BarPipeline(), "bar"))
    assert live.frames > 30
    assert abs(live.result.offset) <= FRAME, live.result


def test_a_late_picture_is_measured_as_late(tmp_path):
    """The measurement itself: a file whose jaw step is written 3 frames after the burst."""
    from avatar_app.mp4_writer import Mp4Writer

    out = tmp_path / "late.mp4"
    audio = av_sync.impulse_audio(0.5, 1.2)
    with Mp4Writer(out, 64, 64, MOTION_FPS, SAMPLE_RATE) as writer:
        writer.write_audio(audio, 0.0)
        for k in range(36):
            image = np.ones((64, 64, 3), np.float32)
            if k >= 15 + 3:
                image[40:60, 20:44] = 0.1
            writer.write_frame(image, k * FRAME)
    r = av_sync.measure(out)
    assert r.audio_onset == pytest.approx(0.5, abs=0.002)
    assert r.frames == pytest.approx(3.0, abs=0.05)


def test_step_engine_opens_at_the_frame_nearest_the_burst():
    engine = av_sync.StepEngine(n_expr=2, lookahead_ms=32.5)
    audio = av_sync.impulse_audio(0.51, 1.0)            # 0.3 frames after frame 15
    frames = [f for i in range(0, audio.size, 80) for f in engine.push(audio[i:i + 80], i / SAMPLE_RATE)]
    jaw = np.array([f.jaw_pose[0] for f in frames])
    assert np.flatnonzero(jaw > 0)[0] == 15
    assert len(frames) == int((1.0 - 0.0325) * MOTION_FPS) + 1


def test_a_slow_renderer_s_recording_gets_every_frame_after_the_fill(tmp_path):
    """A renderer at ~8 fps skips most motion frames: the live file holds each shown picture
    until the next, and the fill puts the skipped ones in, so the jaw step lands on its frame."""
    pipeline = BarPipeline(delay_s=0.12)
    live = av_sync.live_av(tmp_path / "slow.mp4", size=64, onset_s=1.2, seconds=2.0,
                           scene=Scene(pipeline, "bar"))
    assert not live.fill_error and live.frames < 25 and live.filled > 25
    assert live.live_result is not None   # the live-only file, kept beside
    assert abs(live.result.offset) <= FRAME, live.result
    import av

    with av.open(str(tmp_path / "slow.mp4")) as container:
        times = [float(f.time) for f in container.decode(video=0)]
    steps = np.diff(times)
    assert len(times) >= live.frames + live.filled and steps.max() < 1.6 * FRAME
    assert not (tmp_path / "slow.filling.mp4").exists()
