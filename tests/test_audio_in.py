"""Capture ring, resampler and a real PortAudio stream from a PulseAudio virtual microphone."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
import soundfile as sf

from avatar_app import audio_in
from avatar_app.audio_in import AudioInput, CaptureRing, StreamResampler, list_input_devices
from tests import xvfb_pulse
from tests.xvfb_pulse import make_speech, play_into_vmic, pulse_vmic, stop_pulse


def test_ring_keeps_order_and_stamps():
    ring = CaptureRing(16000, seconds=1.0)
    for k in range(5):
        ring.write(np.full(160, k, np.float32), 100.0 + k * 0.01)
    data, start = ring.read_from(0)
    assert start == 0 and len(data) == 800
    assert np.all(data[160:320] == 1)
    assert ring.stamp_at(160) == pytest.approx(100.01)
    assert ring.stamp_at(170) == pytest.approx(100.01 + 10 / 16000)


def test_ring_drops_oldest_when_reader_is_slow():
    ring = CaptureRing(1000, seconds=1.0)
    for k in range(15):
        ring.write(np.full(100, k, np.float32), float(k))
    data, start = ring.read_from(0)
    assert start == 500 and len(data) == 1000 and data[0] == 5
    assert ring.dropped == 500


@pytest.mark.parametrize("rate", [48000, 44100])
def test_chunked_resampling_matches_whole_signal(rate):
    t = np.arange(rate) / rate
    x = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    rs = StreamResampler(rate)
    outs, first = [], None
    for i in range(0, len(x), 441):
        y, f = rs.process(x[i:i + 441])
        first = f if first is None else first
        outs.append(y)
    y = np.concatenate(outs)
    ref = np.sin(2 * np.pi * 440 * np.arange(len(y)) / 16000)
    assert first == 0.0
    assert len(y) > 15500
    assert np.max(np.abs(y[200:] - ref[200:])) < 0.02  # seamless: no clicks at chunk edges


@pytest.fixture(scope="module")
def vmic():
    if xvfb_pulse.PULSE_MISSING:
        pytest.skip("PulseAudio binaries (pulseaudio, pactl, paplay) are not installed")
    with pulse_vmic() as env:
        old = {k: os.environ.get(k) for k in ("XDG_RUNTIME_DIR", "PULSE_SERVER")}
        os.environ.update({k: env[k] for k in old})
        audio_in.refresh_devices()
        yield env
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _collect(mic: AudioInput, seconds: float) -> list:
    chunks, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        c = mic.read(timeout=0.05)
        if c is not None:
            chunks.append(c)
    return chunks


def test_virtual_microphone_delivers_stamped_speech(vmic, tmp_path):
    assert any(d.name in ("pulse", "default") for d in list_input_devices())
    wav = make_speech(tmp_path / "speech.wav", "Testing the microphone, one two three.")
    mic = AudioInput("pulse")
    mic.start()
    try:
        player = play_into_vmic(vmic, wav)
        t_play = time.monotonic()
        chunks = _collect(mic, sf.info(wav).duration + 1.0)
        player.wait(timeout=10)
    finally:
        mic.stop()
    audio = np.concatenate([c.samples for c in chunks])
    assert np.sqrt(np.mean(audio ** 2)) > 0.01  # speech arrived
    stamps = np.array([c.t_capture for c in chunks])
    # bursts may pull a stamp back by at most one 10 ms block; overall they follow the audio
    assert stamps[-1] - stamps[0] == pytest.approx(len(audio) / 16000 - len(chunks[-1].samples) / 16000, abs=0.3)
    loud = next(c for c in chunks if np.abs(c.samples).max() > 0.05)
    assert t_play - 0.5 < loud.t_capture < t_play + 4.0  # capture clock is the monotonic clock


def test_microphone_vanishing_mid_run_is_reported_not_fatal(vmic, tmp_path):
    """Runs last in this module: it stops the module's PulseAudio server under a live stream."""
    mic = AudioInput("pulse")
    mic.start()
    player = play_into_vmic(vmic, make_speech(tmp_path / "s.wav", "one two three four"))
    deadline = time.monotonic() + 5
    while mic.read(timeout=0.05) is None and time.monotonic() < deadline:
        pass  # the stream must be delivering before its server goes away
    stop_pulse(vmic)
    player.wait(timeout=10)
    deadline = time.monotonic() + 15  # PortAudio notices the dead server late on a busy machine
    while not mic.lost and time.monotonic() < deadline:
        mic.read(timeout=0.05)
    assert mic.lost and "stopped" in mic.error
    mic.stop()  # closing a dead stream must not raise
