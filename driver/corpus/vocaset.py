"""VOCASET in FaceFormer's layout, for FLAME users: `vertices_npy/<seq>.npy` (frames x 15069,
60 fps), `wav/<seq>.wav`, `templates.pkl` (subject → (5023, 3) neutral mesh).

Sequences are resampled to 30 fps by taking every other frame (as FaceFormer does) and split by
speaker with FaceFormer's VOCASET protocol: 8 training speakers (sentences 1–40), 2 validation
and 2 test speakers (sentences 21–40). VOCASET is research-only and needs registration; nothing
here downloads it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from driver.audio import MOTION_FPS, load_audio
from splat.errors import UserInputError
from splat.flame_pickle import load_restricted_pickle

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
class VocaEntry:
    """One sequence on disk (listed cheaply; `load_sequence` reads it)."""

    name: str
    subject: str
    sentence: int
    vertices: Path
    wav: Path

    @property
    def duration(self) -> float:
        """Seconds of audio, from the wav header."""
        return float(sf.info(str(self.wav)).duration)


@dataclass
class VocaSequence:
    name: str
    subject: str
    sentence: int
    audio: np.ndarray        # float32 mono 16 kHz
    vertices: np.ndarray     # (T, V, 3) at 30 fps (V = 5023 for FLAME)
    template: np.ndarray     # (V, 3) the subject's neutral mesh


def load_templates(root: Path) -> dict[str, np.ndarray]:
    """templates.pkl: subject -> (V, 3) neutral mesh."""
    path = Path(root) / "templates.pkl"
    if not path.is_file():
        raise UserInputError(f"{root}: no templates.pkl (FaceFormer's VOCASET layout expected)")
    raw = load_restricted_pickle(path, "VOCASET templates.pkl")   # a pickle must not run code
    if not isinstance(raw, dict) or not raw:
        raise UserInputError(f"{path}: expected a dict of subject -> (V, 3) template mesh")
    templates = {}
    for subject, value in raw.items():
        mesh = np.asarray(value)
        if mesh.dtype.kind not in "fiu" or mesh.size == 0 or mesh.size % 3:
            raise UserInputError(f"{path}: template {subject!r} is not a (V, 3) vertex array "
                                 f"(got {mesh.dtype} {mesh.shape})")
        mesh = mesh.astype(np.float32).reshape(-1, 3)
        if not np.isfinite(mesh).all():
            raise UserInputError(f"{path}: template {subject!r} holds NaN or infinite values")
        templates[str(subject)] = mesh
    return templates


def split_of(subject: str, sentence: int) -> str | None:
    """FaceFormer's split of a (speaker, sentence), or None if the protocol leaves it out."""
    for split, speakers in SPLIT_SPEAKERS.items():
        if subject in speakers and sentence in SPLIT_SENTENCES[split]:
            return split
    return None


def list_vocaset(root: Path, split: str | None = None) -> list[VocaEntry]:
    """Sequences of `split` (all if None) that have both vertices and audio, sorted by name."""
    root = Path(root)
    vert_dir, wav_dir = root / "vertices_npy", root / "wav"
    if not vert_dir.is_dir() or not wav_dir.is_dir():
        raise UserInputError(f"{root}: expected vertices_npy/ and wav/ (FaceFormer layout)")
    out = []
    for npy in sorted(vert_dir.glob("*.npy")):
        match = _NAME.match(npy.stem)
        wav = wav_dir / f"{npy.stem}.wav"
        if not match or not wav.is_file():
            continue
        subject, sentence = match["subject"], int(match["number"])
        if split is None or split_of(subject, sentence) == split:
            out.append(VocaEntry(npy.stem, subject, sentence, npy, wav))
    return out


def load_sequence(entry: VocaEntry, templates: dict[str, np.ndarray], source_fps: float = 60.0,
                  fps: float = MOTION_FPS) -> VocaSequence:
    """Read one sequence at `fps` (every other frame of the 60 fps source, as FaceFormer)."""
    step = source_fps / fps
    if abs(step - round(step)) > 1e-6:
        raise UserInputError(f"cannot resample {source_fps} fps to {fps} fps by frame skipping")
    template = templates.get(entry.subject)
    if template is None:
        raise UserInputError(f"templates.pkl has no template for {entry.subject}")
    raw = np.load(entry.vertices, mmap_mode="r")
    if raw.ndim != 2 or raw.shape[1] != template.size:
        raise UserInputError(f"{entry.vertices}: expected (frames, {template.size}) vertices like "
                             f"the subject's template, got {raw.shape}")
    verts = np.array(raw[:: int(round(step))], np.float32).reshape(-1, len(template), 3)
    return VocaSequence(entry.name, entry.subject, entry.sentence, load_audio(entry.wav), verts,
                        template)

