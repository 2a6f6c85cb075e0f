"""VOCASET in FaceFormer's layout, for FLAME users: `vertices_npy/<seq>.npy` (frames x 15069,
60 fps), `wav/<seq>.wav`, `templates.pkl` (subject → (5023, 3) neutral mesh).

Sequences are resampled to 30 fps by taking every other frame (as FaceFormer does) and split by
speaker with FaceFormer's VOCASET protocol: 8 training speakers (sentences 1–40), 2 validation
and 2 test speakers (sentences 21–40). VOCASET is research-only and needs registration; nothing
here downloads it.
"""
from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from driver.audio import load_audio
from splat.errors import UserInputError

FLAME_VERTS = 5023
SPLIT_SPEAKERS = {
    "train": ("FaceTalk_170728_03272_TA", "FaceTalk_170904_00128_TA", "FaceTalk_170725_00137_TA",
              "FaceTalk_170915_00223_TA", "FaceTalk_170811_03274_TA", "FaceTalk_170913_03279_TA",
              "FaceTalk_170904_03276_TA", "FaceTalk_170912_03278_TA"),
    "val": ("FaceTalk_170811_03275_TA", "FaceTalk_170908_03277_TA"),
    "test": ("FaceTalk_170809_00138_TA", "FaceTalk_170731_00024_TA"),
}
SPLIT_SENTENCES = {"train": range(1, 41), "val": range(21, 41), "test": range(21, 41)}
_NAME = re.compile(r"^(?P<subject>.+)_sentence(?P<number>\d+)$")


@dataclass
class VocaSequence:
    name: str
    subject: str
    sentence: int
    audio: np.ndarray        # float32 mono 16 kHz
    vertices: np.ndarray     # (T, 5023, 3) at 30 fps
    template: np.ndarray     # (5023, 3) the subject's neutral mesh


def _load_templates(root: Path) -> dict[str, np.ndarray]:
    path = root / "templates.pkl"
    if not path.is_file():
        raise UserInputError(f"{root}: no templates.pkl (FaceFormer's VOCASET layout expected)")
    with open(path, "rb") as f:
        raw = pickle.load(f, encoding="latin1")
    return {str(k): np.asarray(v, np.float32).reshape(-1, 3) for k, v in raw.items()}


def split_of(subject: str, sentence: int) -> str | None:
    """FaceFormer's split of a (speaker, sentence), or None if the protocol leaves it out."""
    for split, speakers in SPLIT_SPEAKERS.items():
        if subject in speakers and sentence in SPLIT_SENTENCES[split]:
            return split
    return None


def load_vocaset(root: Path, split: str | None = None, source_fps: float = 60.0,
                 fps: float = 30.0) -> list[VocaSequence]:
    """Sequences of `split` (all if None) that have vertices, audio and a template."""
    root = Path(root)
    vert_dir, wav_dir = root / "vertices_npy", root / "wav"
    if not vert_dir.is_dir() or not wav_dir.is_dir():
        raise UserInputError(f"{root}: expected vertices_npy/ and wav/ (FaceFormer layout)")
    step = source_fps / fps
    if abs(step - round(step)) > 1e-6:
        raise UserInputError(f"cannot resample {source_fps} fps to {fps} fps by frame skipping")
    templates = _load_templates(root)
    out = []
    for npy in sorted(vert_dir.glob("*.npy")):
        match = _NAME.match(npy.stem)
        wav = wav_dir / f"{npy.stem}.wav"
        if not match or not wav.is_file():
            continue
        subject, sentence = match["subject"], int(match["number"])
        if split is not None and split_of(subject, sentence) != split:
            continue
        if subject not in templates:
            raise UserInputError(f"templates.pkl has no template for {subject}")
        verts = np.load(npy).astype(np.float32)
        if verts.ndim != 2 or verts.shape[1] % 3:
            raise UserInputError(f"{npy}: expected (frames, V*3) vertices, got {verts.shape}")
        verts = verts.reshape(len(verts), -1, 3)[:: int(round(step))]
        out.append(VocaSequence(npy.stem, subject, sentence, load_audio(wav), verts,
                                templates[subject]))
    return out
