"""External aligned speech: a folder of `name.wav` + `name.tsv` (start, end, ARPAbet phone).

Real recordings with forced-aligned phones (e.g. from an aligner run elsewhere) go through the
same articulatory model as the TTS corpus, so they can be used for evaluation (held-out real
voices) or training. Imported utterances get voice id "external" (or the folder's name) and
land in the corpus layout with their own manifest file.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from driver.audio import SAMPLE_RATE, load_audio
from driver.corpus.articulation import phones_to_motion
from driver.corpus.phones import PhoneSegment, pad_to_duration, read_tsv, write_tsv
from splat.errors import UserInputError


@dataclass
class AlignedUtterance:
    name: str
    audio: np.ndarray               # float32 mono 16 kHz
    phones: list[PhoneSegment]


def read_aligned_folder(folder: Path, skip_unaligned: bool = False) -> list[AlignedUtterance]:
    """Every `name.wav` with a matching `name.tsv`; a wav without timings is an error unless
    `skip_unaligned` (a `corpus --real-sources` set has phones for its English clips only)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"aligned-speech folder not found: {folder}")
    wavs = sorted(folder.glob("*.wav"))
    if not wavs:
        raise UserInputError(f"{folder}: no .wav files")
    out = []
    for wav in wavs:
        tsv = wav.with_suffix(".tsv")
        if not tsv.is_file() and skip_unaligned:
            continue
        if not tsv.is_file():
            raise UserInputError(f"{wav.name} has no {tsv.name} (start end phone per line)")
        audio = load_audio(wav)
        duration = len(audio) / SAMPLE_RATE
        phones = read_tsv(tsv)
        if phones[-1].end > duration + 0.05:
            raise UserInputError(f"{tsv}: phones run to {phones[-1].end:.2f} s but the audio "
                                 f"lasts {duration:.2f} s")
        out.append(AlignedUtterance(wav.stem, audio, pad_to_duration(phones, duration)))
    return out


def import_aligned_folder(folder: Path, corpus: Path, split: str, voice: str = "external",
                          skip_unaligned: bool = False) -> int:
    """Copy an aligned folder into the corpus layout (audio, phones, motion, manifest)."""
    for sub in ("audio", "phones", "motion"):
        (corpus / sub).mkdir(parents=True, exist_ok=True)
    utterances = read_aligned_folder(folder, skip_unaligned)
    if not utterances:
        raise UserInputError(f"{folder}: no .wav has a phone .tsv beside it")
    manifest = corpus / f"manifest-{voice}.jsonl"
    known = set()
    if manifest.is_file():
        known = {json.loads(line)["id"] for line in manifest.read_text().splitlines() if line}
    with open(manifest, "a") as f:
        for utt in utterances:
            uid = f"{voice}-{split}-{utt.name}"
            if uid in known:
                continue
            seed = zlib.crc32(uid.encode())
            duration = len(utt.audio) / SAMPLE_RATE
            sf.write(corpus / "audio" / f"{uid}.wav", utt.audio, SAMPLE_RATE, subtype="PCM_16")
            sf.write(corpus / "audio" / f"{uid}.clean.wav", utt.audio, SAMPLE_RATE,
                     subtype="PCM_16")
            write_tsv(utt.phones, corpus / "phones" / f"{uid}.tsv")
            np.save(corpus / "motion" / f"{uid}.npy", phones_to_motion(utt.phones, duration, seed))
            f.write(json.dumps({"id": uid, "voice": voice, "split": split, "engine": "external",
                                "text": "", "duration": duration, "seed": seed,
                                "source": str(folder / f"{utt.name}.wav")}) + "\n")
    return len(utterances)
