"""Joints, the joint regressor and smooth skinning weights in FLAME's order and conventions.

Joints: 0 global (root, lower neck), 1 neck (head on the neck), 2 jaw, 3 left eye (+x), 4 right
eye. Joint positions are convex combinations of vertices (FLAME's J_regressor): vertex rings for
the neck joints, symmetric skin patches in front of the ears for the jaw hinge, the eyeballs
for the eyes, so identity shapes move the joints with the mesh.
"""
from __future__ import annotations

import numpy as np

from splat.procedural.fields import smoothstep
from splat.procedural.geometry import HeadGeometry
from splat.procedural.identity import JAW_HINGE, MOUTH_HALF_WIDTH, Y_MOUTH
from splat.procedural.mesh_builder import Part

GLOBAL, NECK, JAW, EYE_L, EYE_R = range(5)
# FLAME stores the root's missing parent as uint32 max; the rig loader reads -1 the same way.
KINTREE_TABLE = np.array([[-1, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64)
Y_GLOBAL_RING = -0.185
Y_NECK_RING = -0.125
HINGE_PATCH = 6


def skin_jaw_weights(geo: HeadGeometry) -> np.ndarray:
    """Jaw share of each skin vertex: 1 on the lower lip and chin, 0 on the upper lip and skull,
    a broad blend over the cheeks so they stretch when the mouth opens."""
    n = len(geo.skin.verts)
    x, y, z = geo.verts[:n].T
    ax = np.abs(x)
    lower_twin = np.zeros(n, dtype=bool)
    lower_twin[geo.skin.mouth_lower[1:-1]] = True
    below = (y < Y_MOUTH - 1e-9) | lower_twin
    center = smoothstep(MOUTH_HALF_WIDTH + 0.006, MOUTH_HALF_WIDTH - 0.006, ax)
    inner = below.astype(np.float64)                 # the slit separates the two lips cleanly
    outer = smoothstep(Y_MOUTH + 0.014, Y_MOUTH - 0.028, y)
    w = center * inner + (1.0 - center) * outer
    w *= smoothstep(-0.03, 0.025, z)                 # the jaw ends at its angle below the ear
    w *= smoothstep(-0.155, -0.115, y)               # fade down the front of the neck
    w *= geo.part[:n] == Part.SKIN
    return w


def skinning_weights(geo: HeadGeometry) -> np.ndarray:
    """(V,5) convex weights per vertex."""
    V = len(geo.verts)
    w = np.zeros((V, 5))
    jaw = geo.attrs["jaw"].copy()
    n_skin = len(geo.skin.verts)
    jaw[:n_skin] = skin_jaw_weights(geo)
    y = geo.verts[:, 1]
    root = np.where(geo.part == Part.SKIN, smoothstep(-0.135, -0.195, y), 0.0)
    jaw *= 1.0 - root
    w[:, GLOBAL] = root
    w[:, JAW] = jaw
    w[:, NECK] = 1.0 - root - jaw
    for side, joint in ((1, EYE_L), (-1, EYE_R)):
        idx = geo.eyeballs[side]
        w[idx] = 0.0
        w[idx, joint] = 1.0
    return w


def _ring(geo: HeadGeometry, y: float) -> np.ndarray:
    row = int(np.argmin(np.abs(geo.skin.row_y - y)))
    return geo.skin.grid[row]


def joint_regressor(geo: HeadGeometry) -> np.ndarray:
    """(5,V) rows of convex vertex weights; each row's average lands on its joint."""
    V = len(geo.verts)
    J = np.zeros((5, V))
    for joint, idx in ((GLOBAL, _ring(geo, Y_GLOBAL_RING)), (NECK, _ring(geo, Y_NECK_RING)),
                       (EYE_L, geo.eyeballs[1]), (EYE_R, geo.eyeballs[-1])):
        J[joint, idx] = 1.0 / len(idx)
    # Jaw hinge: the same small patch of skin on both sides of the head (mirror columns), at
    # the hinge's height and depth, averages to a point on the midline.
    grid = geo.skin.grid
    C = grid.shape[1]
    pts = geo.verts[grid]
    target = np.array([np.inf, JAW_HINGE[1], JAW_HINGE[2]])
    left = pts[..., 0] > 0
    d = np.where(left, np.hypot(pts[..., 1] - target[1], pts[..., 2] - target[2]), np.inf)
    flat = np.argsort(d, axis=None, kind="stable")[:HINGE_PATCH]
    rows, cols = np.unravel_index(flat, d.shape)
    patch = np.concatenate([grid[rows, cols], grid[rows, (C - cols) % C]])
    J[JAW, patch] = 1.0 / len(patch)
    return J
