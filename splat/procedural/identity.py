"""Identity (shape) parameters of the procedural head and the landmarks every part shares.

Parts are built in the default person's coordinates around the fixed landmarks below; identity
acts twice: as feature amplitudes (nose, lips, brows, cheeks, chin) inside the skin builder, and
as one global warp (head width, face length, jaw width) applied to every part. The identity
blendshapes are then made by regenerating the mesh with one component at +1 and differencing,
so eyes, teeth and tongue follow the face consistently.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from splat.procedural.fields import smoothstep

# Identity components in shapedirs order; each unit is roughly one standard deviation.
SHAPE_NAMES: tuple[str, ...] = (
    "head_width", "face_length", "nose_size", "jaw_width", "lip_fullness",
    "brow_ridge", "cheek_fullness", "chin_projection",
)

# Landmarks of the default person, metres (FLAME space: +y up, +z out of the face, +x the
# subject's left). About 0.15 m wide and 0.23 m from chin (Y_CHIN) to crown (Y_CROWN).
Y_CROWN = 0.118
Y_CHIN = -0.112
Y_NECK_BOTTOM = -0.215
EYE_CENTER = np.array([0.0315, 0.006, 0.0515])    # left eye; the right one mirrors x
EYE_RADIUS = 0.0122
EYE_HALF_WIDTH = 0.0146                           # half the palpebral fissure, along x
Y_EYE_SLIT = 0.0025                               # where the closed lids meet (below centre)
Y_MOUTH = -0.068                                  # the line where the lips meet
MOUTH_HALF_WIDTH = 0.0245
JAW_HINGE = np.array([0.0, -0.024, -0.010])       # the jaw joint (temporomandibular axis)


@dataclass(frozen=True)
class Identity:
    """Identity coefficients (0 = the default person); see SHAPE_NAMES for their order."""

    head_width: float = 0.0
    face_length: float = 0.0
    nose_size: float = 0.0
    jaw_width: float = 0.0
    lip_fullness: float = 0.0
    brow_ridge: float = 0.0
    cheek_fullness: float = 0.0
    chin_projection: float = 0.0

    def with_unit(self, name: str) -> "Identity":
        """This identity with component `name` raised by one unit (for finite differences)."""
        return replace(self, **{name: getattr(self, name) + 1.0})

    # Feature amplitudes used by the skin builder (1.0 for the default person).
    @property
    def nose(self) -> float:
        return 1.0 + 0.18 * self.nose_size

    @property
    def lips(self) -> float:
        return 1.0 + 0.25 * self.lip_fullness

    @property
    def brow(self) -> float:
        return 1.0 + 0.4 * self.brow_ridge

    @property
    def cheek(self) -> float:
        return 1.0 + 0.5 * self.cheek_fullness

    @property
    def chin(self) -> float:
        return 1.0 + 0.5 * self.chin_projection


assert tuple(f.name for f in fields(Identity)) == SHAPE_NAMES




Y_NECK_TOP = -0.118        # below this the neck is shortened (see _proportions)
NECK_SHORTEN = 0.72


def _proportions(p: np.ndarray) -> np.ndarray:
    """The default person's proportions on top of the builders' coordinates: a slightly wider
    skull and cheeks, and a shorter, thicker neck that flares a little towards the collar.
    Smooth and applied to every part, so nothing detaches; landmarks above the jaw keep their
    heights."""
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    wide = 1.0 + 0.035 * smoothstep(-0.105, -0.045, y) * smoothstep(0.125, 0.06, y)
    below = np.minimum(y - Y_NECK_TOP, 0.0)
    y_new = y + below * (NECK_SHORTEN - 1.0)
    neck = smoothstep(-0.112, -0.15, y)
    collar = smoothstep(-0.165, -0.215, y) ** 2
    sx = wide + 0.07 * neck + 0.18 * collar
    zc = -0.015
    # The throat stays behind the chin; the nape takes the extra depth of the collar.
    sz = np.where(z > zc, 1.0 + 0.05 * neck, 1.0 + 0.07 * neck + 0.12 * collar)
    return np.stack([x * sx, y_new, zc + (z - zc) * sz], axis=-1)


def warp_points(points: np.ndarray, identity: Identity) -> np.ndarray:
    """Global identity warp: head width, jaw width (below the cheekbones), face length (below
    the eyes). Smooth, so a part built in default coordinates stays attached to the skin."""
    p = _proportions(np.asarray(points, dtype=np.float64))
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    jaw = smoothstep(-0.02, -0.07, y)
    sx = (1.0 + 0.04 * identity.head_width) * (1.0 + 0.06 * identity.jaw_width * jaw)
    face = 1.0 + 0.06 * identity.face_length
    # Stretch heights below the eyes; the neck below the chin shifts down rigidly.
    y_new = np.where(y < 0.0, np.maximum(y, Y_CHIN) * face + np.minimum(y - Y_CHIN, 0.0), y)
    return np.stack([x * sx, y_new, z], axis=-1)


def warp_rigid(center: np.ndarray, identity: Identity) -> np.ndarray:
    """Translation that carries a rigid part (an eyeball) with the warp of its centre."""
    return warp_points(center, identity) - np.asarray(center, dtype=np.float64)
