"""Learn2Talk training losses on decoded vertices, as a registry of named, weighted terms.

Terms: vertex reconstruction, extra weight on the lip vertices, lip contact, speech opening and
loudness tracking (real speech without phones), velocity, sync, lip-reading. The per-frame terms take an optional (B, T) frame weight (`frame_mean`): pause-only
real speech is supervised in its pauses only; the sync term is given fully supervised clips only.
Each term has a weight and a linear warm-up (`start`..`full` steps): the sync loss follows
Learn2Talk's advice to switch the expert on after reconstruction has settled, and so does the
lip-reading term (speech-perception distillation: the frozen lip reader's features of
differentiable mouth renders of the prediction against those of the truth), whose value is
`driver.lipreading.teacher.LipReadTeacher.loss` because it needs rig parameters, not vertices.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from driver.syncnet3d import SyncNet3D, audio_windows, motion_windows, sync_bce

MM = 1000.0   # losses in millimetres: metre-scale squared errors are ~1e-6, awkward for Adam


@dataclass
class LossTerm:
    """A named loss with its weight schedule."""

    name: str
    weight: float
    start: int = 0      # step at which the term switches on
    full: int = 0       # step at which it reaches `weight` (linear ramp from `start`)

    def scale(self, step: int) -> float:
        if self.weight == 0.0 or step < self.start:
            return 0.0
        if self.full <= self.start or step >= self.full:
            return self.weight
        return self.weight * (step - self.start) / (self.full - self.start)


def build_terms(rec: float, vel: float, sync: float, sync_start: int, sync_full: int,
                lipread: float, lips: float = 0.0, contact: float = 0.0, lipread_start: int = 0,
                lipread_full: int = 0, opening: float = 0.0, tracking: float = 0.0
                ) -> dict[str, LossTerm]:
    """The registry used by the trainer (order = report order)."""
    return {"rec": LossTerm("rec", rec), "lips": LossTerm("lips", lips),
            "contact": LossTerm("contact", contact), "open": LossTerm("open", opening),
            "track": LossTerm("track", tracking),
            "vel": LossTerm("vel", vel),
            "sync": LossTerm("sync", sync, sync_start, sync_full),
            "lipread": LossTerm("lipread", lipread, lipread_start, lipread_full)}


def frame_mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """The one weighting rule of every per-frame term: the mean of `values` (B, T) over the
    frames that count, each counted with its `weight` (B, T) >= 0 (None: all frames, 1; a rest
    target in a real pause may count more with `--pause-weight`).

    Pause-only real speech (`driver.corpus.pause_targets`) has targets in its pauses only: its
    speech frames have weight 0 and must not pull the mouth to the rest pose. A batch without
    any weight gives 0 (and a zero gradient), not NaN.
    """
    if weight is None:
        return values.mean()
    return (values * weight).sum() / weight.sum().clamp_min(1e-8)


def transition_weight(weight: torch.Tensor | None) -> torch.Tensor | None:
    """(B, T-1) weights of frame-to-frame steps: a step counts as much as its less supervised
    end (a motion between a target and no target is not known)."""
    return None if weight is None else torch.minimum(weight[:, 1:], weight[:, :-1])


def reconstruction(pred: torch.Tensor, gt: torch.Tensor,
                   weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared vertex error (mm²) over (B, T, V, 3), frames weighted by `frame_mean`."""
    return frame_mean(((pred - gt) * MM).pow(2).sum(-1).mean(-1), weight)


def lip_reconstruction(pred: torch.Tensor, gt: torch.Tensor, lips: torch.Tensor,
                       weight: torch.Tensor | None = None) -> torch.Tensor:
    """Reconstruction on the lip vertices only: the few hundred vertices that carry closures
    (a 1 mm miss there is the difference between closed and open lips) would otherwise be a
    small share of the mean over the whole mouth region."""
    return reconstruction(pred[:, :, lips], gt[:, :, lips], weight)


def lip_contact(pred: torch.Tensor, gt: torch.Tensor, upper: torch.Tensor, lower: torch.Tensor,
                closed_mm: float = 1.5, target_mm: float = 0.3,
                weight: torch.Tensor | None = None) -> torch.Tensor:
    """Squared excess lip gap (mm²) on the frames where the ground-truth lips meet.

    A squared vertex error treats a lip 3 mm short of closing as a small miss, and a regressor
    unsure of a 60 ms /p/'s exact frame hedges with a half-open mouth: the closure, which is
    what a viewer sees, is lost. This term asks for contact itself (gap below `target_mm`)
    wherever the truth has it, so hedging costs more than committing. Frames count with
    `weight` (`frame_mean`) among the closed ones.
    """
    closed = (lip_gaps(gt, upper, lower) < closed_mm).to(pred.dtype)
    counted = closed if weight is None else closed * weight
    return frame_mean(torch.relu(lip_gaps(pred, upper, lower) - target_mm).pow(2), counted)


def lip_gaps(verts: torch.Tensor, upper: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    """(B, T) smallest distance (mm) between the upper- and lower-lip vertex sets of (B, T, V, 3)."""
    d = torch.cdist(verts[:, :, upper].flatten(0, 1), verts[:, :, lower].flatten(0, 1))
    return d.amin(dim=(1, 2)).reshape(verts.shape[:2]) * MM


def speech_opening(pred: torch.Tensor, upper: torch.Tensor, lower: torch.Tensor,
                   speech: torch.Tensor, open_mm: float, window: int) -> torch.Tensor:
    """Squared shortfall (mm²) of the widest lip gap in each `window` frames of speech below
    `open_mm`.

    Real speech without phones (pause-only clips) says nothing about *how* the mouth moves
    while someone talks, but one thing any talking mouth does: it opens about once a syllable.
    Taught rest in those clips' pauses and nothing in their speech, a model learns "this room
    and microphone: keep the mouth shut" and stops opening for real voices; this hinge pushes
    only the widest frame of a window that stays shut, so it asks for no particular shape.
    `speech` (B, T) marks VAD speech frames; windows count only if they lie wholly in speech.
    """
    if pred.shape[1] < window:
        return pred.new_zeros(())
    widest = lip_gaps(pred, upper, lower).unfold(1, window, 1).amax(-1)        # (B, T-w+1)
    inside = speech.unfold(1, window, 1).amin(-1).to(pred.dtype)
    return frame_mean(torch.relu(open_mm - widest).pow(2), inside)


def loudness_tracking(pred: torch.Tensor, upper: torch.Tensor, lower: torch.Tensor,
                      speech: torch.Tensor, loudness: torch.Tensor, target_r: float,
                      min_frames: int) -> torch.Tensor:
    """Squared shortfall of each crop's Pearson r(lip gap, loudness) over its VAD speech frames
    below `target_r`, averaged over crops with at least `min_frames` speech frames.

    The opening hinge asks a real voice's mouth to part once a syllable but not *when*; the
    loudness envelope says when: vowels are the loud part of a syllable and the jaw is open
    there, while stop closures (/p b m/) are near-silent. A hinge, not a regression to the
    envelope: once the mouth follows the syllable rhythm this well, the term is silent and
    the shape within it is left to the model.
    """
    gaps = lip_gaps(pred, upper, lower)
    mask = speech.to(pred.dtype)
    count = mask.sum(1)
    kept = count >= min_frames
    if not bool(kept.any()):
        return pred.new_zeros(())
    gaps, mask, energy, count = gaps[kept], mask[kept], loudness[kept].to(pred.dtype), count[kept]
    centred_gap = (gaps - (gaps * mask).sum(1, keepdim=True) / count[:, None]) * mask
    centred_energy = (energy - (energy * mask).sum(1, keepdim=True) / count[:, None]) * mask
    covariance = (centred_gap * centred_energy).sum(1)
    spread = (centred_gap.pow(2).sum(1) * centred_energy.pow(2).sum(1)).clamp_min(1e-12).sqrt()
    return torch.relu(target_r - covariance / spread).pow(2).mean()


def velocity(pred: torch.Tensor, gt: torch.Tensor,
             weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error of frame-to-frame vertex motion (mm²), steps weighted by
    `transition_weight`."""
    step_error = (((pred[:, 1:] - pred[:, :-1]) - (gt[:, 1:] - gt[:, :-1])) * MM).pow(2).sum(-1)
    return frame_mean(step_error.mean(-1), transition_weight(weight))


def sync_loss(syncnet: SyncNet3D, mels: list[torch.Tensor], frame0: list[int],
              lip_disp: torch.Tensor, per_clip: int, generator: torch.Generator) -> torch.Tensor:
    """BCE(cos, 1) of the frozen expert on predicted lip motion vs its own audio.

    lip_disp (B, T, L, 3) predicted lip displacements from the template; mels[b] is the whole
    clip's SyncNet log-mel and frame0[b] the clip frame of crop frame 0.
    """
    B, T = lip_disp.shape[:2]
    audio, motion = [], []
    for b in range(B):
        frames = torch.randint(2, max(3, T - 2), (per_clip,), generator=generator)
        motion.append(motion_windows(lip_disp[b], frames))
        audio.append(audio_windows(mels[b], frames + frame0[b]))
    cos = syncnet(torch.cat(audio), torch.cat(motion))
    return sync_bce(cos, torch.ones_like(cos))
