"""MotionFrame: the only motion type that crosses from driver/ to the app and renderers."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from splat.rig import POSE_PARAM_SIZES


@dataclass
class MotionFrame:
    """Rig parameters at stream time `t` (seconds of audio stream time, not wall clock).

    Names and layout follow GaussianAvatars' flame_param.npz so one dict drives FLAME and the
    project's own rig alike: `expr` (E,), axis-angle `rotation`/`neck_pose`/`jaw_pose` (3,),
    `eyes_pose` (6,: left then right), `translation` (3,).
    """

    t: float
    expr: np.ndarray
    jaw_pose: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    neck_pose: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    rotation: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    eyes_pose: np.ndarray = field(default_factory=lambda: np.zeros(6, np.float32))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))

    def params(self) -> dict[str, np.ndarray]:
        """The rig-parameter dict (no batch axis) the rig and the avatar pipeline accept."""
        return {"expr": self.expr, **{k: getattr(self, k) for k in POSE_PARAM_SIZES}}
