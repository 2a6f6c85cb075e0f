"""What a training target is and how a prediction becomes a mesh: the one thing the Learn2Talk
trainer, validation and evaluation need to know about their data.

Two kinds of target share every loss and metric, which all work on vertices:
- `RigSpace`: rig parameters (expression weights + jaw pose, the project's corpus) decoded by
  the differentiable rig; every clip shares the rig's template.
- `VertexSpace`: FaceFormer's vertex offsets (V*3) from each subject's own neutral mesh
  (VOCASET on FLAME); a clip's `voice` names its subject, whose template places the offsets.
Both carry the `RigData` whose topology, masks and skinning define lips, lip gap, upper face
and the checkpoint's topology digest.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from driver.fit import RigFitter
from driver.metrics import LipGap
from driver.model import RegressorConfig
from splat.assets_paths import DEFAULT_RIG
from splat.errors import UserInputError
from splat.rig import Rig, RigData, load_rig_data



class MotionSpace(ABC):
    """Targets of one kind: their size and unit, their vertices, and the jaw they imply."""

    data: RigData            # the mesh's topology, masks and skinning
    unit: float              # full range of a motion value: the scale the optimiser thinks in

    @property
    @abstractmethod
    def mode(self) -> str:
        """Learn2TalkRegressor output mode ("params" or "vertices")."""

    @property
    @abstractmethod
    def outputs(self) -> list[tuple[str, int]]:
        """The regressor's named output blocks."""

    @abstractmethod
    def rest(self, voices: Sequence[str]) -> torch.Tensor:
        """(B, V, 3) neutral mesh of each clip's voice/subject."""

    @abstractmethod
    def vertices(self, motion: torch.Tensor, voices: Sequence[str]) -> torch.Tensor:
        """(B, T, P) motion of clips spoken by `voices` -> (B, T, V, 3) vertices."""

    @abstractmethod
    def jaw_of(self, motion: np.ndarray, voice: str) -> np.ndarray:
        """(T,) jaw opening (radians about +x) of (T, P) motion: what the energy baseline fits."""

    @abstractmethod
    def jaw_motion(self, jaw: np.ndarray, voice: str) -> np.ndarray:
        """(T, P) motion that only opens the jaw by `jaw` (T,) radians: the energy baseline."""

    @abstractmethod
    def for_loss(self) -> "MotionSpace":
        """The space the losses decode into (may be an exact, cheaper sub-mesh)."""

    @abstractmethod
    def to(self, device: torch.device | str) -> "MotionSpace":
        """This space with its tensors on `device`."""

    @property
    def lips(self) -> np.ndarray:
        return np.asarray(self.data.masks["lips"])

    @property
    def gap(self) -> LipGap:
        return LipGap.from_rig_data(self.data)

    def lip_displacements(self, verts: torch.Tensor, voices: Sequence[str]) -> torch.Tensor:
        """(B, T, L, 3) lip-vertex displacements from each subject's neutral mesh (what
        SyncNet3D sees) of vertices (B, T, V, 3)."""
        lips = torch.as_tensor(self.lips, device=verts.device)
        return verts[:, :, lips] - self.rest(voices)[:, None, lips]

    def check_model(self, config: RegressorConfig, where: str) -> None:
        """Refuse a regressor whose outputs are another kind of motion than this data's."""
        def describe(mode: str, outputs: list) -> str:
            return f"{mode} ({', '.join(f'{n} {s}' for n, s in outputs)})"

        if config.mode != self.mode or [tuple(o) for o in config.outputs] != self.outputs:
            raise UserInputError(f"{where} predicts {describe(config.mode, config.outputs)} but "
                                 f"this data needs {describe(self.mode, self.outputs)}")


def load_rig(path: Path | None) -> Rig:
    """The differentiable rig that decodes corpus parameters (default: the project rig)."""
    path = Path(path) if path is not None else DEFAULT_RIG
    if not path.is_file():
        raise UserInputError(f"rig not found: {path} (generate it with `main.py assets` or pass "
                             "--rig)")
    return Rig(load_rig_data(path)).eval()


def motion_params(motion: torch.Tensor, n_expr: int) -> dict[str, torch.Tensor]:
    """(N, E+3) motion → rig params, expressions padded/cut to the rig's count."""
    expr = motion[:, :-3]
    if expr.shape[1] < n_expr:
        expr = nn.functional.pad(expr, (0, n_expr - expr.shape[1]))
    return {"expr": expr[:, :n_expr], "jaw_pose": motion[:, -3:]}


def decode(rig: Rig, motion: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """Vertices (N, V, 3) of motion frames (N, E+3), in chunks to bound memory."""
    return torch.cat([rig(motion_params(part, rig.n_expr)) for part in motion.split(chunk)])


def speech_rig(data: RigData, every: int = 8) -> Rig:
    """An exact rig over the vertices the losses look at: the mouth region (lips, teeth,
    tongue), the joint regressor's support (so joints, and thus skinning, are unchanged) and
    every `every`-th other vertex (so upper-face channels are still penalised). ~3x cheaper
    than decoding the whole head on every training frame."""
    masks = data.masks
    keep = np.zeros(data.num_verts, bool)
    for name in ("lips", "mouth", "teeth", "tongue"):
        if name in masks:
            keep[masks[name]] = True
    keep |= np.abs(data.J_regressor).sum(0) > 0
    keep[np.nonzero(~keep)[0][::every]] = True
    idx = np.nonzero(keep)[0]
    remap = -np.ones(data.num_verts, np.int64)
    remap[idx] = np.arange(len(idx))
    faces = remap[data.faces[np.all(keep[data.faces], axis=1)]]
    sub = RigData(v_template=data.v_template[idx], faces=faces, shapedirs=data.shapedirs[idx],
                  n_shape=data.n_shape, n_expr=data.n_expr, posedirs=data.posedirs[idx],
                  J_regressor=data.J_regressor[:, idx], weights=data.weights[idx],
                  kintree_table=data.kintree_table, expr_names=data.expr_names,
                  shape_names=data.shape_names,
                  masks={k: remap[v[keep[v]]] for k, v in masks.items()},
                  rig_id=f"{data.rig_id}/speech-region")
    return Rig(sub).eval()


class RigSpace(MotionSpace):
    """Rig parameters (E expression weights, then jaw_pose) decoded by a differentiable rig."""

    unit = 1.0

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.data = rig.data

    @property
    def mode(self) -> str:
        return "params"

    @property
    def outputs(self) -> list[tuple[str, int]]:
        return [("expr", self.rig.n_expr), ("jaw_pose", 3)]

    def rest(self, voices: Sequence[str]) -> torch.Tensor:
        return self.rig.v_template.expand(len(voices), -1, -1)

    def vertices(self, motion: torch.Tensor, voices: Sequence[str]) -> torch.Tensor:
        B, T, P = motion.shape
        return decode(self.rig, motion.reshape(B * T, P)).reshape(B, T, -1, 3)

    def jaw_of(self, motion: np.ndarray, voice: str) -> np.ndarray:
        return np.asarray(motion)[:, -3]

    def jaw_motion(self, jaw: np.ndarray, voice: str) -> np.ndarray:
        motion = np.zeros((len(jaw), self.rig.n_expr + 3), np.float32)
        motion[:, -3] = jaw
        return motion

    def for_loss(self) -> "RigSpace":
        return RigSpace(speech_rig(self.data))

    def to(self, device: torch.device | str) -> "RigSpace":
        return RigSpace(self.rig.to(device))


class VertexSpace(MotionSpace):
    """FaceFormer's targets: per-frame vertex offsets (V*3, metres) from a subject's template.

    `unit` is a centimetre, about the full range of lip motion in speech (as 1 is the range of
    a rig parameter): the output head learns at lr x 1e-2 (`driver.train.make_optimizer`), as
    if it predicted centimetres, and scheduled-sampling input noise is in centimetres.
    """

    unit = 1e-2

    def __init__(self, data: RigData, templates: dict[str, np.ndarray | torch.Tensor],
                 device: torch.device | str = "cpu") -> None:
        self.data = data
        self.templates = {k: torch.as_tensor(v, dtype=torch.float32, device=device)
                          for k, v in templates.items()}
        self._rig: Rig | None = None             # built on first use (baseline, jaw fit)
        self._fitter: RigFitter | None = None

    @property
    def mode(self) -> str:
        return "vertices"

    @property
    def outputs(self) -> list[tuple[str, int]]:
        return [("vertices", self.data.num_verts * 3)]

    def rest(self, voices: Sequence[str]) -> torch.Tensor:
        missing = sorted(set(voices) - set(self.templates))
        if missing:
            raise UserInputError(f"no template for subject(s) {', '.join(missing)}")
        return torch.stack([self.templates[v] for v in voices])

    def vertices(self, motion: torch.Tensor, voices: Sequence[str]) -> torch.Tensor:
        B, T, _ = motion.shape
        return self.rest(voices)[:, None] + motion.reshape(B, T, -1, 3)

    def _flame(self) -> Rig:
        if self._rig is None:
            self._rig = Rig(self.data)
        return self._rig

    def jaw_of(self, motion: np.ndarray, voice: str) -> np.ndarray:
        """The jaw angle of FLAME's least-squares fit (expression + jaw) to the offsets."""
        if self._fitter is None:
            self._fitter = RigFitter(self._flame())
        offsets = torch.as_tensor(np.asarray(motion, np.float32)).reshape(len(motion), -1, 3)
        return self._fitter.fit(offsets)["jaw_pose"][:, 0].numpy()

    @torch.no_grad()
    def jaw_motion(self, jaw: np.ndarray, voice: str) -> np.ndarray:
        """FLAME's jaw rotation as offsets from its own template, placed on the subject's."""
        rig = self._flame()
        pose = torch.zeros(len(jaw), 3)
        pose[:, 0] = torch.as_tensor(np.asarray(jaw, np.float32))
        offsets = rig({"jaw_pose": pose}) - rig.v_template
        return offsets.reshape(len(jaw), -1).numpy()

    def for_loss(self) -> "VertexSpace":
        return self

    def to(self, device: torch.device | str) -> "VertexSpace":
        return VertexSpace(self.data, self.templates, device)
