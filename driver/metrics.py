"""Evaluation metrics exactly as REFERENCE.md §5, plus lip-contact rates on the decoded mesh.

- LVE: per frame the max over lip vertices of the squared L2 error, averaged over all frames
  (m², no square root); `max_l2_mm` is the same max without squaring, in millimetres.
- FDD: per sequence, per upper-face vertex the std over time of the squared displacement norm
  from the template, mean over vertices; FDD = mean over sequences of (GT − prediction).
- LSE-D / LSE-C / AV offset from a frozen SyncNet3D: per sequence, distances between each
  frame's 5-frame motion window and the audio windows at offsets τ = −15..+15 frames, averaged
  over frames → d(τ); LSE-D = min d, LSE-C = median d − min d, offset = argmin τ. τ > 0 means
  the audio window is taken τ frames *later* than the motion window (a model whose motion lags
  the audio by k frames has offset −k).
- Bilabial closure rate: share of p/b/m phones during which the lips meet (the lip gap drops
  below a threshold on at least one frame inside the phone, or the frame nearest a phone too
  short to contain one). Silence closure rate: share of frames inside pauses, at least
  `margin` seconds from speech, whose lip gap is below the threshold.
The lip gap is measured on the mesh: the smallest distance between the central upper-lip and
lower-lip vertices (the mouth corners always touch, so they are excluded).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from driver.corpus.phones import BILABIALS, SILENCE, PhoneSegment
from driver.syncnet3d import SyncNet3D, audio_windows, log_mel, motion_windows

OFFSETS = np.arange(-15, 16)
CLOSED_MM = 1.5


def lip_max_sq_error(pred: np.ndarray, gt: np.ndarray, lip_idx: np.ndarray) -> np.ndarray:
    """(T,) per frame: max over lip vertices of the squared L2 error (m²)."""
    diff = pred[:, lip_idx] - gt[:, lip_idx]
    return np.max(np.sum(diff**2, axis=-1), axis=-1)


def lve(per_frame_sq: list[np.ndarray]) -> float:
    """LVE over a dataset: mean over all frames of all sequences."""
    return float(np.mean(np.concatenate(per_frame_sq)))


def max_l2_mm(per_frame_sq: list[np.ndarray]) -> float:
    """Mean over frames of the max lip-vertex L2 error, in millimetres."""
    return float(np.mean(np.sqrt(np.concatenate(per_frame_sq)))) * 1000.0


def upper_face_dynamics(verts: np.ndarray, template: np.ndarray, upper_idx: np.ndarray) -> float:
    """Mean over upper-face vertices of the std over time of ‖v_t − template‖²."""
    disp = np.sum((verts[:, upper_idx] - template[upper_idx]) ** 2, axis=-1)
    return float(np.mean(np.std(disp, axis=0)))


def fdd(gt_dyn: list[float], pred_dyn: list[float]) -> float:
    """FDD = mean over sequences of (GT dynamics − predicted dynamics)."""
    return float(np.mean(np.asarray(gt_dyn) - np.asarray(pred_dyn)))


@dataclass
class LipGap:
    """Central upper/lower lip vertex sets of a rig, for lip-gap measurement."""

    upper: np.ndarray
    lower: np.ndarray

    @classmethod
    def from_rig_data(cls, data, width: float = 0.6) -> "LipGap":
        """Upper vs lower lip by skinning (the lower lip rides the jaw joint), keeping the
        middle `width` of the mouth width (default 60 %): there the lips only touch when the
        mouth is closed."""
        from splat.rig import JOINT_NAMES

        lips = np.asarray(data.masks["lips"])
        template = data.v_template
        on_jaw = data.weights[lips, JOINT_NAMES.index("jaw")] >= 0.5
        x = template[lips, 0]
        centre, half = 0.5 * (x.max() + x.min()), 0.5 * (x.max() - x.min())
        central = np.abs(x - centre) <= width * half
        return cls(lips[central & ~on_jaw], lips[central & on_jaw])

    def gaps(self, verts: np.ndarray | torch.Tensor) -> np.ndarray:
        """(T,) smallest distance (m) between the inner upper- and lower-lip vertex sets."""
        v = torch.as_tensor(np.asarray(verts) if not torch.is_tensor(verts) else verts)
        d = torch.cdist(v[:, self.upper].float(), v[:, self.lower].float())
        return d.amin(dim=(1, 2)).numpy()


def _frames_in(seg: PhoneSegment, n_frames: int, fps: float) -> np.ndarray:
    times = np.arange(n_frames) / fps
    inside = np.nonzero((times >= seg.start) & (times < seg.end))[0]
    if len(inside):
        return inside
    return np.array([min(n_frames - 1, int(round(seg.mid * fps)))])


def bilabial_closures(gaps: np.ndarray, phones: list[PhoneSegment], fps: float,
                      threshold_mm: float = CLOSED_MM) -> tuple[int, int]:
    """(closed, total) over p/b/m phones: closed if the gap < threshold on a frame inside."""
    closed = total = 0
    for seg in phones:
        if seg.phone in BILABIALS and seg.start * fps < len(gaps):
            total += 1
            closed += bool(np.min(gaps[_frames_in(seg, len(gaps), fps)]) * 1000 < threshold_mm)
    return closed, total


def silence_closures(gaps: np.ndarray, phones: list[PhoneSegment], fps: float,
                     threshold_mm: float = CLOSED_MM, margin: float = 0.1) -> tuple[int, int]:
    """(closed, total) over pause frames at least `margin` s away from any speech phone."""
    times = np.arange(len(gaps)) / fps
    quiet = np.zeros(len(gaps), bool)
    for seg in phones:
        if seg.phone == SILENCE:
            quiet |= (times >= seg.start + margin) & (times < seg.end - margin)
    for seg in phones:  # a pause at the very start/end has no speech beyond the clip edge
        if seg.phone == SILENCE and seg.start <= 0.0:
            quiet |= times < seg.end - margin
        if seg.phone == SILENCE and seg.end >= times[-1]:
            quiet |= times >= seg.start + margin
    return int(np.sum(gaps[quiet] * 1000 < threshold_mm)), int(np.sum(quiet))


@torch.no_grad()
def audio_embeddings(syncnet: SyncNet3D, audio: np.ndarray, n_frames: int,
                     offsets: np.ndarray = OFFSETS) -> torch.Tensor:
    """SyncNet3D audio embeddings of frames offsets[0] .. n_frames-1+offsets[-1] (one clip);
    computed once and shared by every method scored on that clip."""
    frames = torch.arange(int(offsets[0]), n_frames + int(offsets[-1]))
    return syncnet.embed_audio(audio_windows(log_mel(audio), frames))


@torch.no_grad()
def sync_distances(syncnet: SyncNet3D, audio_emb: torch.Tensor, lip_disp: np.ndarray,
                   offsets: np.ndarray = OFFSETS) -> np.ndarray:
    """d(τ) (len(offsets),): mean over frames t of ‖e_motion(t) − e_audio(t+τ)‖ for one clip.

    `audio_emb` comes from `audio_embeddings` for the same clip and offsets."""
    lips = torch.as_tensor(np.asarray(lip_disp, np.float32))
    T = lips.shape[0]
    e_motion = syncnet.embed_motion(motion_windows(lips, torch.arange(T)))
    first = int(offsets[0])
    return np.asarray([float(torch.linalg.norm(
        e_motion - audio_emb[tau - first: tau - first + T], dim=-1).mean()) for tau in offsets])


@dataclass
class SyncScores:
    lse_d: float
    lse_c: float
    offset: int


def sync_scores(curves: list[np.ndarray], offsets: np.ndarray = OFFSETS) -> SyncScores:
    """LSE-D and LSE-C averaged over sequences; AV offset = argmin of the mean d(τ) curve."""
    lse_d = float(np.mean([c.min() for c in curves]))
    lse_c = float(np.mean([np.median(c) - c.min() for c in curves]))
    offset = int(offsets[int(np.argmin(np.mean(curves, axis=0)))])
    return SyncScores(lse_d, lse_c, offset)
