"""Region masks of the head from MPFB2's UV-space masks (CC0), sampled at surface points.

MPFB2 paints its skin regions (lips, ...) as greyscale masks over the hm08 UV layout; sampling
them at a point's UV gives the vermilion border where the modellers drew it rather than a
guessed ellipse.
"""
from __future__ import annotations

import cv2
import numpy as np

from splat.human.source import MPFB, MakeHumanData

LIPS_MASK = MPFB + "textures/mpfb_lips.jpg"
INSIDE_MOUTH_MASK = MPFB + "textures/mpfb_inside-mouth.jpg"


def read_mask(data: MakeHumanData, member: str) -> np.ndarray:
    """A greyscale mask (H,W) in [0,1]."""
    raw = np.frombuffer(data.read(member), dtype=np.uint8)
    image = cv2.imdecode(raw, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"{member}: not a decodable image")
    return image.astype(np.float64) / 255.0


def sample_mask(mask: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear samples at UVs (N,2) (v up, OBJ convention); points without UV (-1) get 0."""
    h, w = mask.shape
    valid = (uv >= 0).all(axis=1)
    px = np.clip(uv[:, 0], 0, 1) * (w - 1)
    py = (1.0 - np.clip(uv[:, 1], 0, 1)) * (h - 1)
    x0, y0 = np.floor(px).astype(np.int64), np.floor(py).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = px - x0, py - y0
    top = mask[y0, x0] * (1 - fx) + mask[y0, x1] * fx
    bottom = mask[y1, x0] * (1 - fx) + mask[y1, x1] * fx
    return np.where(valid, top * (1 - fy) + bottom * fy, 0.0)


def vertex_uvs(faces: np.ndarray, face_uv: np.ndarray, num_verts: int) -> np.ndarray:
    """One UV per vertex (the first corner that has one; -1 where none does)."""
    out = np.full((num_verts, 2), -1.0)
    flat_v, flat_uv = faces.ravel(), face_uv.reshape(-1, 2)
    has = (flat_uv >= 0).all(axis=1)
    # Reverse order so the first occurrence wins the fancy-index assignment.
    out[flat_v[has][::-1]] = flat_uv[has][::-1]
    return out
