"""Small smooth scalar fields shared by the geometry and appearance builders."""
from __future__ import annotations

import numpy as np


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 at edge0 to 1 at edge1 (edges may be given in either order)."""
    t = np.clip((np.asarray(x, dtype=np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def bump(x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    """Anisotropic Gaussian bump of height 1 at (cx, cy)."""
    return np.exp(-((x - cx) / rx) ** 2 - ((y - cy) / ry) ** 2)


def spow(v: np.ndarray, e: float) -> np.ndarray:
    """Signed power: keeps the sign of v (superellipse coordinates)."""
    return np.sign(v) * np.abs(v) ** e


def normalize(v: np.ndarray) -> np.ndarray:
    """Unit vectors along the last axis (zero vectors stay zero)."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)
