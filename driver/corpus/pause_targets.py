"""Pause-only supervision: real speech without phone timings still teaches the rest pose.

Most real recordings (`corpus --real-sources`: every non-English language) have a speech/pause
segmentation from Silero VAD but no phones, so nothing honest can be said about the mouth while
someone speaks. In a pause, though, the answer is known: the mouth rests, exactly as the
articulatory model's own pause targets do. Such an utterance is stored with
- motion = the rest pose (every articulatory channel at 0, through `channels_to_rig`, so it is
  the same closed neutral mouth the corpus's pauses relax to) on every frame, and
- a per-frame loss weight: 1 on frames at least `MARGIN_S` (100 ms) from VAD speech, 0 elsewhere.
The margin is `eval --real`'s own pause rule (`driver.real_speech_eval.pause_frames`): Silero's
segments carry only 30 ms of padding, and the articulatory model itself lets the mouth relax
into a pause over its first 100 ms (`enforce_contacts` rests a pause's core, 0.1 s in from each
end), so frames closer to speech than that are release/onset gestures, not rest.

Files of such an utterance (`uid`): `vad/<uid>.tsv` (the segmentation, `.vad.tsv` format),
`motion/<uid>.npy` (rest, like every motion file) and `weights/<uid>.npy` (float32 (T,), read
without pickle by `driver.corpus.dataset.load_clip`); no `phones/<uid>.tsv`. Weights and motion
are a pure function of the stored segmentation and duration, so `corpus --motion-only`
recomputes them like any motion.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from driver.audio import MOTION_FPS
from driver.corpus.articulation import CHANNELS, channels_to_rig, frame_count
from driver.corpus.dataset import VAD_DIR, WEIGHTS_DIR, is_pause_only
from driver.real_speech_eval import MARGIN_S, pause_frames
from driver.speech_activity import Segment, read_segments, write_segments



def rest_motion(n_frames: int) -> np.ndarray:
    """(T, E + 3) rig parameters of the articulatory model's pause rest (all channels 0)."""
    expr, jaw = channels_to_rig(np.zeros((n_frames, len(CHANNELS))))
    return np.concatenate([expr, jaw], axis=1).astype(np.float32)


def pause_weights(segments: list[Segment], n_frames: int) -> np.ndarray:
    """(T,) float32: 1 on frames at least MARGIN_S from VAD speech, else 0."""
    return pause_frames(segments, n_frames, MOTION_FPS, MARGIN_S).astype(np.float32)


def write_pause_targets(corpus: Path, uid: str, duration: float,
                        segments: list[Segment] | None = None) -> np.ndarray:
    """Write (or, without `segments`, recompute from the stored `vad/<uid>.tsv`) the rest
    motion and the pause weights of one utterance; returns the weights."""
    corpus = Path(corpus)
    vad = corpus / VAD_DIR / f"{uid}.tsv"
    if segments is None:
        segments = read_segments(vad)
    else:
        vad.parent.mkdir(parents=True, exist_ok=True)
        write_segments(segments, vad)
    n = frame_count(duration)
    weights = pause_weights(segments, n)
    (corpus / "motion").mkdir(exist_ok=True)
    (corpus / WEIGHTS_DIR).mkdir(exist_ok=True)
    np.save(corpus / "motion" / f"{uid}.npy", rest_motion(n))
    np.save(corpus / WEIGHTS_DIR / f"{uid}.npy", weights)
    return weights


def utterance_files(record: dict) -> list[str]:
    """The corpus-relative files that make up one utterance (for copies of a corpus)."""
    uid = record["id"]
    files = [f"audio/{uid}.wav", f"audio/{uid}.clean.wav", f"motion/{uid}.npy"]
    if is_pause_only(record):
        return files + [f"{VAD_DIR}/{uid}.tsv", f"{WEIGHTS_DIR}/{uid}.npy"]
    return files + [f"phones/{uid}.tsv"]
