"""The lip-reading teacher (Learn2Talk's speech-perception distillation) for the regressor.

The student's predicted rig parameters and the ground truth are both rendered as mouth crops by
the differentiable torch rasterizer (`splat.render.torch_raster`), over the Gaussians the mouth
camera can see, at a low resolution (`size`) upsampled to the reader's input; the frozen lip
reader's sequence features of the truth's crops are the target of those of the student's, so
its judgement of how the mouth moves reaches the regressor's weights through pixels. Both sides
go through the same renderer, so the low resolution biases neither. The Gaussians rendered are
the mouth crop's that are visible in some probe pose (neutral, every expression alone, with the
jaw closed and open): hidden layers and the crop's margins are dropped once, at set-up. Only a
short window of `frames` per clip, for `clips` clips of the batch, is rendered: that, not the
reader, is the cost.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from driver.lipreading.model import load_lipreader
from driver.lipreading.mouth_view import FIELD_M, LUMA, MouthRenderer, MouthView
from driver.lipreading.perception import avatar_of
from driver.motion_space import motion_params
from splat.binding import AvatarTensors, bind_gaussians
from splat.errors import UserInputError
from splat.render.torch_raster import contributions, rasterize

VISIBLE_WEIGHT = 0.01     # a Gaussian is kept if it covers this much of a pixel in a probe pose


class LipReadTeacher:
    """Frozen reader + differentiable mouth renders of (B, T, E+3) rig-parameter motion."""

    def __init__(self, folder: Path, rig_topology: str, size: int = 24, frames: int = 8,
                 clips: int = 2, device: torch.device | str = "cpu") -> None:
        self.reader, config = load_lipreader(folder)
        self.reader.to(device)
        self.mouth = MouthRenderer(avatar_of(config), size, float(config.get("field_m", FIELD_M)))
        if self.mouth.rig_data.topology_digest() != rig_topology:
            raise UserInputError(f"the lip reader in {folder} reads another rig's mouth than the "
                                 "one being trained (the teacher needs the corpus's rig)")
        self.device = torch.device(device)
        self.rig = self.mouth.pipeline.rig.to(self.device)
        self.tensors = self.mouth.pipeline.tensors.to(self.device)
        self.identity = {k: torch.as_tensor(v, dtype=torch.float32, device=self.device)
                         for k, v in self.mouth.pipeline.identity.items()}
        self.camera = self.mouth.camera(MouthView.canonical())
        self.luma = torch.from_numpy(LUMA).to(self.device)
        self.reader_size, self.frames, self.clips = int(config["size"]), frames, clips
        self.tensors = self._visible_only()

    @torch.no_grad()
    def _visible_only(self) -> AvatarTensors:
        """The mouth crop's Gaussians that show in some probe pose."""
        E = self.rig.n_expr
        probes = torch.zeros(2 * E + 2, E + 3, device=self.device)
        probes[:E, :E] = torch.eye(E)
        probes[E:2 * E, :E] = torch.eye(E)
        probes[E:, E] = 0.2                               # the jaw open (the mouth's inside)
        params = motion_params(probes, E)
        g = bind_gaussians(self.tensors, self.rig({**self.identity, **params}))
        seen = contributions(g, self.camera).amax(0) > VISIBLE_WEIGHT
        a = self.tensors
        return AvatarTensors(a.xyz[seen], a.scales[seen], a.quats[seen], a.opacities[seen],
                             a.sh[seen], a.binding[seen], a.faces)

    def crops(self, motion: torch.Tensor) -> torch.Tensor:
        """(B, T, S, S) grey crops (0..255, the reader's size) of (B, T, E+3) motion."""
        B, T = motion.shape[:2]
        params = motion_params(motion.reshape(B * T, -1), self.rig.n_expr)
        verts = self.rig({**self.identity, **params})
        image, _ = rasterize(bind_gaussians(self.tensors, verts), self.camera, 1.0)
        grey = (image @ self.luma)[:, None] * 255.0
        grey = F.interpolate(grey, size=(self.reader_size,) * 2, mode="bilinear",
                             align_corners=False)
        return grey.reshape(B, T, self.reader_size, self.reader_size)

    def loss(self, pred: torch.Tensor, target: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Distillation: squared distance between the reader's features of the student's and the
        truth's crops, relative to the truth features' mean square, on a random window of
        `frames` frames of the first `clips` clips."""
        n = min(self.clips, pred.shape[0])
        T = pred.shape[1]
        w = min(self.frames, T)
        first = int(torch.randint(0, T - w + 1, (1,), generator=generator))
        pred, target = pred[:n, first:first + w], target[:n, first:first + w]
        with torch.no_grad():
            truth = self.reader.features(self.crops(target))
        student = self.reader.features(self.crops(pred))
        return (student - truth).pow(2).mean() / truth.pow(2).mean().clamp_min(1e-8)
