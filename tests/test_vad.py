"""Noise gate hysteresis and the shipped Silero voice gate on synthetic speech vs noise."""
from __future__ import annotations

import numpy as np
import pytest

from avatar_app.vad import EnergyGate, make_gate
from splat.errors import UserInputError
from tests.xvfb_pulse import TTS, make_speech, tone


def test_energy_gate_opens_holds_and_closes():
    gate = EnergyGate(open_db=-30, hysteresis_db=6, hold_s=0.1)
    quiet = np.full(3200, 0.001, np.float32)
    loud = tone(0.2, amp=0.3)
    between = np.full(3200, 10 ** (-33 / 20), np.float32)  # under open, over close threshold
    assert not gate.process(quiet).any()
    assert gate.process(loud).any() and gate.is_open
    assert gate.process(between).all() and gate.is_open  # hysteresis keeps it open
    out = gate.process(np.concatenate([quiet, quiet]))
    assert not gate.is_open and out[:1600].any() and not out[-320:].any()  # hold, then close


def test_unknown_gate_mode_is_a_user_error():
    with pytest.raises(UserInputError):
        make_gate("loud")


def test_voice_gate_passes_speech_and_blocks_loud_noise(tmp_path):
    pytest.importorskip("silero_vad")
    if TTS is None:
        pytest.skip("no espeak-ng/flite for test speech")
    from driver.audio import load_audio

    speech = load_audio(make_speech(tmp_path / "s.wav", "This is a voice gate test, one two three."))
    noise = (np.random.default_rng(0).standard_normal(16000 * 2) * 0.1).astype(np.float32)
    gate = make_gate("voice")
    out = np.concatenate([gate.process(noise[i:i + 320]) for i in range(0, len(noise), 320)])
    assert not out.any()  # loud noise: a noise gate would open, the voice gate stays shut
    out = np.concatenate([gate.process(speech[i:i + 320]) for i in range(0, len(speech), 320)])
    assert np.abs(out).sum() > 0.5 * np.abs(speech[: len(out)]).sum()
