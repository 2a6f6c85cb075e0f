"""Accumulates the parts of the head into one vertex/face array with per-vertex labels.

The rig is a single mesh (FLAME layout) made of several connected components; every builder
appends its vertices here and gets their global indices back, so parts can share vertices (the
inner lips start on the skin's mouth slit) and later stages can select vertices by part.
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np


class Part(IntEnum):
    """What each vertex belongs to (drives skinning, masks and colour)."""

    SKIN = 0
    EYEBALL = 1
    INNER_LIP = 2
    CAVITY = 3
    TEETH_UPPER = 4
    TEETH_LOWER = 5
    TONGUE = 6
    EAR = 7


class MeshBuilder:
    """Growing vertex/face lists plus named per-vertex float attributes (default 0)."""

    def __init__(self) -> None:
        self._verts: list[np.ndarray] = []
        self._faces: list[np.ndarray] = []
        self._parts: list[np.ndarray] = []
        self._attrs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.count = 0

    def add_vertices(self, verts: np.ndarray, part: Part, **attrs: np.ndarray) -> np.ndarray:
        """Append vertices (N,3) of one part; returns their global indices."""
        verts = np.asarray(verts, dtype=np.float64).reshape(-1, 3)
        idx = np.arange(self.count, self.count + len(verts))
        self._verts.append(verts)
        self._parts.append(np.full(len(verts), int(part), dtype=np.int64))
        for name, values in attrs.items():
            self._attrs.setdefault(name, []).append((idx, np.broadcast_to(values, (len(verts),))))
        self.count += len(verts)
        return idx

    def add_faces(self, faces: np.ndarray) -> None:
        """Append triangles given in global vertex indices."""
        self._faces.append(np.asarray(faces, dtype=np.int64).reshape(-1, 3))

    def set_attr(self, name: str, idx: np.ndarray, values: np.ndarray | float) -> None:
        """Set an attribute on already added vertices."""
        idx = np.asarray(idx)
        self._attrs.setdefault(name, []).append((idx, np.broadcast_to(values, idx.shape)))

    def build(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(verts (V,3), faces (F,3), part (V,), attributes name -> (V,))."""
        attrs: dict[str, np.ndarray] = {}
        for name, chunks in self._attrs.items():
            arr = np.zeros(self.count)
            for idx, values in chunks:
                arr[idx] = values
            attrs[name] = arr
        return (np.concatenate(self._verts), np.concatenate(self._faces),
                np.concatenate(self._parts), attrs)


def grid_faces(rows: np.ndarray, closed: bool) -> np.ndarray:
    """Two triangles per cell of a (R,C) index grid; `closed` wraps the columns."""
    a, b = rows[:-1], np.roll(rows[:-1], -1, axis=1)
    d, c = rows[1:], np.roll(rows[1:], -1, axis=1)
    if not closed:
        a, b, c, d = a[:, :-1], b[:, :-1], c[:, :-1], d[:, :-1]
    return np.concatenate([np.stack([a, d, b], -1).reshape(-1, 3),
                           np.stack([b, d, c], -1).reshape(-1, 3)])
