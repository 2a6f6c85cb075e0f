"""Scenes and image comparisons shared by the renderer parity tests (CUDA and CPU-port)."""
from __future__ import annotations

import numpy as np
import torch

from splat.gaussians import WorldGaussians


def head_scene(n: int, sh_degree: int, seed: int = 0) -> WorldGaussians:
    """Gaussians on an ellipsoid shell of head size with random orientation, opacity and SH."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    spacing = np.sqrt(4 * np.pi * 0.095**2 / n)
    scales = np.stack([rng.uniform(0.5, 1.5, n) * spacing, rng.uniform(0.5, 1.5, n) * spacing,
                       np.full(n, 0.2 * spacing)], axis=1)
    sh = rng.normal(scale=0.15, size=(n, (sh_degree + 1) ** 2, 3))
    sh[:, 0] = rng.uniform(-1.0, 1.0, (n, 3))
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    return WorldGaussians(
        means=t(d * [0.08, 0.11, 0.10]), quats=t(rng.normal(size=(n, 4))), scales=t(scales),
        opacities=t(rng.uniform(0.05, 1.0, n)), sh=t(sh),
    )


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two [0,1] images in dB."""
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-20))
