"""Expression blendshapes: one analytic displacement field per name in EXPRESSION_NAMES.

Each field is written in the rest pose around the landmarks (mouth line, corners, eyes, brows)
with smooth falloffs; at 1.0 it is the natural extreme of the action. The inner lips copy the
motion of the slit vertex they hang from, so lip shapes carry the mouth's inside with them.
Eyelid shapes use the closed-lid mesh the eye builder made, so a blink closes exactly.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from splat.default_rig_spec import EXPRESSION_NAMES
from splat.procedural.fields import bump, smoothstep
from splat.procedural.geometry import HeadGeometry
from splat.procedural.identity import MOUTH_HALF_WIDTH, Y_MOUTH
from splat.procedural.mesh_builder import Part


class _Face:
    """Per-vertex coordinates and region weights the expression fields are written in."""

    def __init__(self, geo: HeadGeometry, jaw_weights: np.ndarray) -> None:
        self.geo = geo
        self.jaw = jaw_weights
        n_skin = len(geo.skin.verts)
        self.skin = np.zeros(len(geo.verts), dtype=bool)
        self.skin[:n_skin] = True
        self.x, self.y, self.z = geo.verts.T
        self.ax = np.abs(self.x)
        self.dy = self.y - Y_MOUTH
        lower_twin = np.zeros(len(geo.verts), dtype=bool)
        lower_twin[geo.skin.mouth_lower[1:-1]] = True
        self.upper = self.skin & ((self.dy > 1e-9) | ((np.abs(self.dy) <= 1e-9) & ~lower_twin))
        self.lower = self.skin & ~self.upper
        front = smoothstep(0.04, 0.07, self.z)
        lateral = np.exp(-(np.maximum(self.ax - 0.018, 0.0) / 0.013) ** 2)
        self.lips = front * lateral * np.exp(-(self.dy / 0.011) ** 2) * self.skin
        self.lips_wide = front * np.exp(-(np.maximum(self.ax - 0.02, 0.0) / 0.017) ** 2) \
            * np.exp(-(self.dy / 0.016) ** 2) * self.skin
        self.middle = np.clip(1.0 - (self.x / (MOUTH_HALF_WIDTH + 0.002)) ** 2, 0.0, 1.0)
        lid = np.zeros(len(geo.verts))
        for side in (1, -1):
            lid[:n_skin] += geo.eyelids.upper[side] + geo.eyelids.lower[side]
        self.not_lid = 1.0 - np.clip(lid, 0.0, 1.0)

    def corner(self, side: int, rx: float = 0.013, ry: float = 0.013) -> np.ndarray:
        return bump(self.x, self.dy, side * MOUTH_HALF_WIDTH, 0.0, rx, ry) * self.skin \
            * smoothstep(0.03, 0.065, self.z)

    def vec(self, w: np.ndarray, d: tuple[float, float, float]) -> np.ndarray:
        return w[:, None] * np.asarray(d)[None, :]


def _lips_part(f: _Face) -> np.ndarray:
    m = f.middle ** 0.7
    return f.vec(f.lips * f.upper * m, (0, 0.0028, 0.0003)) + f.vec(f.lips * f.lower * m, (0, -0.0042, 0.0003))


def _lips_close(f: _Face) -> np.ndarray:
    m = f.middle ** 0.35
    return f.vec(f.lips * f.upper * m, (0, -0.0030, 0.0008)) + f.vec(f.lips * f.lower * m, (0, 0.0068, 0.0012))


def _lip_funnel(f: _Face) -> np.ndarray:
    w = f.lips_wide
    d = np.stack([-0.28 * f.x * w, np.where(f.upper, 0.0022, -0.0030) * w * f.middle ** 0.5,
                  0.0060 * w], 1)
    return d


def _lip_pucker(f: _Face) -> np.ndarray:
    w = f.lips_wide
    return np.stack([-0.42 * f.x * w, np.where(f.upper, -0.0006, 0.0012) * w * f.lips,
                     0.0085 * w], 1)


def _lip_stretch(side: int) -> Callable[[_Face], np.ndarray]:
    def field(f: _Face) -> np.ndarray:
        pull = smoothstep(-side * 0.03, side * 0.03, f.x) * f.lips_wide
        thin = np.where(f.upper, -0.0008, 0.0008) * f.lips * f.middle
        return np.stack([side * 0.0075 * pull, -0.0012 * pull + thin, -0.0022 * pull], 1)
    return field


def _smile(side: int) -> Callable[[_Face], np.ndarray]:
    def field(f: _Face) -> np.ndarray:
        c = f.corner(side, 0.021, 0.020)
        # The corner itself goes further up and back than the lips around it (a curve, not a shift).
        tip = f.corner(side, 0.009, 0.008)
        cheek = bump(f.x, f.y, side * 0.040, -0.028, 0.019, 0.019) * f.skin * f.not_lid
        lid = f.geo.eyelids.lower[side]           # the lower lid rises a little in a smile
        n = len(lid)
        d = f.vec(c, (side * 0.0085, 0.0100, -0.0050)) + f.vec(tip, (side * 0.0020, 0.0030, -0.0015)) \
            + f.vec(cheek, (side * 0.0015, 0.0060, 0.0045))
        d[:n] += 0.25 * (f.geo.closed_lids - f.geo.verts)[:n] * lid[:, None]
        return d
    return field


def _frown(side: int) -> Callable[[_Face], np.ndarray]:
    def field(f: _Face) -> np.ndarray:
        tip = f.corner(side, 0.008, 0.008)
        return f.vec(f.corner(side, 0.018, 0.018), (side * 0.0014, -0.0075, -0.0010)) \
            + f.vec(tip, (side * 0.0008, -0.0025, -0.0008))
    return field


def _lips_press(f: _Face) -> np.ndarray:
    tight = np.exp(-(f.dy / 0.005) ** 2) * f.lips
    return f.vec(f.lips * f.upper, (0, -0.0012, -0.0012)) + f.vec(f.lips * f.lower, (0, 0.0014, -0.0012)) \
        + f.vec(tight, (0, 0, -0.0012))


def _upper_lip_raise(f: _Face) -> np.ndarray:
    w = f.lips_wide * f.upper * (0.6 + 0.4 * np.exp(-((f.ax - 0.012) / 0.008) ** 2))
    return f.vec(w, (0, 0.0048, 0.0012))


def _lower_lip_depress(f: _Face) -> np.ndarray:
    w = f.lips_wide * f.lower * (0.6 + 0.4 * np.exp(-((f.ax - 0.010) / 0.009) ** 2))
    return f.vec(w, (0, -0.0052, 0.0015))


def _lower_lip_tuck(f: _Face) -> np.ndarray:
    w = f.lower * f.lips * np.exp(-(f.dy / 0.009) ** 2) * f.middle ** 0.4
    return f.vec(w, (0, 0.0058, -0.0082)) + f.vec(f.lips * f.upper * f.middle, (0, 0.0020, 0.0008))


def _upper_lip_bite(f: _Face) -> np.ndarray:
    w = f.upper * f.lips * np.exp(-(f.dy / 0.009) ** 2) * f.middle ** 0.4
    return f.vec(w, (0, -0.0042, -0.0062)) + f.vec(f.lips * f.lower * f.middle, (0, -0.0015, 0.0005))


def _jaw_forward(f: _Face) -> np.ndarray:
    return f.vec(f.jaw, (0, 0, 0.0045))


def _cheek_puff(f: _Face) -> np.ndarray:
    w = (bump(f.ax, f.y, 0.037, Y_MOUTH + 0.006, 0.020, 0.022) * f.skin * f.not_lid
         * smoothstep(-0.01, 0.03, f.z))
    out = np.stack([f.x, np.zeros_like(f.x), f.z + 0.005], 1)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out * (0.0085 * w)[:, None] + f.vec(f.lips, (0, 0, 0.0015))


def _tongue(kind: str) -> Callable[[_Face], np.ndarray]:
    def field(f: _Face) -> np.ndarray:
        tongue = f.geo.part == Part.TONGUE
        tip, dorsum = f.geo.attrs["tip"] * tongue, f.geo.attrs["dorsum"] * tongue
        if kind == "up":
            return f.vec(tip ** 1.3, (0, 0.0180, 0.0012))
        if kind == "out":
            return f.vec(tip ** 1.6, (0, 0.0040, 0.0170))
        return f.vec(dorsum, (0, 0.0085, -0.0035)) + f.vec(tip, (0, 0.0010, -0.0050))
    return field


def _lids(side: int, upper: float, lower: float) -> Callable[[_Face], np.ndarray]:
    def field(f: _Face) -> np.ndarray:
        lids = f.geo.eyelids
        n = len(f.geo.skin.verts)
        w = np.zeros(len(f.geo.verts))
        w[:n] = upper * lids.upper[side] + lower * lids.lower[side]
        d = (f.geo.closed_lids - f.geo.verts) * w[:, None]
        if upper < 1.0:   # a squint also lifts the cheek under the eye
            d += f.vec(bump(f.x, f.y, side * 0.034, -0.014, 0.016, 0.010) * f.skin * f.not_lid,
                       (0, 0.0016, 0.0006))
        return d
    return field


def _brow(raise_: bool) -> Callable[[_Face], np.ndarray]:
    def field(f: _Face) -> np.ndarray:
        brow = np.exp(-((f.y - 0.024) / 0.016) ** 2) * smoothstep(0.068, 0.05, f.ax) \
            * smoothstep(0.04, 0.065, f.z) * f.skin * f.not_lid
        if raise_:
            forehead = smoothstep(0.075, 0.03, f.y) * smoothstep(0.0, 0.025, f.y)
            return f.vec(np.maximum(brow, forehead * 0.6) * smoothstep(0.068, 0.05, f.ax) * f.skin
                         * f.not_lid * smoothstep(0.04, 0.065, f.z), (0, 0.0058, 0.0004))
        medial = np.exp(-((f.ax - 0.012) / 0.012) ** 2)
        return np.stack([-np.sign(f.x) * 0.0022 * medial * brow, -0.0042 * brow,
                         0.0010 * brow], 1)
    return field


def _nose_wrinkle(f: _Face) -> np.ndarray:
    w = (bump(f.ax, f.y, 0.011, -0.018, 0.009, 0.014) + bump(f.ax, f.y, 0.013, -0.040, 0.007, 0.007)) \
        * f.skin * f.not_lid * smoothstep(0.05, 0.08, f.z)
    return f.vec(w, (0, 0.0030, 0.0004)) + f.vec(f.lips * f.upper * 0.4, (0, 0.0015, 0))


_FIELDS: dict[str, Callable[[_Face], np.ndarray]] = {
    "lips_part": _lips_part, "lips_close": _lips_close, "lip_funnel": _lip_funnel,
    "lip_pucker": _lip_pucker, "lip_stretch_L": _lip_stretch(1), "lip_stretch_R": _lip_stretch(-1),
    "smile_L": _smile(1), "smile_R": _smile(-1), "frown_L": _frown(1), "frown_R": _frown(-1),
    "lips_press": _lips_press, "upper_lip_raise": _upper_lip_raise,
    "lower_lip_depress": _lower_lip_depress, "lower_lip_tuck": _lower_lip_tuck,
    "upper_lip_bite": _upper_lip_bite, "jaw_forward": _jaw_forward, "cheek_puff": _cheek_puff,
    "tongue_up": _tongue("up"), "tongue_out": _tongue("out"), "tongue_back": _tongue("back"),
    "blink_L": _lids(1, 1.0, 1.0), "blink_R": _lids(-1, 1.0, 1.0),
    "squint_L": _lids(1, 0.2, 0.8), "squint_R": _lids(-1, 0.2, 0.8),
    "brow_raise": _brow(True), "brow_lower": _brow(False), "nose_wrinkle": _nose_wrinkle,
}


def _carry_inner_lips(geo: HeadGeometry, delta: np.ndarray) -> np.ndarray:
    """Inner-lip rows follow the slit vertex of their column, fading inwards."""
    for rows in (geo.inner_upper, geo.inner_lower):
        for k in range(1, len(rows)):
            delta[rows[k]] = delta[rows[0]] * (1.0 - 0.22 * k)
    return delta


def expression_shapedirs(geo: HeadGeometry, jaw_weights: np.ndarray) -> np.ndarray:
    """(V,3,E) blendshapes in EXPRESSION_NAMES order."""
    face = _Face(geo, jaw_weights)
    dirs = [_carry_inner_lips(geo, _FIELDS[name](face)) for name in EXPRESSION_NAMES]
    return np.stack(dirs, axis=-1)
