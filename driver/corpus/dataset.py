"""Corpus reading for training and evaluation: manifest records, splits, clips.

A clip is (audio 16 kHz float32, motion (T, E+3) at 30 fps, phones, metadata). Splits are by
voice (see `driver.corpus.splits`); `check_disjoint` is asserted whenever a dataset is built so a
held-out voice can never leak into training.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from driver.audio import MOTION_FPS, SAMPLE_RATE
from driver.corpus.phones import PhoneSegment, read_tsv
from driver.speech_activity import read_segments
from splat.errors import UserInputError

SPLITS = ("train", "val", "test")
# A record with "supervision": PAUSE_SUPERVISION has targets in its pauses only, with per-frame
# loss weights in WEIGHTS_DIR/<id>.npy (`driver.corpus.pause_targets`).
PAUSE_SUPERVISION = "pauses"
WEIGHTS_DIR = "weights"
VAD_DIR = "vad"              # their Silero VAD segmentation (`.vad.tsv` format)


@dataclass
class Clip:
    """One utterance with everything a loss or a metric needs."""

    id: str
    voice: str
    audio: np.ndarray          # (S,) float32 16 kHz
    motion: np.ndarray         # (T, E+3) float32: expression weights, then jaw_pose
    phones: list[PhoneSegment]
    weight: np.ndarray | None = None   # (T,) per-frame loss weight in [0, 1]; None: all frames
    speech: np.ndarray | None = None   # (T,) bool, pause-only clips: frames inside VAD speech

    @property
    def fully_supervised(self) -> bool:
        return self.weight is None or bool(np.all(self.weight == 1.0))


def read_manifest(corpus: Path) -> list[dict]:
    """All utterance records of a corpus folder (every `manifest-*.jsonl`), sorted by id."""
    corpus = Path(corpus)
    paths = sorted(corpus.glob("manifest-*.jsonl"))
    if not paths:
        raise UserInputError(f"{corpus}: no manifest-*.jsonl (not a corpus; run `main.py corpus`)")
    records = [json.loads(line) for path in paths for line in path.read_text().splitlines()
               if line.strip()]
    return sorted(records, key=lambda r: r["id"])


def check_disjoint(records: list[dict]) -> None:
    """Raise if a voice appears both in the test split and in train/val."""
    test = {r["voice"] for r in records if r["split"] == "test"}
    seen = {r["voice"] for r in records if r["split"] != "test"}
    if test & seen:
        raise UserInputError(f"voices {sorted(test & seen)} are in both test and train/val")


def split_records(corpus: Path, split: str) -> list[dict]:
    """Records of one split, after checking the voice split is clean."""
    if split not in SPLITS:
        raise UserInputError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
    records = read_manifest(corpus)
    check_disjoint(records)
    chosen = [r for r in records if r["split"] == split]
    if not chosen:
        raise UserInputError(f"{corpus}: no utterances in split {split!r}")
    return chosen


def is_pause_only(record: dict) -> bool:
    """Whether a manifest record is supervised in its pauses only (no phones, rest targets)."""
    return record.get("supervision") == PAUSE_SUPERVISION


def load_weight(corpus: Path, record: dict, frames: int) -> np.ndarray:
    """A pause-only utterance's (T,) loss weights, read without pickle and checked."""
    path = Path(corpus) / WEIGHTS_DIR / f"{record['id']}.npy"
    if not path.is_file():
        raise UserInputError(f"{path} missing: run `main.py corpus --out {corpus} --motion-only`")
    try:
        weight = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise UserInputError(f"{path}: not a plain array ({exc})") from None
    if (weight.shape != (frames,) or not np.issubdtype(weight.dtype, np.floating)
            or not np.all((weight >= 0.0) & (weight <= 1.0))):
        raise UserInputError(f"{path}: expected {frames} frame weights in [0, 1], got "
                             f"{weight.dtype} {weight.shape}")
    return weight.astype(np.float32)


def load_speech_frames(corpus: Path, record: dict, frames: int) -> np.ndarray:
    """A pause-only utterance's (T,) VAD speech frames, from its stored segmentation: where no
    motion is known but a talking mouth must still open now and then
    (`driver.losses.speech_opening`)."""
    from driver.real_speech_eval import speech_frames     # it reads corpora too (no cycle)

    path = Path(corpus) / VAD_DIR / f"{record['id']}.tsv"
    if not path.is_file():
        raise UserInputError(f"{path} missing: re-import the clip with `main.py corpus "
                             "--aligned ... --aligned-pauses`")
    return speech_frames(read_segments(path), frames, MOTION_FPS)


def load_clip(corpus: Path, record: dict, clean: bool = False) -> Clip:
    """Read one utterance (the microphone-like audio unless `clean`)."""
    corpus = Path(corpus)
    name = f"{record['id']}.clean.wav" if clean else f"{record['id']}.wav"
    audio, rate = sf.read(corpus / "audio" / name, dtype="float32")
    if rate != SAMPLE_RATE:
        raise UserInputError(f"{name}: expected 16 kHz audio, got {rate}")
    motion_path = corpus / "motion" / f"{record['id']}.npy"
    if not motion_path.is_file():
        raise UserInputError(f"{motion_path} missing: run `main.py corpus --out {corpus} "
                             "--motion-only`")
    motion = np.load(motion_path)
    if is_pause_only(record):
        return Clip(record["id"], record["voice"], audio, motion, [],
                    load_weight(corpus, record, len(motion)),
                    load_speech_frames(corpus, record, len(motion)))
    return Clip(record["id"], record["voice"], audio, motion,
                read_tsv(corpus / "phones" / f"{record['id']}.tsv"))
