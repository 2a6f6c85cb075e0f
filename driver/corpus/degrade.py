"""Evaluation copies of a corpus whose held-out test voices are heard through a room.

`eval` scores a split of a corpus folder, and fits its energy baseline on that folder's
training clips, so a degraded copy is a whole corpus: the test utterances are re-rendered from
their clean engine audio (a long reverberation, or the full robust chain), and every other
utterance is hard-linked (copied where links are impossible) unchanged, so the baseline is fitted
on the same clips as for the original corpus. With a reverb, the clip is extended by the full
tail, labelled a pause, so silence closure is scored while the room rings out.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve

from driver.audio import SAMPLE_RATE
from driver.corpus.acoustics import RobustConfig, robust_augment
from driver.corpus.articulation import phones_to_motion
from driver.corpus.channel import set_level, speech_level_db
from driver.corpus.dataset import read_manifest
from driver.corpus.pause_targets import utterance_files
from driver.corpus.phones import pad_to_duration, read_tsv, write_tsv
from driver.corpus.rooms import room_impulse_response
from splat.errors import UserInputError

DEGRADE_STREAM = 2      # generator: np.random.default_rng([utterance seed, DEGRADE_STREAM])
CHAINS = ("reverb", "robust")


def link_file(src: Path, dst: Path) -> None:
    """Hard-link `src` to `dst` (copied where links are impossible): corpus copies share audio."""
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def reverberate(clean: np.ndarray, rng: np.random.Generator, rt60: float,
                drr_db: float) -> tuple[np.ndarray, np.ndarray]:
    """(heard, dry): `clean` followed by rt60 s of silence, through a room of `rt60`, at the
    clean speech level."""
    dry = np.concatenate([clean, np.zeros(int(rt60 * SAMPLE_RATE), np.float32)])
    wet = fftconvolve(dry, room_impulse_response(rng, rt60, drr_db))[: len(dry)]
    wet = set_level(wet.astype(np.float32), speech_level_db(clean))
    return np.clip(wet, -1.0, 1.0).astype(np.float32), dry


def degrade_split(source: Path, out: Path, chain: str = "reverb", rt60: float = 2.0,
                  drr_db: float = 0.0, split: str = "test") -> int:
    """Write a corpus copy at `out` with `split` re-rendered; returns how many were rendered."""
    source, out = Path(source), Path(out)
    if chain not in CHAINS:
        raise UserInputError(f"unknown degradation {chain!r} (choose from {', '.join(CHAINS)})")
    if not 0.1 <= rt60 <= 5.0:
        raise UserInputError(f"--rt60 {rt60}: choose 0.1 to 5 seconds")
    if out.resolve() == source.resolve():
        raise UserInputError("--out must be a new folder, not the source corpus")
    records = read_manifest(source)
    if not any(r["split"] == split for r in records):
        raise UserInputError(f"{source}: no utterances in split {split!r}")
    for sub in ("audio", "phones", "motion"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for path in out.glob("manifest-*.jsonl"):
        path.unlink()
    rendered = 0
    for record in records:
        uid = record["id"]
        if record["split"] != split:
            for name in utterance_files(record):
                (out / name).parent.mkdir(exist_ok=True)
                link_file(source / name, out / name)
        else:
            clean, _ = sf.read(source / "audio" / f"{uid}.clean.wav", dtype="float32")
            phones = read_tsv(source / "phones" / f"{uid}.tsv")
            rng = np.random.default_rng([record["seed"], DEGRADE_STREAM])
            if chain == "reverb":
                heard, dry = reverberate(clean, rng, rt60, drr_db)
                phones = pad_to_duration(phones, len(dry) / SAMPLE_RATE)
                steps = [f"reverb(rt60={rt60:.2f}s,drr={drr_db:.1f}dB)"]
            else:
                rendering = robust_augment(clean, phones, rng, RobustConfig(p_standard=0.0))
                heard, dry, phones, steps = (rendering.audio, rendering.dry, rendering.phones,
                                             rendering.steps)
            duration = len(dry) / SAMPLE_RATE
            sf.write(out / "audio" / f"{uid}.wav", heard, SAMPLE_RATE, subtype="PCM_16")
            sf.write(out / "audio" / f"{uid}.clean.wav", dry, SAMPLE_RATE, subtype="PCM_16")
            write_tsv(phones, out / "phones" / f"{uid}.tsv")
            np.save(out / "motion" / f"{uid}.npy",
                    phones_to_motion(phones, duration, record["seed"]))
            record = {**record, "duration": duration, "augmentation": steps,
                      "degraded_from": str(source)}
            rendered += 1
        with open(out / f"manifest-{record['voice']}.jsonl", "a") as manifest:
            manifest.write(json.dumps(record) + "\n")
    return rendered
