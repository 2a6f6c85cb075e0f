"""GaussianAvatars' teeth extension of FLAME: 120 vertices and 168 faces behind the lips.

GaussianAvatars avatars bind Gaussians to these extra faces (indices >= 9976), so the vertex
order, face order and construction must match theirs exactly (REFERENCE.md §2). Facts used here
(index lists and constants, from GaussianAvatars' flame_model/flame.py `add_teeth`): the two
15-vertex outer lip rings, the row offsets (1.5, 0.1, 2, 0.4 and 1.0 times the mean lip-ring
gap), the row order, and the strip triangulation whose diagonal mirrors at the middle column.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from splat.errors import UserInputError
from splat.rig import RigData

FLAME_NUM_VERTS = 5023
NECK_JOINT, JAW_JOINT = 1, 2
# Outer lip rings of the FLAME template, in matching column order across the mouth.
LIP_OUTSIDE_RING_UPPER = np.array([1713, 1715, 1716, 1735, 1696, 1694, 1657, 3543,
                                   2774, 2811, 2813, 2850, 2833, 2832, 2830])
LIP_OUTSIDE_RING_LOWER = np.array([1576, 1577, 1773, 1774, 1795, 1802, 1865, 3503,
                                   2948, 2905, 2898, 2881, 2880, 2713, 2712])
RING = 15
# Row starts (x15) within the 120 teeth vertices, in GaussianAvatars' order.
UPPER_ROOT, LOWER_ROOT, UPPER_EDGE, LOWER_EDGE = 0, 15, 30, 45
UPPER_ROOT_BACK, UPPER_EDGE_BACK, LOWER_ROOT_BACK, LOWER_EDGE_BACK = 60, 75, 90, 105
UPPER_ROWS = (UPPER_ROOT, UPPER_EDGE, UPPER_ROOT_BACK, UPPER_EDGE_BACK)
LOWER_ROWS = (LOWER_ROOT, LOWER_EDGE, LOWER_ROOT_BACK, LOWER_EDGE_BACK)
NUM_TEETH_VERTS = 8 * RING


def teeth_vertices(v_template: np.ndarray) -> np.ndarray:
    """The 120 teeth vertices (rest pose) built from the template's outer lip rings."""
    upper = v_template[LIP_OUTSIDE_RING_UPPER].astype(np.float64)
    lower = v_template[LIP_OUTSIDE_RING_LOWER].astype(np.float64)
    gap = np.linalg.norm(upper - lower, axis=1).mean()
    up, back = np.array([0.0, gap, 0.0]), np.array([0.0, 0.0, gap])
    middle = (upper + lower) / 2
    middle[:, 1] = middle[:, 1].mean()          # a level bite line
    middle[:, 2] -= 1.5 * gap                   # behind the lips
    upper_edge = middle + 0.1 * up
    upper_root = upper_edge + 2.0 * up          # tooth height: two lip gaps
    lower_edge = middle - 0.1 * up - 0.4 * back  # lower teeth sit slightly behind the upper
    lower_root = lower_edge - 2.0 * up
    thickness = 1.0 * back
    rows = [upper_root, lower_root, upper_edge, lower_edge,
            upper_root - thickness, upper_edge - thickness,
            lower_root - thickness, lower_edge - thickness]
    return np.concatenate(rows).astype(np.float32)


def _strip(p: int, q: int, mirrored: bool, flip: bool) -> list[list[int]]:
    """Triangulate the 14 quads between rows p and q (each 15 vertices).

    Quad i has corners a=p+i, b=p+i+1 on row p and c=q+i, d=q+i+1 on row q. Its diagonal is
    a-d on one half of the arch and b-c on the other (`mirrored` swaps which), so the strip is
    symmetric about the middle column; `flip` reverses the winding.
    """
    tris = []
    for i in range(RING - 1):
        a, b, c, d = p + i, p + i + 1, q + i, q + i + 1
        diagonal_ad = (i < RING // 2) != mirrored
        pair = [[a, d, c], [a, b, d]] if diagonal_ad else [[a, b, c], [b, d, c]]
        tris += [[t[0], t[2], t[1]] for t in pair] if flip else pair
    return tris


def teeth_faces() -> np.ndarray:
    """The 168 teeth faces (indices into the 120 teeth vertices), upper block then lower."""
    upper = (_strip(UPPER_ROOT, UPPER_EDGE, mirrored=False, flip=False)               # front
             + _strip(UPPER_ROOT_BACK, UPPER_EDGE_BACK, mirrored=False, flip=True)    # back
             + _strip(UPPER_EDGE_BACK, UPPER_EDGE, mirrored=True, flip=True))         # biting edge
    lower = (_strip(LOWER_EDGE, LOWER_ROOT, mirrored=True, flip=False)
             + _strip(LOWER_ROOT_BACK, LOWER_EDGE_BACK, mirrored=False, flip=False)
             + _strip(LOWER_EDGE_BACK, LOWER_EDGE, mirrored=True, flip=False))
    return np.asarray(upper + lower, dtype=np.int64)


def _rows(starts: tuple[int, ...]) -> np.ndarray:
    return np.concatenate([np.arange(s, s + RING) for s in starts])


def add_teeth(rig: RigData) -> RigData:
    """FLAME + teeth (5143 vertices, 10144 faces) as GaussianAvatars builds it.

    Upper teeth follow the neck joint and lower teeth the jaw, rigidly (weight 1). Their identity
    blendshapes are the mean of the upper and lower lip-ring vertex in the same column, so the
    teeth follow the mouth of each identity; expression and pose correctives are zero.
    """
    if not rig.rig_id.startswith("flame") or rig.num_verts != FLAME_NUM_VERTS:
        raise UserInputError(f"the teeth extension needs a FLAME rig ({FLAME_NUM_VERTS} vertices); "
                             f"rig {rig.rig_id!r} has {rig.num_verts}")
    V, n = rig.num_verts, NUM_TEETH_VERTS
    upper_ids, lower_ids = _rows(UPPER_ROWS), _rows(LOWER_ROWS)

    shapedirs = np.zeros((n, 3, rig.shapedirs.shape[2]), dtype=np.float32)
    lip_mean = 0.5 * (rig.shapedirs[LIP_OUTSIDE_RING_UPPER, :, :rig.n_shape]
                      + rig.shapedirs[LIP_OUTSIDE_RING_LOWER, :, :rig.n_shape])
    shapedirs[:, :, :rig.n_shape] = np.tile(lip_mean, (8, 1, 1))   # every row, column by column

    weights = np.zeros((n, rig.weights.shape[1]), dtype=np.float32)
    weights[upper_ids, NECK_JOINT] = 1.0
    weights[lower_ids, JAW_JOINT] = 1.0

    masks = dict(rig.masks)
    masks["teeth_upper"] = upper_ids + V
    masks["teeth_lower"] = lower_ids + V
    masks["teeth"] = np.concatenate([upper_ids, lower_ids]) + V
    return dataclasses.replace(
        rig,
        v_template=np.concatenate([rig.v_template, teeth_vertices(rig.v_template)]),
        faces=np.concatenate([rig.faces, teeth_faces() + V]),
        shapedirs=np.concatenate([rig.shapedirs, shapedirs]),
        posedirs=np.concatenate([rig.posedirs, np.zeros((n, 3, rig.posedirs.shape[2]),
                                                        dtype=np.float32)]),
        J_regressor=np.concatenate([rig.J_regressor, np.zeros((rig.J_regressor.shape[0], n),
                                                               dtype=np.float32)], axis=1),
        weights=np.concatenate([rig.weights, weights]),
        masks=masks,
        rig_id=rig.rig_id + "+teeth",
    )
