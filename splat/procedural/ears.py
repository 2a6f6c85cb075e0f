"""Ears: a thin shell with a rolled rim (helix) and a hollow bowl (concha), set into the skull.

Built as a flattened ellipsoid around its outward axis, then the inner part of the outer face
is pressed in, which leaves the rim standing; the shell's inner half sinks into the head so the
seam is hidden. The `concha` attribute tells the appearance where the bowl is (shadowed).
"""
from __future__ import annotations

import numpy as np

from splat.procedural.fields import normalize, smoothstep
from splat.procedural.mesh_builder import MeshBuilder, Part, grid_faces

EAR_CENTER = np.array([0.0725, -0.006, -0.016])    # left ear; the right mirrors x
EAR_RADII = np.array([0.0165, 0.030, 0.0055])      # along the ear's width, height, thickness
RINGS, SEGMENTS = 10, 22


def add_ears(mb: MeshBuilder) -> None:
    """Both ears, attached to the skull beside the jaw hinge."""
    gamma = np.linspace(0.0, np.pi, RINGS + 2)[1:-1]
    phi = np.linspace(0.0, 2 * np.pi, SEGMENTS, endpoint=False)
    G, P = np.meshgrid(gamma, phi, indexing="ij")
    # Local coordinates: v across (backwards), u up, w outwards; polar axis = w.
    v = np.sin(G) * np.cos(P)
    u = np.sin(G) * np.sin(P)
    w = np.cos(G)
    radial = np.hypot(v, u)
    outer = w > 0
    bowl = smoothstep(0.82, 0.45, radial) * outer
    w_shaped = w * EAR_RADII[2] - 0.0045 * bowl + 0.0012 * np.exp(-((radial - 0.62) / 0.08) ** 2) * outer
    # Narrower lobe at the bottom, wider top: an ear's outline.
    width = EAR_RADII[0] * (1.0 + 0.15 * u - 0.25 * np.clip(-u - 0.4, 0, 1))
    local = np.stack([v * width, u * EAR_RADII[1], w_shaped], -1).reshape(-1, 3)
    ends = np.array([[0.0, 0.0, EAR_RADII[2] - 0.0045], [0.0, 0.0, -EAR_RADII[2]]])
    local = np.concatenate([ends[:1], local, ends[1:]])
    concha = np.concatenate([[1.0], bowl.reshape(-1), [0.0]])
    for side in (1, -1):
        w_axis = normalize(np.array([side * 1.0, 0.0, 0.32]))
        u_axis = np.array([0.0, 1.0, 0.0])
        v_axis = np.cross(u_axis, w_axis) * side
        rot = np.stack([v_axis, u_axis, w_axis], 1)      # columns: local axes in world
        center = EAR_CENTER * np.array([side, 1.0, 1.0])
        pos = center + local @ rot.T
        idx = mb.add_vertices(pos, Part.EAR, concha=concha)
        grid = idx[1:-1].reshape(RINGS, SEGMENTS)
        faces = np.concatenate([
            np.stack([np.full(SEGMENTS, idx[0]), grid[0], np.roll(grid[0], -1)], 1),
            grid_faces(grid, closed=True),
            np.stack([np.full(SEGMENTS, idx[-1]), np.roll(grid[-1], -1), grid[-1]], 1)])
        mb.add_faces(faces if side > 0 else faces[:, ::-1])
