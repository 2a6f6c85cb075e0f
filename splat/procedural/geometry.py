"""Assembles every part into the rig's single mesh for one identity.

Topology never depends on the identity (only positions do), which is what lets the identity
blendshapes be finite differences of whole meshes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from splat.procedural.ears import add_ears
from splat.procedural.eyes import Eyelids, build_eyeball, eye_centers, shape_eyelids
from splat.procedural.head_mesh import SkinGrid, build_skin
from splat.procedural.identity import Identity, warp_points, warp_rigid
from splat.procedural.mesh_builder import MeshBuilder, Part
from splat.procedural.mouth import add_cavity, add_inner_lips, add_teeth, add_tongue


@dataclass
class HeadGeometry:
    """The assembled head: open-eyed template, the closed-lid variant, and part bookkeeping."""

    verts: np.ndarray                 # (V,3) rest pose, lids open
    builder_verts: np.ndarray         # (V,3) the same before the proportion/identity warp
    closed_lids: np.ndarray           # (V,3) same with both lids closed (blink targets)
    faces: np.ndarray                 # (F,3)
    part: np.ndarray                  # (V,) Part values
    attrs: dict[str, np.ndarray]      # per-vertex attributes from the builders
    skin: SkinGrid                    # skin vertices are the first len(skin.verts) indices
    eyelids: Eyelids
    eyeballs: dict[int, np.ndarray]   # side -> vertex indices
    eye_centers: dict[int, np.ndarray]
    inner_upper: list[np.ndarray]     # inner-lip rows, row 0 = the slit's upper side
    inner_lower: list[np.ndarray]


def build_head(identity: Identity) -> HeadGeometry:
    """Build the whole head of one identity (metres, FLAME axes)."""
    skin = build_skin(identity)
    opened, closed, lids = shape_eyelids(skin)
    mb = MeshBuilder()
    skin_idx = mb.add_vertices(opened, Part.SKIN, hair=skin.hair)
    mb.add_faces(skin.faces)
    eyeballs: dict[int, np.ndarray] = {}
    centers = eye_centers()
    for side, c in centers.items():
        v, f, polar = build_eyeball(c)
        idx = mb.add_vertices(v, Part.EYEBALL, polar=polar, side=float(side))
        mb.add_faces(f + idx[0])
        eyeballs[side] = idx
    rows_u, rows_l = add_inner_lips(mb, opened, skin.mouth_upper, skin.mouth_lower)
    # The cavity rim needs the inner lips' positions, which live in the builder so far.
    verts_now, _, _, _ = mb.build()
    add_cavity(mb, verts_now, rows_u[-1], rows_l[-1])
    add_teeth(mb)
    add_tongue(mb)
    add_ears(mb)
    verts, faces, part, attrs = mb.build()

    closed_all = verts.copy()
    closed_all[skin_idx] = closed
    warped = warp_points(verts, identity)
    warped_closed = warp_points(closed_all, identity)
    for side, idx in eyeballs.items():
        shift = warp_rigid(centers[side], identity)
        warped[idx] = verts[idx] + shift
        warped_closed[idx] = verts[idx] + shift
    warped_centers = {s: c + warp_rigid(c, identity) for s, c in centers.items()}
    return HeadGeometry(
        verts=warped, builder_verts=verts, closed_lids=warped_closed, faces=faces, part=part, attrs=attrs, skin=skin,
        eyelids=lids, eyeballs=eyeballs, eye_centers=warped_centers,
        inner_upper=rows_u, inner_lower=rows_l,
    )
