"""Scoring predicted meshes against the truth, shared by training-time validation and `eval`.

A `Judge` holds what must be identical for every method scored on a clip (lip vertices, the
lip-gap vertex sets, the upper face, the clip's neutral mesh and the frozen SyncNet3D's audio
embeddings, computed once per clip); a `Scorecard` accumulates one method's per-clip numbers
and turns them into the REFERENCE.md §5 metrics. Closure rates need phone labels and are only
reported when some clip has them; speech perception (the lip reader's PER / VER on renders,
`driver.lipreading.perception`) only when the caller adds it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from driver.corpus.dataset import Clip
from driver.metrics import (OFFSETS, audio_embeddings, bilabial_closures, fdd, lip_max_sq_error,
                            lve, max_l2_mm, silence_closures, sync_distances, sync_scores,
                            upper_face_dynamics)
from driver.audio import MOTION_FPS
from driver.lipreading.visemes import rates
from driver.motion_space import MotionSpace
from driver.syncnet3d import SyncNet3D


@dataclass
class Judge:
    """One clip's scoring context (build with `Judge.for_clip`)."""

    space: MotionSpace
    clip: Clip
    template: np.ndarray                 # (V, 3) the clip's neutral mesh
    syncnet: SyncNet3D | None = None
    audio_emb: torch.Tensor | None = None

    @classmethod
    def for_clip(cls, space: MotionSpace, clip: Clip,
                 syncnet: SyncNet3D | None = None) -> "Judge":
        template = space.rest([clip.voice])[0].cpu().numpy()
        emb = audio_embeddings(syncnet, clip.audio, len(clip.motion)) if syncnet else None
        return cls(space, clip, template, syncnet, emb)

    @torch.no_grad()
    def vertices(self, motion: np.ndarray | torch.Tensor) -> np.ndarray:
        """(T, V, 3) mesh of (T, P) motion of this clip."""
        m = torch.as_tensor(np.asarray(motion, np.float32))[None]
        return self.space.vertices(m, [self.clip.voice])[0].cpu().numpy()


@dataclass
class Scorecard:
    """Per-clip numbers of one method."""

    errors: list = field(default_factory=list)     # per-frame max lip squared error
    dyn: list = field(default_factory=list)        # upper-face dynamics per clip
    curves: list = field(default_factory=list)     # SyncNet3D d(tau) per clip
    closures: np.ndarray = field(default_factory=lambda: np.zeros(4, int))
    perception: np.ndarray = field(default_factory=lambda: np.zeros(4, int))  # lip-reader edits

    def add_perception(self, counts: np.ndarray) -> None:
        """Add one clip's [phone edits, phones, viseme edits, visemes] of the lip reader."""
        self.perception = self.perception + np.asarray(counts, int)

    def add(self, verts: np.ndarray, v_gt: np.ndarray, judge: Judge) -> None:
        space, clip = judge.space, judge.clip
        lips = space.lips
        self.errors.append(lip_max_sq_error(verts, v_gt, lips))
        if "upper_face" in space.data.masks:
            self.dyn.append(upper_face_dynamics(verts, judge.template,
                                                space.data.masks["upper_face"]))
        if clip.phones:
            gaps = space.gap.gaps(verts)
            b = bilabial_closures(gaps, clip.phones, MOTION_FPS)
            s = silence_closures(gaps, clip.phones, MOTION_FPS)
            self.closures += np.array([b[0], b[1], s[0], s[1]])
        if judge.syncnet is not None:
            self.curves.append(sync_distances(judge.syncnet, judge.audio_emb,
                                              verts[:, lips] - judge.template[lips], OFFSETS))

    @classmethod
    def merged(cls, cards: "list[Scorecard]") -> "Scorecard":
        """One card holding the clips of all `cards` (e.g. the pooled card of per-voice ones)."""
        out = cls()
        for card in cards:
            out.errors += card.errors
            out.dyn += card.dyn
            out.curves += card.curves
            out.closures = out.closures + card.closures
            out.perception = out.perception + card.perception
        return out

    def result(self, gt_dyn: list[float] | None = None) -> dict:
        """LVE, lip max-L2, (FDD against `gt_dyn`), (closure rates), (LSE-D/C, AV offset),
        (PER / VER)."""
        out: dict = {"lve": lve(self.errors), "max_l2_mm": max_l2_mm(self.errors)}
        if gt_dyn is not None and self.dyn:
            out["fdd"] = fdd(gt_dyn, self.dyn)
        if self.closures[1]:
            out["bilabial_closure"] = self.closures[0] / self.closures[1]
        if self.closures[3]:
            out["silence_closure"] = self.closures[2] / self.closures[3]
        if self.curves:
            s = sync_scores(self.curves)
            out.update(lse_d=s.lse_d, lse_c=s.lse_c, av_offset=s.offset)
        if self.perception[1]:
            out.update(rates(self.perception))
        return out
