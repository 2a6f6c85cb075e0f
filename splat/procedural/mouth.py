"""Inside the mouth: inner lips, the cavity, upper and lower teeth rows, the tongue.

The inner lips continue the skin's mouth slit inwards along the teeth, and the cavity is a bag
whose rim is exactly the inner lips' last row, so looking into an open mouth never sees the
inside of the head. Each part records a `jaw` attribute (its share of the jaw joint) and the
coordinates the expression builder needs (strip depth, tongue tip/dorsum).
"""
from __future__ import annotations

import numpy as np

from splat.procedural.fields import smoothstep
from splat.procedural.mesh_builder import MeshBuilder, Part, grid_faces
from splat.procedural.identity import MOUTH_HALF_WIDTH, Y_MOUTH

INNER_LIP_ROWS = 3
_STRIP_STEP = np.array([0.0, 0.0030, -0.0017])   # per row, upper lip (the lower mirrors y)
BAG_RINGS = 7
TEETH_SEGMENTS = 26
ARCH_HALF_WIDTH = 0.0235
ARCH_DEPTH = 0.044
UPPER_TEETH_FRONT_Z = 0.0800
LOWER_TEETH_FRONT_Z = 0.0775
TONGUE_CENTER = np.array([0.0, Y_MOUTH - 0.0115, 0.0445])
TONGUE_RADII = np.array([0.021, 0.0075, 0.027])


def _corner_profile(x: np.ndarray) -> np.ndarray:
    """1 at the middle of the mouth, 0.3 at the corners: the inner lips open less there."""
    return 0.3 + 0.7 * np.clip(1.0 - (x / MOUTH_HALF_WIDTH) ** 2, 0.0, 1.0) ** 0.5


def corner_jaw_share(x: np.ndarray) -> np.ndarray:
    """Jaw share of the upper inner lip (the lower one gets 1 minus it): 0 across the mouth,
    rising to 0.5 over the last few millimetres so the corners stretch gradually, not in one
    sliver cell (which smeared dark splats past the corner when the jaw opened)."""
    return 0.5 * smoothstep(MOUTH_HALF_WIDTH - 0.007, MOUTH_HALF_WIDTH + 0.002, np.abs(x))


def add_inner_lips(mb: MeshBuilder, verts: np.ndarray, upper: np.ndarray, lower: np.ndarray
                   ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Strips from the slit inwards along the teeth; returns the rows (row 0 = the slit)."""
    rows_u, rows_l = [upper], [lower]
    for sign, rows, jaw in ((1.0, rows_u, 0.0), (-1.0, rows_l, 1.0)):
        base = verts[rows[0]]
        prof = _corner_profile(base[:, 0])
        share = corner_jaw_share(base[:, 0])
        jaw_w = share if jaw == 0.0 else 1.0 - share
        for k in range(1, INNER_LIP_ROWS + 1):
            step = _STRIP_STEP * np.array([1.0, sign, 1.0])
            pos = base + k * step * np.stack([np.ones_like(prof), prof, np.ones_like(prof)], 1)
            pos[:, 0] *= 1.0 - 0.035 * k
            rows.append(mb.add_vertices(pos, Part.INNER_LIP, jaw=jaw_w, strip=k / INNER_LIP_ROWS,
                                        strip_sign=sign))
        grid = np.stack(rows)
        mb.add_faces(grid_faces(grid if sign > 0 else grid[:, ::-1], closed=False))
    # Close the corners between the two strips.
    for end in (0, -1):
        for k in range(INNER_LIP_ROWS):
            u0, u1, l0, l1 = rows_u[k][end], rows_u[k + 1][end], rows_l[k][end], rows_l[k + 1][end]
            tri = [[u0, u1, l1]] if k == 0 else [[u0, u1, l1], [u0, l1, l0]]
            mb.add_faces(np.array(tri)[:, ::-1] if end == 0 else np.array(tri))
    return rows_u, rows_l


def add_cavity(mb: MeshBuilder, verts: np.ndarray, rim_upper: np.ndarray, rim_lower: np.ndarray
               ) -> None:
    """A closed bag behind the lips, its rim the inner lips' last row."""
    rim = np.concatenate([rim_upper, rim_lower[::-1]])
    rim_pos = verts[rim]
    center_y = Y_MOUTH - 0.006
    phi = np.arctan2((rim_pos[:, 1] - center_y) / 0.024, rim_pos[:, 0] / 0.034)
    share = corner_jaw_share(rim_pos[:, 0])
    rim_jaw = np.concatenate([share[:len(rim_upper)], 1.0 - share[len(rim_upper):]])
    rings = [rim]
    z_rim = rim_pos[:, 2].mean()
    for j in range(1, BAG_RINGS):
        t = j / BAG_RINGS
        s = np.sqrt(max(1.0 - ((t - 0.45) / 0.55) ** 2, 0.0))
        ellipse = np.stack([0.034 * s * np.cos(phi), center_y - 0.004 * t + 0.024 * s * np.sin(phi),
                            np.full_like(phi, z_rim - 0.054 * t)], 1)
        b = smoothstep(0.0, 0.4, t)
        shifted = rim_pos + np.array([0.0, 0.0, -0.054 * t])
        pos = (1.0 - b) * shifted + b * ellipse
        lower_share = smoothstep(0.35, -0.35, np.sin(phi)) * (1.0 - 0.6 * t)
        jaw = (1.0 - b) * rim_jaw + b * lower_share
        rings.append(mb.add_vertices(pos, Part.CAVITY, jaw=jaw, depth=t))
    apex = mb.add_vertices(np.array([[0.0, center_y - 0.004, z_rim - 0.058]]), Part.CAVITY,
                           jaw=0.3, depth=1.0)
    mb.add_faces(grid_faces(np.stack(rings), closed=True))
    last = rings[-1]
    mb.add_faces(np.stack([last, np.full_like(last, apex[0]), np.roll(last, -1)], 1))


def _arch(front_z: float, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points (N,3 in x,z) and outward normals of the dental arch at parameters s in [-1,1]."""
    x = ARCH_HALF_WIDTH * s
    z = front_z - ARCH_DEPTH * s * s
    normal = np.stack([2.0 * ARCH_DEPTH * s / ARCH_HALF_WIDTH, np.ones_like(s)], 1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    return np.stack([x, z], 1), normal


def add_teeth(mb: MeshBuilder) -> None:
    """Upper and lower teeth rows: tubes along the arch with a rounded biting edge."""
    s = np.linspace(-1.0, 1.0, TEETH_SEGMENTS)
    # Cross-section loop: (inwards fraction of the thickness, height fraction 0 gum .. 1 edge).
    loop = np.array([[0.0, -0.15], [0.0, 0.55], [0.08, 0.92], [0.35, 1.0], [0.65, 1.0],
                     [0.92, 0.92], [1.0, 0.55], [1.0, -0.15]])
    for part, front_z, gum_y, edge_y, sign in (
            (Part.TEETH_UPPER, UPPER_TEETH_FRONT_Z, Y_MOUTH + 0.0095, Y_MOUTH - 0.0012, -1.0),
            (Part.TEETH_LOWER, LOWER_TEETH_FRONT_Z, Y_MOUTH - 0.0095, Y_MOUTH - 0.0002, 1.0)):
        xz, normal = _arch(front_z, s)
        thick = 0.0026 + 0.0042 * s * s
        edge = edge_y - sign * 0.0016 * s * s          # back teeth are shorter
        rows = []
        for inward, height in loop:
            y = gum_y + (edge - gum_y) * height
            pos_xz = xz - normal * (inward * thick)[:, None]
            pos = np.stack([pos_xz[:, 0], y, pos_xz[:, 1]], 1)
            rows.append(mb.add_vertices(pos, part, jaw=1.0 if part == Part.TEETH_LOWER else 0.0,
                                        tooth_s=s, tooth_h=np.full_like(s, height)))
        grid = np.stack(rows).T                       # (segments, loop)
        faces = grid_faces(grid, closed=True)
        mb.add_faces(faces if sign < 0 else faces[:, ::-1])


def add_tongue(mb: MeshBuilder) -> None:
    """A flattened ellipsoid on the mouth floor; `tip` and `dorsum` weights for its shapes."""
    rings, segs = 11, 16
    gamma = np.linspace(0.0, np.pi, rings + 2)[1:-1]
    phi = np.linspace(0.0, 2 * np.pi, segs, endpoint=False)
    G, P = np.meshgrid(gamma, phi, indexing="ij")
    unit = np.stack([np.sin(G) * np.cos(P), np.sin(G) * np.sin(P), np.cos(G)], -1).reshape(-1, 3)
    unit = np.concatenate([[[0.0, 0.0, 1.0]], unit, [[0.0, 0.0, -1.0]]])
    pos = TONGUE_CENTER + unit * TONGUE_RADII
    pos[:, 1] -= 0.004 * np.clip(unit[:, 2], 0, 1) ** 2          # the tip dips a little
    tip = smoothstep(0.2, 1.0, unit[:, 2])
    dorsum = np.exp(-((unit[:, 2] + 0.2) / 0.45) ** 2) * np.clip(unit[:, 1], 0, 1)
    idx = mb.add_vertices(pos, Part.TONGUE, jaw=1.0, tip=tip, dorsum=dorsum,
                          tongue_top=np.clip(unit[:, 1], 0, 1))
    grid = idx[1:-1].reshape(rings, segs)
    mb.add_faces(grid_faces(grid, closed=True)[:, ::-1])
    mb.add_faces(np.stack([np.full(segs, idx[0]), grid[0], np.roll(grid[0], -1)], 1))
    mb.add_faces(np.stack([np.full(segs, idx[-1]), np.roll(grid[-1], -1), grid[-1]], 1))
