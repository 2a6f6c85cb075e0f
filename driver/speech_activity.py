"""Where a recording has speech: Silero VAD over a whole clip, as time segments.

Why a VAD and not a level threshold: in real rooms pauses are full of reverb tails, breaths and
room tone that are as loud as soft speech, so "quiet" is not "not speaking". Silero VAD ships
inside the `silero-vad` wheel (TorchScript, works offline) and is what the live app's voice
gate uses too (`avatar_app/vad.py`); here it runs offline with its own segment post-processing
(`get_speech_timestamps`). Used for honest rest targets in real speech without phones and for
the pause/speech split of `eval --real`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from driver.audio import SAMPLE_RATE
from splat.errors import UserInputError

SPEECH, PAUSE = "speech", "pau"


@dataclass(frozen=True)
class Segment:
    """`label` (SPEECH or PAUSE) from `start` to `end` seconds."""

    start: float
    end: float
    label: str


@lru_cache(maxsize=1)
def _model():
    from silero_vad import load_silero_vad

    return load_silero_vad()


@torch.no_grad()
def speech_segments(audio: np.ndarray, threshold: float = 0.5,
                    min_silence_ms: int = 100, pad_ms: int = 30) -> list[Segment]:
    """Speech and pause segments covering [0, duration] of 16 kHz mono `audio`."""
    from silero_vad import get_speech_timestamps

    model = _model()
    model.reset_states()
    stamps = get_speech_timestamps(
        torch.from_numpy(np.ascontiguousarray(audio, np.float32)), model, threshold=threshold,
        sampling_rate=SAMPLE_RATE, min_silence_duration_ms=min_silence_ms, speech_pad_ms=pad_ms)
    return segments_from_stamps([(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE)
                                 for s in stamps], len(audio) / SAMPLE_RATE)


def segments_from_stamps(stamps: list[tuple[float, float]], duration: float) -> list[Segment]:
    """Speech intervals -> alternating pause/speech segments covering [0, duration]."""
    out: list[Segment] = []
    t = 0.0
    for start, end in sorted(stamps):
        start, end = max(start, t), min(end, duration)
        if end <= start:
            continue
        if start > t:
            out.append(Segment(t, start, PAUSE))
        out.append(Segment(start, end, SPEECH))
        t = end
    if t < duration:
        out.append(Segment(t, duration, PAUSE))
    return out


def speech_mask(segments: list[Segment], n_frames: int, fps: float) -> np.ndarray:
    """(T,) bool: frame k (time k/fps) lies inside a speech segment."""
    times = np.arange(n_frames) / fps
    mask = np.zeros(n_frames, bool)
    for seg in segments:
        if seg.label == SPEECH:
            mask |= (times >= seg.start) & (times < seg.end)
    return mask


def write_segments(segments: list[Segment], path: Path) -> None:
    """`start<TAB>end<TAB>speech|pau` lines (the `.vad.tsv` beside a real-speech wav)."""
    Path(path).write_text("".join(f"{s.start:.4f}\t{s.end:.4f}\t{s.label}\n" for s in segments))


def read_segments(path: Path) -> list[Segment]:
    """Read a `.vad.tsv` written by `write_segments`."""
    out = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            seg = Segment(float(parts[0]), float(parts[1]), parts[2])
        except (IndexError, ValueError):
            raise UserInputError(f"{path}:{number}: expected 'start end speech|pau'") from None
        if seg.label not in (SPEECH, PAUSE) or seg.end < seg.start:
            raise UserInputError(f"{path}:{number}: bad segment {line!r}")
        out.append(seg)
    return out
