"""The skin: one lat-long grid from crown to neck, shaped by profiles and relief fields.

Rows are horizontal slices (so the mouth line and the eye slits are exact grid rows that can be
cut), spaced by arclength along the face's midline with extra density at the eyes and mouth;
columns crowd towards the face. Each slice is a superellipse whose half-width, front and back
extents follow measured-looking profiles; a relief field adds brow, nose, cheeks, lips and chin
in front, and short hair adds volume on the scalp.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

from splat.procedural.fields import bump, smoothstep, spow
from splat.procedural.identity import (
    EYE_CENTER, EYE_HALF_WIDTH, MOUTH_HALF_WIDTH, Y_CROWN, Y_EYE_SLIT, Y_MOUTH, Y_NECK_BOTTOM,
    Identity,
)

N_COLUMNS = 76
Y_DOME = 0.035          # above this the slices shrink like a dome towards the crown
_DOME_POWER = 2.2

# Profiles of the default person below the dome, keyed by height y (ascending).
_PROFILE_Y = np.array([-0.215, -0.17, -0.14, -0.128, -0.12, -0.114, -0.108, -0.095, -0.08,
                       -0.065, -0.04, -0.02, 0.0, 0.02, 0.035])
_FRONT_Z = np.array([0.045, 0.042, 0.037, 0.034, 0.041, 0.053, 0.063, 0.071, 0.074,
                     0.076, 0.078, 0.078, 0.080, 0.085, 0.087])
_HALF_WIDTH = np.array([0.058, 0.055, 0.053, 0.053, 0.053, 0.054, 0.055, 0.057, 0.060,
                        0.063, 0.067, 0.070, 0.072, 0.074, 0.075])
_WIDEST_Z = np.array([-0.015, -0.015, -0.015, -0.014, -0.012, -0.010, -0.008, -0.005, -0.003,
                      -0.002, -0.002, -0.002, -0.003, -0.005, -0.006])
_BACK_Z = np.array([-0.072, -0.069, -0.067, -0.066, -0.066, -0.066, -0.066, -0.067, -0.071,
                    -0.078, -0.090, -0.099, -0.104, -0.106, -0.107])
_FRONT_POWER = np.array([2.0, 2.0, 2.0, 2.0, 1.9, 1.9, 1.9, 2.0, 2.2, 2.3, 2.5, 2.6, 2.6,
                         2.5, 2.4])

# Row spacing along the midline (metres), keyed by height: fine at the eyes and the mouth.
_SPACING_Y = np.array([-0.215, -0.135, -0.118, -0.095, -0.088, -0.052, -0.045, -0.016, -0.010,
                       0.018, 0.024, 0.04, 0.08, 0.09, Y_CROWN])
_SPACING = np.array([0.012, 0.011, 0.005, 0.0034, 0.0022, 0.0022, 0.0034, 0.0034, 0.0022,
                     0.0022, 0.0034, 0.0055, 0.0055, 0.009, 0.009])

# Hairline height by azimuth |theta| (0 = front): forehead, temples, sideburn, over the ear, nape.
_HAIRLINE_THETA = np.array([0.0, 0.45, 0.8, 1.05, 1.2, 1.38, 1.55, 1.8, 2.2, np.pi])
_HAIRLINE_Y = np.array([0.067, 0.062, 0.048, 0.030, 0.004, 0.024, 0.024, -0.030, -0.075, -0.078])

_pchip = lambda y, v: PchipInterpolator(y, v, extrapolate=False)  # noqa: E731
_FRONT, _WIDTH, _WIDEST, _BACK, _POWER = (
    _pchip(_PROFILE_Y, v) for v in (_FRONT_Z, _HALF_WIDTH, _WIDEST_Z, _BACK_Z, _FRONT_POWER))
_NOSE_Y = (-0.051, 0.02)
_NOSE_H = _pchip(np.array([-0.051, -0.047, -0.043, -0.038, -0.033, -0.02, -0.005, 0.005, 0.014, 0.02]),
                 np.array([0.0, 0.003, 0.010, 0.0175, 0.0195, 0.0155, 0.0095, 0.0055, 0.002, 0.0]))
_NOSE_W = _pchip(np.array([-0.051, -0.04, -0.032, -0.02, 0.0, 0.02]),
                 np.array([0.013, 0.0125, 0.0095, 0.0072, 0.0062, 0.0075]))


def _nose(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Nose ridge height: a profile along y, a Gaussian across x; zero outside its span."""
    yc = np.clip(y, *_NOSE_Y)
    inside = (y > _NOSE_Y[0]) & (y < _NOSE_Y[1])
    return np.where(inside, _NOSE_H(yc) * np.exp(-(x / _NOSE_W(yc)) ** 2), 0.0)


@dataclass
class SkinGrid:
    """The skin mesh in default-person coordinates plus what later builders need to find.

    `grid` (R,C) holds the vertex of each row/column (the upper side where a slit is cut); the
    slit lists run across the opening from corner to corner, corners shared by both sides.
    """

    verts: np.ndarray                  # (Vs,3) float64
    faces: np.ndarray                  # (Fs,3) int64
    grid: np.ndarray                   # (R,C) int64
    crown: int
    theta: np.ndarray                  # (C,) azimuth of each column, 0 = front, +pi/2 = +x
    row_y: np.ndarray                  # (R,)
    mouth_upper: np.ndarray            # slit vertices, corner to corner (upper lip side)
    mouth_lower: np.ndarray            # same columns on the lower lip side
    eye_upper: dict[int, np.ndarray]   # side (+1 left, -1 right) -> upper-lid slit vertices
    eye_lower: dict[int, np.ndarray]
    hair: np.ndarray                   # (Vs,) 0..1 short-hair coverage


def lip_heights(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heights of the upper and lower red lip above/below the mouth line at x (cupid's bow)."""
    ax = np.abs(x)
    t = np.clip(1.0 - (ax / (MOUTH_HALF_WIDTH + 0.001)) ** 2, 0.0, 1.0)
    upper = 0.0082 * t ** 0.55 + 0.0012 * np.exp(-((ax - 0.0045) / 0.003) ** 2) \
        - 0.0014 * np.exp(-(ax / 0.0022) ** 2)
    lower = 0.0100 * t ** 0.65
    return upper, lower


def vermilion_heights(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heights of the visible red lips (a little thinner than lip_heights, which the lips mask
    keeps using so the mask of the rig stays as trained on)."""
    up, low = lip_heights(x)
    return 0.84 * up, 0.82 * low


# The nose as drawn (the layout keeps _nose): a straighter, narrower bridge from the nasion, a
# tip that projects further and a defined columella/base.
_NOSE2_H = _pchip(np.array([-0.050, -0.0465, -0.043, -0.039, -0.0345, -0.028, -0.015, -0.002,
                            0.008, 0.016, 0.022]),
                  np.array([0.0, 0.004, 0.0125, 0.0205, 0.0225, 0.0185, 0.0128, 0.0082, 0.0055,
                            0.0030, 0.0]))
_NOSE2_W = _pchip(np.array([-0.050, -0.041, -0.034, -0.025, -0.01, 0.005, 0.022]),
                  np.array([0.0115, 0.0105, 0.0082, 0.0060, 0.0050, 0.0052, 0.0070]))


def _nose_drawn(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    yc = np.clip(y, -0.050, 0.022)
    inside = (y > -0.050) & (y < 0.022)
    w = _NOSE2_W(yc)
    # A flatter-topped cross-section (power 2.6) reads as a bridge with sides, not a soft ridge.
    return np.where(inside, _NOSE2_H(yc) * np.exp(-np.abs(x / w) ** 2.6), 0.0)


@dataclass(frozen=True)
class ReliefShape:
    """The numbers of one version of the face relief (bump amplitudes as (amp, cx, cy, sx, sy)).

    Two versions exist on purpose: LAYOUT_RELIEF is the first relief, frozen, used only to
    place the grid rows along the midline so reshaping the face never changes the rig's topology
    or the rows its masks and joints were defined on; DRAWN_RELIEF is the surface people see.
    """

    glabella_dip: bool
    nasion: tuple[float, ...]
    nose: Callable[[np.ndarray, np.ndarray], np.ndarray]
    alae: tuple[float, ...]
    tip: tuple[float, ...]
    alar_crease: tuple[float, ...]
    cheekbones: tuple[float, ...]
    cheek_fat: tuple[float, ...]
    philtrum: tuple[float, ...]
    lip_heights: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    lip_amps: tuple[float, float]
    lip_roll: float
    labiomental: tuple[float, ...]


DRAWN_RELIEF = ReliefShape(
    glabella_dip=True, nasion=(0.0008, 0.0, 0.009, 0.010, 0.006), nose=_nose_drawn,
    alae=(0.0060, 0.0120, -0.0405, 0.0052, 0.0058), tip=(0.0030, 0.0, -0.0355, 0.0065, 0.0055),
    alar_crease=(0.0016, 0.0165, -0.037, 0.0022, 0.006),
    cheekbones=(0.0075, 0.044, -0.017, 0.019, 0.016), cheek_fat=(0.0022, 0.039, -0.055, 0.016, 0.02),
    philtrum=(0.0014, 0.0, Y_MOUTH + 0.013, 0.0032, 0.007), lip_heights=vermilion_heights,
    lip_amps=(0.0036, 0.0044), lip_roll=0.0020,
    labiomental=(0.0030, 0.0, Y_MOUTH - 0.0195, 0.02, 0.005))

LAYOUT_RELIEF = ReliefShape(
    glabella_dip=False, nasion=(0.003, 0.0, 0.007, 0.012, 0.008), nose=_nose,
    alae=(0.0065, 0.0125, -0.040, 0.006, 0.0065), tip=(0.0035, 0.0, -0.034, 0.0085, 0.007),
    alar_crease=(0.0, 0.0165, -0.037, 0.0022, 0.006),
    cheekbones=(0.0070, 0.043, -0.017, 0.018, 0.016), cheek_fat=(0.0020, 0.038, -0.055, 0.015, 0.02),
    philtrum=(0.0012, 0.0, Y_MOUTH + 0.014, 0.0035, 0.007), lip_heights=lip_heights,
    lip_amps=(0.0042, 0.0052), lip_roll=0.0022,
    labiomental=(0.0032, 0.0, Y_MOUTH - 0.0205, 0.02, 0.005))


def face_relief(x: np.ndarray, y: np.ndarray, ident: Identity,
                shape: ReliefShape = DRAWN_RELIEF) -> np.ndarray:
    """Forward (z) relief of the face in front: brows, sockets, nose, cheeks, lips, chin."""
    ax = np.abs(x)
    dz = np.zeros_like(x)
    brow_y = 0.021 + 0.004 * np.exp(-((ax - 0.028) / 0.014) ** 2)
    brow = ident.brow * 0.0055
    if shape.glabella_dip:                                   # the ridge dips between the brows
        brow = brow * (0.3 + 0.7 * smoothstep(0.004, 0.022, ax))
    dz += brow * np.exp(-((y - brow_y) / 0.0075) ** 2) * smoothstep(0.062, 0.03, ax)
    dz -= shape.nasion[0] * bump(x, y, *shape.nasion[1:])
    dz -= 0.0085 * bump(ax, y, EYE_CENTER[0] + 0.002, EYE_CENTER[1] - 0.001, 0.016, 0.015)  # sockets
    dz += ident.nose * (shape.nose(x, y)
                        + shape.alae[0] * bump(ax, y, *shape.alae[1:])
                        + shape.tip[0] * bump(x, y, *shape.tip[1:]))
    if shape.alar_crease[0]:
        dz -= ident.nose * shape.alar_crease[0] * bump(ax, y, *shape.alar_crease[1:])
    dz += ident.cheek * shape.cheekbones[0] * bump(ax, y, *shape.cheekbones[1:])
    dz += shape.cheek_fat[0] * ident.cheek * bump(ax, y, *shape.cheek_fat[1:])
    dz += 0.0090 * bump(x, y, 0.0, Y_MOUTH, 0.032, 0.024)                     # dental mound
    dz -= shape.philtrum[0] * bump(x, y, *shape.philtrum[1:])
    # Nasolabial folds: a shallow crease from the nose wing towards the mouth corner.
    t = np.clip(((ax - 0.017) * 0.015 + (y + 0.040) * -0.038) / (0.015 ** 2 + 0.038 ** 2), 0, 1)
    d = np.hypot(ax - (0.017 + 0.015 * t), y - (-0.040 - 0.038 * t))
    dz -= 0.0016 * np.exp(-(d / 0.0035) ** 2) * smoothstep(0.0, 0.2, t)
    # Lips: red-lip bulges above and below the mouth line, rolled in where they meet.
    up, low = shape.lip_heights(x)
    window = smoothstep(MOUTH_HALF_WIDTH + 0.003, MOUTH_HALF_WIDTH - 0.006, ax)
    tu = (y - Y_MOUTH) / np.maximum(up, 1e-4)
    tl = (Y_MOUTH - y) / np.maximum(low, 1e-4)
    lips = np.where(y >= Y_MOUTH, shape.lip_amps[0] * np.exp(-((tu - 0.45) / 0.5) ** 2),
                    shape.lip_amps[1] * np.exp(-((tl - 0.5) / 0.55) ** 2))
    dz += ident.lips * lips * window
    dz -= shape.lip_roll * np.exp(-((y - Y_MOUTH) / 0.0016) ** 2) * window
    dz -= 0.0018 * bump(ax, y, MOUTH_HALF_WIDTH + 0.001, Y_MOUTH, 0.004, 0.004)  # corners
    dz -= shape.labiomental[0] * bump(x, y, *shape.labiomental[1:])
    dz += ident.chin * 0.0065 * bump(x, y, 0.0, -0.097, 0.013, 0.011)          # chin
    return dz


def _slice_shape(y: np.ndarray) -> tuple[np.ndarray, ...]:
    """(half-width, front z, widest z, back z, front power) of the slices at heights y."""
    yc = np.clip(y, _PROFILE_Y[0], Y_DOME)
    a, zf, zw, zb, n = _WIDTH(yc), _FRONT(yc), _WIDEST(yc), _BACK(yc), _POWER(yc)
    t = np.clip((y - Y_DOME) / (Y_CROWN - Y_DOME), 0.0, 1.0)
    s = (1.0 - t ** _DOME_POWER) ** (1.0 / _DOME_POWER)
    return a * s, zw + (zf - zw) * s, zw, zw - (zw - zb) * s, n


def _midline(y: np.ndarray, ident: Identity) -> np.ndarray:
    """z of the face's midline (with relief) at heights y: the curve rows are spaced along."""
    _, zf, _, _, _ = _slice_shape(y)
    return zf + face_relief(np.zeros_like(y), y, ident, LAYOUT_RELIEF) * smoothstep(Y_DOME + 0.03, Y_DOME, y)


def _row_heights() -> np.ndarray:
    """Row heights from just below the crown to the neck bottom, the slit rows exact.

    Always those of the default person: the topology must not depend on the identity.
    """
    y = np.linspace(Y_CROWN, Y_NECK_BOTTOM, 6001)
    z = _midline(y, Identity())
    ds = np.hypot(np.diff(y), np.diff(z))
    spacing = np.interp(0.5 * (y[1:] + y[:-1]), _SPACING_Y, _SPACING)
    count = np.concatenate([[0.0], np.cumsum(ds / spacing)])
    n_rows = int(round(count[-1]))
    levels = np.linspace(0.0, count[-1], n_rows + 1)[1:]
    rows = np.interp(levels, count, y)
    for exact in (Y_EYE_SLIT, Y_MOUTH):
        rows[np.argmin(np.abs(rows - exact))] = exact
    return rows


def _column_angles() -> np.ndarray:
    """Azimuths, symmetric (column j mirrors column C-j), twice as dense in front as behind."""
    s = 2.0 * np.arange(N_COLUMNS) / N_COLUMNS - 1.0
    return np.pi * s * (0.42 + 0.58 * s * s)


def _hair_coverage(theta: np.ndarray, y: np.ndarray) -> np.ndarray:
    line = np.interp(np.abs(theta), _HAIRLINE_THETA, _HAIRLINE_Y)
    return smoothstep(line - 0.003, line + 0.007, y)


def build_skin(ident: Identity) -> SkinGrid:
    """Skin grid of one identity (default-person coordinates; the warp comes later)."""
    rows = _row_heights()
    theta = _column_angles()
    Y, TH = np.meshgrid(rows, theta, indexing="ij")
    a, zf, zw, zb, n = (v[:, None] for v in _slice_shape(rows))
    s, c = np.sin(TH), np.cos(TH)
    x = a * spow(s, 2.0 / np.where(c >= 0, n, 2.2))
    z = np.where(c >= 0, zw + (zf - zw) * spow(c, 2.0 / n), zw + (zw - zb) * spow(c, 2.0 / 2.2))
    front = smoothstep(0.0, 0.35, c) * smoothstep(Y_DOME + 0.045, Y_DOME + 0.01, Y)
    z = z + face_relief(x, Y, ident) * front
    pts = np.stack([x, Y, z], axis=-1)

    # Short hair: push the scalp out along the direction from the skull centre.
    hair = _hair_coverage(TH, Y)
    radial = pts - np.array([0.0, 0.01, -0.01])
    radial /= np.linalg.norm(radial, axis=-1, keepdims=True)
    thickness = 0.0035 + 0.0055 * smoothstep(0.02, 0.11, Y)
    pts = pts + radial * (hair * thickness)[..., None]

    R, C = pts.shape[:2]
    verts = [pts.reshape(-1, 3), np.array([[0.0, Y_CROWN + 0.0095, zw[0, 0]]])]
    grid = np.arange(R * C).reshape(R, C)
    crown = R * C
    hair_all = [hair.reshape(-1), np.ones(1)]
    next_index = R * C + 1

    # Cut the slits: the row's vertices strictly between the corners get a lower twin.
    lower_row = {r: grid[r].copy() for r in range(R)}
    slits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    openings = {"mouth": (np.argmin(np.abs(rows - Y_MOUTH)), 0.0, MOUTH_HALF_WIDTH)}
    for side in (1, -1):
        openings[f"eye{side}"] = (np.argmin(np.abs(rows - Y_EYE_SLIT)), side * EYE_CENTER[0],
                                  EYE_HALF_WIDTH)
    for name, (r, cx, half) in openings.items():
        row_x = pts[r, :, 0]
        in_front = np.cos(theta) > 0
        inside = np.flatnonzero(in_front & (np.abs(row_x - cx) < half))
        left = inside.min() - 1
        right = inside.max() + 1
        twins = np.arange(next_index, next_index + len(inside))
        next_index += len(inside)
        verts.append(pts[r, inside])
        hair_all.append(hair[r, inside])
        lower_row[r][inside] = twins
        cols = np.concatenate([[left], inside, [right]])
        upper_ids = grid[r, cols]
        lower_ids = np.concatenate([[grid[r, left]], twins, [grid[r, right]]])
        order = np.argsort(pts[r, cols, 0])
        slits[name] = (upper_ids[order], lower_ids[order])

    faces = [np.stack([np.full(C, crown), grid[0], np.roll(grid[0], -1)], axis=1)]
    for r in range(R - 1):
        top, bottom = lower_row[r], grid[r + 1]
        a_, b_ = top, np.roll(top, -1)
        d_, c_ = bottom, np.roll(bottom, -1)
        faces.append(np.stack([a_, d_, b_], axis=1))
        faces.append(np.stack([b_, d_, c_], axis=1))
    return SkinGrid(
        verts=np.concatenate(verts), faces=np.concatenate(faces).astype(np.int64), grid=grid,
        crown=crown, theta=theta, row_y=rows,
        mouth_upper=slits["mouth"][0], mouth_lower=slits["mouth"][1],
        eye_upper={s: slits[f"eye{s}"][0] for s in (1, -1)},
        eye_lower={s: slits[f"eye{s}"][1] for s in (1, -1)},
        hair=np.concatenate(hair_all),
    )
