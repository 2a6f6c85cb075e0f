"""The head-and-shoulders part of MakeHuman's hm08 base mesh, in FLAME space.

Cut from the full body: skin quads above the upper chest, plus the helper meshes the face needs
(eyeballs, eyelashes, upper/lower teeth, tongue), triangulated, re-indexed, moved so the eyes
sit where FLAME's do (metres, +y up, +z forward, +x to the subject's left; hm08 already uses
those axes) and given the part label of every vertex. Unreferenced helpers (joint cubes, the
clothes and hair fitting helpers) are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from splat.human.makehuman import BaseMesh

CUT_Y = 0.47              # hm08 metres: the upper chest, a few cm under the collar bones
# Where the point between the eyes goes (FLAME-like placement: the default head's eyes).
EYES_AT = np.array([0.0, 0.006, 0.05])
TONGUE_BELOW_TEETH = 0.003  # metres the settled tongue's top stays under the lower incisors
INCISOR_DEPTH = 0.01        # metres behind the front of the lower arch that count as incisors


class HPart(IntEnum):
    SKIN = 0
    EYEBALL = 1
    LASH = 2
    TEETH_UPPER = 3
    TEETH_LOWER = 4
    TONGUE = 5


# hm08 face group -> part (groups not listed are not part of the head).
GROUP_PARTS = {
    "body": HPart.SKIN, "helper-l-eye": HPart.EYEBALL, "helper-r-eye": HPart.EYEBALL,
    "helper-l-eyelashes-1": HPart.LASH, "helper-l-eyelashes-2": HPart.LASH,
    "helper-r-eyelashes-1": HPart.LASH, "helper-r-eyelashes-2": HPart.LASH,
    "helper-upper-teeth": HPart.TEETH_UPPER, "helper-lower-teeth": HPart.TEETH_LOWER,
    "helper-tongue": HPart.TONGUE,
}

# The lash card face groups, numbered (strands grow from each card's roots).
LASH_CARDS = {name: i for i, name in enumerate(
    g for g in GROUP_PARTS if GROUP_PARTS[g] == HPart.LASH)}


@dataclass
class HeadMesh:
    """The cut mesh: verts (V,3) FLAME space, faces (F,3), per-vertex part and hm08 index,
    per-face group name and corner UVs (F,3,2), and the offset applied to hm08 coordinates."""

    verts: np.ndarray
    faces: np.ndarray
    part: np.ndarray
    source_index: np.ndarray
    face_group: np.ndarray
    face_uv: np.ndarray
    shift: np.ndarray

    def from_hm08(self, field: np.ndarray) -> np.ndarray:
        """A per-vertex field of the full hm08 mesh restricted to the head's vertices."""
        return field[self.source_index]


def cut_head(base: BaseMesh, groups: dict[str, np.ndarray]) -> HeadMesh:
    """Select, triangulate and re-index the head-and-shoulders mesh."""
    keep_group = np.isin(base.quad_group, list(GROUP_PARTS))
    above = base.verts[base.quads][:, :, 1].min(axis=1) > CUT_Y
    keep = keep_group & ((base.quad_group != "body") | above)
    quads, quad_uvs, quad_group = base.quads[keep], base.quad_uvs[keep], base.quad_group[keep]
    # Quad (a,b,c,d) -> (a,b,c), (a,c,d): hm08 quads are planar enough that either split works.
    tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    tri_uvs = np.concatenate([quad_uvs[:, [0, 1, 2]], quad_uvs[:, [0, 2, 3]]])
    tri_group = np.concatenate([quad_group, quad_group])
    order = np.argsort(np.concatenate([np.arange(len(quads)) * 2, np.arange(len(quads)) * 2 + 1]),
                       kind="stable")
    tris, tri_uvs, tri_group = tris[order], tri_uvs[order], tri_group[order]
    used = np.unique(tris)
    remap = np.full(len(base.verts), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    part = np.zeros(len(used), dtype=np.int64)
    for name, p in GROUP_PARTS.items():
        idx = remap[np.intersect1d(groups[name], used)]
        part[idx] = int(p)
    eyes = np.concatenate([groups["helper-l-eye"], groups["helper-r-eye"]])
    shift = EYES_AT - base.verts[eyes].mean(axis=0)
    uv = np.where(tri_uvs[..., None] >= 0, base.uvs[np.maximum(tri_uvs, 0)], -1.0)
    return HeadMesh(verts=_settle_tongue(base.verts[used] + shift, part), faces=remap[tris],
                    part=part, source_index=used, face_group=tri_group, face_uv=uv, shift=shift)


def _settle_tongue(verts: np.ndarray, part: np.ndarray) -> np.ndarray:
    """MakeHuman's tongue helper fills the closed mouth up to the palate, so an open mouth
    showed a wall of tongue; a tongue at rest lies on the mouth's floor behind the lower teeth.
    Squash it towards its underside until its top is just under the lower incisors' biting
    edge (the dark cavity then shows above it, as in a real open mouth)."""
    tongue = part == HPart.TONGUE
    bottom, top = verts[tongue, 1].min(), verts[tongue, 1].max()
    lower = verts[part == HPart.TEETH_LOWER]
    incisors = lower[lower[:, 2] > lower[:, 2].max() - INCISOR_DEPTH]
    goal = incisors[:, 1].max() - TONGUE_BELOW_TEETH
    out = verts.copy()
    out[tongue, 1] = bottom + (verts[tongue, 1] - bottom) * (goal - bottom) / (top - bottom)
    return out
