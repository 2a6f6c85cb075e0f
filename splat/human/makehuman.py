"""Readers for MakeHuman's file formats (hm08 base mesh OBJ, vertex groups, targets, weights).

Written from the formats themselves: the OBJ is quads with per-corner UVs and `g` face groups;
vertex groups are JSON lists of indices or inclusive [first, last] ranges; a `.target` is one
`index dx dy dz` line per moved vertex (gzip-compressed as `.target.gz` in MPFB2); skinning
weights are JSON `{"weights": {bone: [[vertex, weight], ...]}}`. Coordinates are decimetres.
"""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass

import numpy as np

DECIMETRE = 0.1   # MakeHuman units -> metres


@dataclass
class BaseMesh:
    """The hm08 base mesh: vertices (V,3) in metres, quads (Q,4), per-corner UV indices (Q,4),
    UVs (T,2), and the face group name of each quad."""

    verts: np.ndarray
    quads: np.ndarray
    quad_uvs: np.ndarray
    uvs: np.ndarray
    quad_group: np.ndarray   # (Q,) str


def parse_obj(text: str) -> BaseMesh:
    """Parse MakeHuman's quad OBJ (`v`, `vt`, `g`, `f a/ta b/tb c/tc d/td`)."""
    verts, uvs, quads, quad_uvs, groups = [], [], [], [], []
    group = ""
    for line in text.splitlines():
        if line.startswith("v "):
            verts.append([float(t) for t in line.split()[1:4]])
        elif line.startswith("vt "):
            uvs.append([float(t) for t in line.split()[1:3]])
        elif line.startswith("g "):
            group = line[2:].strip()
        elif line.startswith("f "):
            corners = [c.split("/") for c in line.split()[1:]]
            if len(corners) != 4:
                raise ValueError(f"hm08 faces are quads; got a face with {len(corners)} corners")
            quads.append([int(c[0]) - 1 for c in corners])
            quad_uvs.append([int(c[1]) - 1 if len(c) > 1 and c[1] else -1 for c in corners])
            groups.append(group)
    return BaseMesh(verts=np.asarray(verts) * DECIMETRE, quads=np.asarray(quads, dtype=np.int64),
                    quad_uvs=np.asarray(quad_uvs, dtype=np.int64), uvs=np.asarray(uvs),
                    quad_group=np.asarray(groups))


def parse_vertex_groups(text: str) -> dict[str, np.ndarray]:
    """Group name -> sorted vertex indices (ranges [a, b] are inclusive)."""
    out = {}
    for name, items in json.loads(text).items():
        idx: list[int] = []
        for item in items:
            if isinstance(item, list):
                idx.extend(range(int(item[0]), int(item[1]) + 1))
            else:
                idx.append(int(item))
        out[name] = np.asarray(sorted(idx), dtype=np.int64)
    return out


def parse_target(data: bytes, num_verts: int) -> np.ndarray:
    """A (V,3) offset field in metres from a `.target` or `.target.gz` file's bytes."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    rows = [line.split() for line in data.decode("ascii").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    out = np.zeros((num_verts, 3))
    if rows:
        table = np.asarray(rows, dtype=np.float64)
        out[table[:, 0].astype(np.int64)] = table[:, 1:4] * DECIMETRE
    return out


def parse_weights(text: str, num_verts: int) -> dict[str, np.ndarray]:
    """Bone name -> (V,) skinning weight of every vertex (0 where the bone is absent)."""
    out = {}
    for bone, pairs in json.loads(text)["weights"].items():
        w = np.zeros(num_verts)
        if pairs:
            table = np.asarray(pairs, dtype=np.float64)
            w[table[:, 0].astype(np.int64)] = table[:, 1]
        out[bone] = w
    return out
