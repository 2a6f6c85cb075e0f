"""The native map of the default rig's articulatory expressions onto an ARKit-52 rig.

The geometric retargeting fit (driver.retarget) knows nothing of what a blendshape means: onto
the human head's ARKit units it spreads `lips_close` over mouthShrugUpper, dimples, rolls and
negative puckers, which leaves bilabials a millimetre open. ARKit rigs carry the meaning in
their names, so this module maps by name instead (`Retargeter` uses it whenever the source is
the default rig and the target names the ARKit units it needs; poses still pass through the
alignment):

- one-to-one units by motion_files' `ARKIT_NAMES` (the export's naming, the one table of which
  ARKit unit is which default expression: smile_L -> mouthSmileLeft, lips_press -> both
  mouthPress units, brow_raise -> browInnerUp + both browOuterUp, ...), each at gain 1 (both
  rigs put the natural extreme at 1);
- `lips_part` (lips apart without the jaw) -> both mouthUpperUp and both mouthLowerDown at
  `LIPS_PART_GAIN`;
- `lips_close` is the one that needs more than a linear map. In ARKit, mouthClose is a
  corrective that closes the lips by as much as the jaw opened them (mouthClose = jawOpen seals
  them), and alone it pushes them through each other. The default rig's `lips_close` instead
  seals the lips at any speech jaw. So `lips_close` drives mouthClose in proportion to the jaw
  opening: mouthClose = min(lips_close / seal_at, 1) * jaw_pose[0] * close_per_rad, both
  measured on the meshes (`seal_at` on the source: the lips_close where its lips meet;
  `close_per_rad` on the target: the mouthClose per radian that seals its lips), plus
  mouthPress at `PRESS_PER_CLOSE` for the firm contact of a closed-jaw p/b/m.

The two gains (`LIPS_PART_GAIN`, `PRESS_PER_CLOSE`) were chosen on the corpus's val split
(docs/RESULTS.md, "Human head (issue 18)").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from driver.motion_files import ARKIT_NAMES
from splat.default_rig_spec import EXPRESSION_NAMES
from splat.errors import UserInputError
from splat.rig import Rig, RigData

LIPS_PART_GAIN = 1.0
PRESS_PER_CLOSE = 0.6
CALIBRATION_JAW_RAD = 0.05          # the jaw of a p/b/m in the corpus (ARCHITECTURE.md)
CLOSE_GRID = np.linspace(0.0, 1.0, 41)
REQUIRED = ("mouthClose", "mouthPressLeft", "mouthPressRight")

_TABLE: dict[str, dict[str, float]] = {
    **{src: {name: 1.0 for name in names} for src, names in ARKIT_NAMES.items()
       if src != "lips_close"},
    "lips_part": {n: LIPS_PART_GAIN for n in ("mouthUpperUpLeft", "mouthUpperUpRight",
                                              "mouthLowerDownLeft", "mouthLowerDownRight")},
    "lips_close": {"mouthPressLeft": PRESS_PER_CLOSE, "mouthPressRight": PRESS_PER_CLOSE},
}


def applies(source: RigData, target: RigData) -> bool:
    """True when `source` is the default rig's expression set and `target` is an ARKit rig."""
    return (tuple(source.expr_names) == EXPRESSION_NAMES
            and all(n in target.expr_names for n in REQUIRED))


def _gaps_mm(rig: RigData, expr: np.ndarray) -> np.ndarray:
    """Lip gaps (mm) of expression rows at the calibration jaw, on the rig's own lips."""
    from driver.metrics import LipGap

    jaw = np.zeros((len(expr), 3), np.float32)
    jaw[:, 0] = CALIBRATION_JAW_RAD
    with torch.no_grad():
        verts = Rig(rig)({"expr": torch.from_numpy(expr.astype(np.float32)),
                          "jaw_pose": torch.from_numpy(jaw)})
    return LipGap.from_rig_data(rig).gaps(verts) * 1000


def close_per_rad(target: RigData) -> float:
    """mouthClose per radian of jaw opening that seals the target's lips, on its own mesh: at
    `CALIBRATION_JAW_RAD`, with the press a full `lips_close` adds, the middle of the mouthClose
    range whose lip gap is under `CLOSED_MM` (the gap's minimum alone is noisy: past contact
    the lips slide through each other, and too much mouthClose opens them the other way)."""
    from driver.metrics import CLOSED_MM

    expr = np.zeros((len(CLOSE_GRID), target.n_expr), np.float32)
    expr[:, target.expr_names.index("mouthClose")] = CLOSE_GRID
    for name, gain in _TABLE["lips_close"].items():
        expr[:, target.expr_names.index(name)] = gain
    closed = np.flatnonzero(_gaps_mm(target, expr) < CLOSED_MM)
    if closed.size == 0:
        raise UserInputError(f"rig {target.rig_id!r}: mouthClose never seals its lips at a "
                             f"{CALIBRATION_JAW_RAD} rad jaw; cannot map lips_close onto it")
    return float(0.5 * (CLOSE_GRID[closed[0]] + CLOSE_GRID[closed[-1]]) / CALIBRATION_JAW_RAD)


def seal_at(source: RigData) -> float:
    """The `lips_close` at which the source's own lips first meet (gap under `CLOSED_MM`) at
    `CALIBRATION_JAW_RAD` (0.45 on the default head): from there on the default head shows
    closed lips, so the target gets its full seal too, and below it a share in proportion (the
    model hedges a p/b/m at lips_close ~0.7, a pause at ~0.3 with help from other units)."""
    from driver.metrics import CLOSED_MM

    expr = np.zeros((len(CLOSE_GRID), source.n_expr), np.float32)
    expr[:, source.expr_names.index("lips_close")] = CLOSE_GRID
    closed = np.flatnonzero(_gaps_mm(source, expr) < CLOSED_MM)
    return float(CLOSE_GRID[closed[0]]) if closed.size and closed[0] > 0 else 1.0


@dataclass
class ArkitMap:
    """`expressions(expr, jaw_open)`: default-rig expression weights -> the ARKit rig's."""

    matrix: np.ndarray                   # (n_src, n_tgt) the linear part
    lips_close: int                      # source index of lips_close
    mouth_close: int                     # target index of mouthClose
    close_per_rad: float
    seal_at: float                       # lips_close from which the seal is full

    @classmethod
    def for_rigs(cls, source: RigData, target: RigData) -> "ArkitMap":
        matrix = np.zeros((source.n_expr, target.n_expr), np.float32)
        for src, units in _TABLE.items():
            for name, gain in units.items():
                if name in target.expr_names:
                    matrix[source.expr_names.index(src), target.expr_names.index(name)] = gain
        per_rad = close_per_rad(target)
        return cls(matrix, source.expr_names.index("lips_close"),
                   target.expr_names.index("mouthClose"), per_rad, seal_at(source))

    def expressions(self, expr: np.ndarray, jaw_open: float) -> np.ndarray:
        """(n_tgt,) ARKit weights of one frame's (n_src,) expressions and jaw pitch (rad)."""
        out = np.asarray(expr, np.float32) @ self.matrix
        seal = min(max(float(expr[self.lips_close]), 0.0) / self.seal_at, 1.0)
        out[self.mouth_close] += seal * max(float(jaw_open), 0.0) * self.close_per_rad
        return out

    def mapped_units(self) -> int:
        """How many source expressions reach the target (for the summary line)."""
        return int(np.count_nonzero(np.abs(self.matrix).sum(axis=1)))
