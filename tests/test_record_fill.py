"""Filling skipped frames into a finished recording: order, sound, and never losing the file."""
from __future__ import annotations

import numpy as np
import pytest

from avatar_app import av_sync
from avatar_app.mp4_writer import Mp4Writer
from avatar_app.record_fill import RecordingFill, SkippedFrame
from driver.audio import MOTION_FPS, SAMPLE_RATE

FRAME = 1.0 / MOTION_FPS


class GreyPipeline:
    """Renders a flat grey whose level is the frame's jaw opening (so a frame says which it is)."""

    def render(self, params, camera, background):
        level = float(params["jaw_pose"][0])
        return np.full((64, 64, 3), level, np.float32), np.ones((64, 64), np.float32)


def _live_file(path, shown: list[int], seconds: float = 1.2):
    """A live-style recording: pictures only at the frame indices in `shown`, each white."""
    with Mp4Writer(path, 64, 64, MOTION_FPS, SAMPLE_RATE) as writer:
        writer.write_audio(av_sync.impulse_audio(0.5, seconds), 0.0)
        for k in shown:
            writer.write_frame(np.ones((64, 64, 3), np.float32), k * FRAME)
    return path


def _skipped(ks: list[int]) -> list[SkippedFrame]:
    return [SkippedFrame(k * FRAME, {"jaw_pose": np.array([0.2, 0, 0], np.float32)}, None,
                         (1, 1, 1), GreyPipeline()) for k in ks]


def _frames(path):
    import av

    with av.open(str(path)) as container:
        return [(float(f.time), f.to_ndarray(format="rgb24").mean())
                for f in container.decode(video=0)]


def test_the_fill_puts_every_skipped_frame_in_its_place_and_keeps_the_sound(tmp_path):
    shown = list(range(0, 36, 4))
    path = _live_file(tmp_path / "rec.mp4", shown)
    before = av_sync.audio_onset(path)
    missing = [k for k in range(36) if k not in shown]
    fill = RecordingFill(path, _skipped(missing), MOTION_FPS)
    steps = 0
    while fill.step():
        steps += 1
    assert not fill.error and fill.done and steps == fill.filled == len(missing)
    frames = _frames(path)
    assert [round(t / FRAME) for t, _ in frames] == list(range(36))
    for k, (_t, mean) in enumerate(frames):
        assert (mean > 240) == (k in shown)          # live pictures white, filled ones grey
    assert av_sync.audio_onset(path) == pytest.approx(before, abs=0.002)
    assert not fill.partial.exists()


def test_an_abandoned_or_failed_fill_leaves_the_live_recording_as_it_was(tmp_path):
    path = _live_file(tmp_path / "rec.mp4", [0, 5, 10, 15])
    original = path.read_bytes()
    fill = RecordingFill(path, _skipped([1, 2, 3, 6]), MOTION_FPS)
    assert fill.step() and fill.partial.exists()
    fill.abandon()
    assert not fill.step() and path.read_bytes() == original and not fill.partial.exists()

    class Broken(GreyPipeline):
        def render(self, params, camera, background):
            raise RuntimeError("renderer gone")

    broken = RecordingFill(path, [SkippedFrame(FRAME, {"jaw_pose": np.zeros(3)}, None, (1, 1, 1),
                                               Broken())], MOTION_FPS)
    assert not broken.step() and "renderer gone" in broken.error
    assert path.read_bytes() == original and not broken.partial.exists()
