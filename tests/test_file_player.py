"""The file player streams from disk (memory flat over any length), plays the right samples at
16 kHz, loops for benchmarks, and a short `bench soak` run reports memory and A/V figures."""
from __future__ import annotations

import re
import time
import tracemalloc

import numpy as np
import pytest
import soundfile

from avatar_app.audio_out import FilePlayer
from avatar_app.mp4_writer import read_back
from driver.audio import SAMPLE_RATE, load_audio


def _drain(player: FilePlayer, timeout: float) -> np.ndarray:
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = player.read(timeout=0.05)
        if chunk is not None:
            chunks.append(chunk.samples)
        elif player.finished:
            last = player.read(timeout=0.2)   # what the ring still holds after the end
            if last is None:
                break
            chunks.append(last.samples)
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def test_plays_the_file_resampled_like_the_offline_loader(tmp_path):
    rate = 44100
    t = np.arange(int(0.8 * rate)) / rate
    chirp = (0.4 * np.sin(2 * np.pi * (200 + 600 * t) * t)).astype(np.float32)
    soundfile.write(tmp_path / "chirp.wav", np.stack([chirp, chirp], 1), rate)   # stereo
    player = FilePlayer(tmp_path / "chirp.wav", speakers=False)
    player.start()
    try:
        got = _drain(player, timeout=5.0)
    finally:
        player.stop()
    want = load_audio(tmp_path / "chirp.wav")
    n = min(len(got), len(want))
    assert n > 0.7 * SAMPLE_RATE
    np.testing.assert_allclose(got[200:n - 200], want[200:n - 200], atol=2e-3)


def test_memory_stays_flat_on_a_long_file(tmp_path):
    minutes = 5
    noise = np.random.default_rng(0).uniform(-0.3, 0.3, minutes * 60 * SAMPLE_RATE)
    soundfile.write(tmp_path / "long.wav", noise.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
    whole_mb = noise.size * 4 / 1e6                               # what a whole-file buffer costs
    tracemalloc.start()
    player = FilePlayer(tmp_path / "long.wav", speakers=False)
    player.start()
    try:
        time.sleep(1.0)
        got = _drain(player, timeout=0.5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        player.stop()
        tracemalloc.stop()
    assert len(got) > 0.5 * SAMPLE_RATE
    assert peak / 1e6 < whole_mb / 5, (peak / 1e6, whole_mb)     # ~1 s queued, not 5 min


def test_loops_a_short_file_for_the_requested_length(tmp_path):
    soundfile.write(tmp_path / "short.wav", np.full(1600, 0.2, np.float32), SAMPLE_RATE)  # 0.1 s
    player = FilePlayer(tmp_path / "short.wav", speakers=False, seconds=0.75)
    player.start()
    try:
        got = _drain(player, timeout=4.0)
    finally:
        player.stop()
    assert player.finished
    assert abs(len(got) - 0.75 * SAMPLE_RATE) <= SAMPLE_RATE // 100      # within one block


def test_short_soak_reports_memory_and_drift(tmp_path, capsys):
    import main

    out = tmp_path / "soak.mp4"
    code = main.main(["bench", "soak", "--minutes", "0.25", "--warmup", "4", "--size", "64",
                      "--backend", "cpu", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    growth = float(re.search(r"growth ([+-][\d.]+) MB", text).group(1))
    drift = float(re.search(r"A/V drift ([+-][\d.]+) ms", text).group(1))
    assert abs(growth) < 50 and abs(drift) < 1000 / 30
    ends = read_back(out)
    assert ends.video_end > 10 and ends.video_frames > 20
    assert (ends.audio_end - ends.video_end) * 1000 == pytest.approx(drift, abs=0.5)
