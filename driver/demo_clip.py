"""The embedded demo clip: speech in a voice the default model never trained on.

It opens with a second of silence so anyone (and the tests) can see the mouth rest before it
speaks, and its sentence packs bilabials, labiodentals and open vowels so lip-sync is easy to
judge by eye. flite's output is deterministic, so the clip is reproducible byte for byte.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from driver.audio import SAMPLE_RATE

DEMO_TEXT = ("Hello! I am a talking head made of Gaussian splats. "
             "Maybe Bob will fetch five purple apples, or we may go for a very fine walk.")
DEMO_VOICE = "slt"  # held out of training (driver/corpus/splits.py)
LEADING_SILENCE_S = 1.0


def write_demo_clip(path: Path) -> Path:
    """Synthesise the demo sentence with flite into a 16 kHz mono PCM wav at `path`."""
    from driver.corpus.tts import flite_speak
    from splat.errors import UserInputError

    try:
        speech = flite_speak(DEMO_VOICE, DEMO_TEXT, rate=1.0, pitch=1.0)
    except FileNotFoundError:
        raise UserInputError("flite is needed to make the demo clip: apt-get install flite") from None
    silence = np.zeros(int(LEADING_SILENCE_S * SAMPLE_RATE), np.float32)
    tail = np.zeros(int(0.3 * SAMPLE_RATE), np.float32)
    audio = np.concatenate([silence, speech.audio, tail])
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
    return path
