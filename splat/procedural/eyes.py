"""Eyeballs and eyelids.

The skin over each eye is wrapped onto a lid sphere just outside the eyeball, closed along the
slit row; opening the eye rotates the lids about the eyeball's horizontal axis (which is how real
lids move), folding the upper lid into its crease. The closed wrap is therefore exactly what a
blink returns to, so a full blink covers the eyeball by construction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from splat.procedural.fields import smoothstep
from splat.procedural.head_mesh import SkinGrid
from splat.procedural.identity import EYE_CENTER, EYE_HALF_WIDTH, EYE_RADIUS, Y_EYE_SLIT

LID_GAP = 0.0013                  # lid surface above the eyeball
UPPER_OPEN_RAD = 0.70             # how far the upper lid margin rotates up when open
LOWER_OPEN_RAD = 0.22
UPPER_FOLD_RAD = 1.15             # lid skin within this angle above the slit folds up with it
LOWER_FOLD_RAD = 0.7
EYEBALL_RINGS, EYEBALL_SEGMENTS = 14, 18


def eye_centers() -> dict[int, np.ndarray]:
    """Default-person eye centres by side: +1 left (+x, joint 3), -1 right (joint 4)."""
    return {s: EYE_CENTER * np.array([s, 1.0, 1.0]) for s in (1, -1)}


def _margin_profile(dx: np.ndarray) -> np.ndarray:
    """How open the fissure is along x (1 at the middle, 0 at the corners): the almond shape."""
    t = np.clip(1.0 - (dx / EYE_HALF_WIDTH) ** 2, 0.0, 1.0)
    return t ** 0.65


@dataclass
class Eyelids:
    """Per skin vertex: which lid it belongs to and how strongly (0..1), for each side."""

    upper: dict[int, np.ndarray]      # side -> (Vs,) weight of the upper lid
    lower: dict[int, np.ndarray]
    margin: np.ndarray                # (Vs,) angular distance from the slit (rad), inf off-lid


def _lid_region(verts: np.ndarray, center: np.ndarray) -> np.ndarray:
    """0..1: where the skin is wrapped onto the lid sphere."""
    q = ((verts[:, 0] - center[0]) / 0.021) ** 2 + ((verts[:, 1] - center[1]) / 0.0165) ** 2
    return smoothstep(1.0, 0.5, q) * (verts[:, 2] > 0.03)


def shape_eyelids(skin: SkinGrid) -> tuple[np.ndarray, np.ndarray, Eyelids]:
    """(open skin, closed skin, lid weights) from the skin grid (default-person coordinates)."""
    closed = skin.verts.copy()
    opened = skin.verts.copy()
    n = len(closed)
    upper: dict[int, np.ndarray] = {}
    lower: dict[int, np.ndarray] = {}
    margin = np.full(n, np.inf)
    lower_twins = np.zeros(n, dtype=bool)
    for side in (1, -1):
        lower_twins[skin.eye_lower[side][1:-1]] = True
    radius = EYE_RADIUS + LID_GAP
    for side, c in eye_centers().items():
        region = _lid_region(skin.verts, c)
        # Wrap along rays from a point on the slit line inside the eye, not from the centre,
        # so every vertex stays on its side of the slit.
        anchor = np.array([c[0], Y_EYE_SLIT, c[2]])
        ray = skin.verts - anchor
        ray /= np.linalg.norm(ray, axis=1, keepdims=True)
        offset = anchor - c
        b = ray @ offset
        t = -b + np.sqrt(b * b - (offset @ offset - radius * radius))
        wrapped = anchor + ray * t[:, None]
        closed += (wrapped - skin.verts) * region[:, None]
        rel = closed - c
        rho = np.hypot(rel[:, 1], rel[:, 2])
        elev = np.arctan2(rel[:, 1], rel[:, 2])
        dy_slit = Y_EYE_SLIT - c[1]
        slit = np.arctan2(dy_slit, np.sqrt(np.maximum(radius ** 2 - rel[:, 0] ** 2 - dy_slit ** 2,
                                                      1e-8)))
        profile = _margin_profile(rel[:, 0]) * region
        is_upper = (closed[:, 1] > Y_EYE_SLIT + 1e-9) | (
            (np.abs(closed[:, 1] - Y_EYE_SLIT) <= 1e-9) & ~lower_twins)
        up_t = np.clip(1.0 - (elev - slit) / UPPER_FOLD_RAD, 0.0, 1.0)
        low_t = np.clip(1.0 - (slit - elev) / LOWER_FOLD_RAD, 0.0, 1.0)
        turn = np.where(is_upper, UPPER_OPEN_RAD * up_t, -LOWER_OPEN_RAD * low_t) * profile
        new = elev + turn
        opened[:, 1] = np.where(region > 0, c[1] + rho * np.sin(new), opened[:, 1])
        opened[:, 2] = np.where(region > 0, c[2] + rho * np.cos(new), opened[:, 2])
        opened[:, 0] = np.where(region > 0, closed[:, 0], opened[:, 0])
        upper[side] = np.where(is_upper, region, 0.0)
        lower[side] = np.where(~is_upper, region, 0.0)
        on_lid = region > 0.5
        margin[on_lid] = np.minimum(margin[on_lid], np.abs(elev - slit)[on_lid])
    return opened, closed, Eyelids(upper=upper, lower=lower, margin=margin)


def build_eyeball(center: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(verts, faces, polar angle from the gaze axis) of one eyeball looking along +z.

    A UV sphere with a faint corneal bulge; colours come later from the polar angle.
    """
    gamma = np.linspace(0.0, np.pi, EYEBALL_RINGS + 2)[1:-1]
    phi = np.linspace(0.0, 2.0 * np.pi, EYEBALL_SEGMENTS, endpoint=False)
    G, P = np.meshgrid(gamma, phi, indexing="ij")
    r = EYE_RADIUS + 0.0005 * np.exp(-(G / 0.45) ** 2)
    ring = np.stack([r * np.sin(G) * np.cos(P), r * np.sin(G) * np.sin(P), r * np.cos(G)], -1)
    verts = np.concatenate([[[0.0, 0.0, EYE_RADIUS + 0.0005]], ring.reshape(-1, 3),
                            [[0.0, 0.0, -EYE_RADIUS]]]) + center
    polar = np.concatenate([[0.0], G.reshape(-1), [np.pi]])
    S = EYEBALL_SEGMENTS
    idx = 1 + np.arange(EYEBALL_RINGS * S).reshape(EYEBALL_RINGS, S)
    faces = [np.stack([np.zeros(S, int), np.roll(idx[0], -1), idx[0]], 1)]
    for k in range(EYEBALL_RINGS - 1):
        a, b = idx[k], np.roll(idx[k], -1)
        d, e = idx[k + 1], np.roll(idx[k + 1], -1)
        faces += [np.stack([a, b, d], 1), np.stack([b, e, d], 1)]
    last = len(verts) - 1
    faces.append(np.stack([np.full(S, last), idx[-1], np.roll(idx[-1], -1)], 1))
    return verts, np.concatenate(faces).astype(np.int64), polar
