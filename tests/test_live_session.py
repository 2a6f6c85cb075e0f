"""Frame clock, motion lookup and the headless live path (file source → frames → latency)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar_app.live_motion import MotionBuffer, TimedFrame
from avatar_app.live_session import LatencyStats
from avatar_app.mp4_writer import read_back
from driver.motion import MotionFrame

ROOT = Path(__file__).resolve().parents[1]


def _tf(t: float) -> TimedFrame:
    return TimedFrame(MotionFrame(t=t, expr=np.zeros(3, np.float32)), t, 0.0)


def test_motion_buffer_picks_newest_frame_not_after_target():
    buf = MotionBuffer()
    buf.push([_tf(k / 30) for k in range(30)])
    assert buf.select(0.5).t_capture == pytest.approx(15 / 30)
    assert buf.select(-1.0).t_capture == 0.0  # display delay beyond the buffer: oldest frame
    assert buf.select(10.0).t_capture == pytest.approx(29 / 30)


def test_latency_stats_median_and_p95():
    stats = LatencyStats()
    assert stats.summary() is None
    for v in range(1, 101):
        stats.add(float(v))
    median, p95 = stats.summary()
    assert median == pytest.approx(50.5) and p95 == pytest.approx(95.05)


@pytest.mark.skipif(not (ROOT / "assets" / "default_avatar").is_dir(), reason="default avatar not generated")
def test_headless_live_path_measures_latency(tmp_path):
    from avatar_app.latency_bench import bench_e2e
    from tests.xvfb_pulse import tone

    wav = tmp_path / "tone.wav"
    import soundfile as sf

    sf.write(wav, tone(2.0), 16000)
    result = bench_e2e(audio=str(wav), backend="cpu", size=128, seconds=2.0)
    assert result["frames"] > 5 and result["latency_samples"] > 5
    # at least the model's look-ahead, and far from seconds
    assert 50 < result["latency_median_ms"] < 1500


def test_recorder_interleaves_audio_at_sub_sample_boundaries(tmp_path):
    """Audio that starts within half a sample of a frame's end must wait, not spin forever."""
    import av

    from avatar_app.audio_in import AudioChunk
    from avatar_app.live_render import RenderedFrame
    from avatar_app.recorder import Recorder
    from driver.audio import MOTION_FPS as FPS

    rec = Recorder(str(tmp_path / "rec.mp4"), 32)
    frame_dt = 1.0 / FPS
    rgba = np.zeros((32, 32, 4), np.float32)
    # a chunk whose first sample sits a fraction of a sample before the next frame's end
    rec.add_audio(AudioChunk(np.zeros(800, np.float32), rec.t_start + 2 * frame_dt - 1e-5))
    for k in range(1, 30):
        rec.add_frame(RenderedFrame(rgba, rec.t_start + k * frame_dt, 0.0, 0.0))
    rec.close()
    with av.open(str(tmp_path / "rec.mp4")) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 1
        assert sum(1 for _ in container.decode(video=0)) == 30   # the first one also at 0 s


def test_recording_starts_with_a_picture_when_the_first_frame_is_late(tmp_path):
    """Under load the first frame can come 0.2-0.4 s after the recording starts: the file must
    still have a picture from 0 s, so video and audio start (and end) together."""
    import av

    from avatar_app.audio_in import AudioChunk
    from avatar_app.live_render import RenderedFrame
    from avatar_app.recorder import Recorder
    from driver.audio import MOTION_FPS as FPS

    rec = Recorder(str(tmp_path / "late.mp4"), 32)
    rec.add_audio(AudioChunk(np.full(32000, 0.1, np.float32), rec.t_start))
    for k in range(12, 60):
        rgba = np.full((32, 32, 4), k / 60, np.float32)
        rec.add_frame(RenderedFrame(rgba, rec.t_start + k / FPS, 0.0, 0.0))
    rec.close()
    with av.open(str(tmp_path / "late.mp4")) as container:
        frames = list(container.decode(video=0))
        assert frames[0].time == 0.0 and frames[1].time == 12 / FPS
        np.testing.assert_allclose(frames[0].to_ndarray(format="rgb24"),
                                   frames[1].to_ndarray(format="rgb24"), atol=3)
    ends = read_back(tmp_path / "late.mp4")
    assert abs(ends.video_end - 2.0) < 0.04 and abs(ends.audio_end - 2.0) < 0.01
