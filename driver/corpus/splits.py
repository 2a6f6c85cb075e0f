"""Which voices are held out: splits are by voice so test speech comes from unseen voices.

Held out: flite's slt (the only female flite voice; training hears female pitch only through
espeak-ng variants and pitch shifts), espeak-ng's Scottish English, and espeak-ng's Caribbean
English. Test utterances of these voices also use sentences drawn from a separate set.
"""
from __future__ import annotations

TEST_VOICES = frozenset({"flite-slt", "espeak-en-gb-scotland", "espeak-en-029"})


def split_of_voice(voice_id: str) -> str:
    """"test" for held-out voices, else "train" (validation sentences come from train voices)."""
    return "test" if voice_id in TEST_VOICES else "train"
