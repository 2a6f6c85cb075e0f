"""Frame clock, motion lookup and the headless live path (file source → frames → latency)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar_app.live_session import LatencyStats, MotionBuffer, TimedFrame
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
