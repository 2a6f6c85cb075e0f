"""The project's own CPU renderer: gsplat's conventions, numba-compiled, tiled over all cores.

gsplat has no CPU path, so machines without CUDA (and the test suite) render here. Stages:
project (per Gaussian, parallel) -> sort by depth + bin (counting sort into 16x16 tiles) ->
composite (per tile, parallel). Kernels are compiled once and cached on disk (numba cache=True);
`warmup()` loads or compiles them up front so the first real frame is not the slow one.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

import numba
import numpy as np
import torch

from splat.cameras import Camera
from splat.gaussians import WorldGaussians
from splat.render.cpu_project import SPLAT_COLUMNS, project_gaussians
from splat.render.cpu_bin import sort_and_bin
from splat.render.cpu_raster import TILE, composite_tiles

# Numba's default "omp" layer shares the OpenMP runtime with torch's CPU build: they reset each
# other's thread counts and spin-wait on the same two cores, which measured 4-6x slower
# rig+binding and ~1.5x slower compositing in one process. The "workqueue" layer keeps numba's
# threads to itself; it must not be entered from two threads at once, hence `_launch_lock`.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"
_launch_lock = threading.Lock()


def _as_f32(tensor: torch.Tensor) -> np.ndarray:
    """C-contiguous float32 host array (one numba specialisation, no copy when already so)."""
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())


def render_cpu(
    gaussians: WorldGaussians,
    camera: Camera,
    background: Sequence[float] = (1.0, 1.0, 1.0),
    timings: dict[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render to (image (H,W,3) float32 in [0,1], alpha (H,W) float32).

    `timings`, when given, accumulates seconds spent in "project", "sort+bin" and "composite".
    """
    if gaussians.means.ndim != 2:
        shape = tuple(gaussians.means.shape)
        raise ValueError(f"render one frame at a time: means must be (N,3), got {shape}")
    with _launch_lock:
        return _render_locked(gaussians, camera, background, timings)


def _render_locked(
    gaussians: WorldGaussians, camera: Camera, background: Sequence[float], timings: dict[str, float] | None
) -> tuple[np.ndarray, np.ndarray]:
    t0 = time.perf_counter()
    means, quats, scales = _as_f32(gaussians.means), _as_f32(gaussians.quats), _as_f32(gaussians.scales)
    opacities, sh = _as_f32(gaussians.opacities).reshape(-1), _as_f32(gaussians.sh)
    n = means.shape[0]
    width, height = camera.width, camera.height
    splats = np.empty((n, SPLAT_COLUMNS), np.float32)
    depth = np.empty(n, np.float32)
    project_gaussians(
        means, quats, scales, opacities, sh, camera.viewmat, camera.K, width, height,
        float(camera.near), float(camera.far), splats, depth,
    )
    t1 = time.perf_counter()
    tiles_x, tiles_y = -(-width // TILE), -(-height // TILE)
    offsets, ids = sort_and_bin(splats, depth, tiles_x, tiles_y)
    t2 = time.perf_counter()
    image = np.empty((height, width, 3), np.float32)
    alpha = np.empty((height, width), np.float32)
    bg = np.asarray(background, dtype=np.float32).reshape(3)
    composite_tiles(splats, offsets, ids, tiles_x, numba.get_num_threads(), bg, image, alpha)
    t3 = time.perf_counter()
    if timings is not None:
        timings["project"] = timings.get("project", 0.0) + t1 - t0
        timings["sort+bin"] = timings.get("sort+bin", 0.0) + t2 - t1
        timings["composite"] = timings.get("composite", 0.0) + t3 - t2
    return image, alpha


_warm = False


def warmup() -> None:
    """Compile (or load from the on-disk cache) every kernel once, with a one-Gaussian scene."""
    global _warm
    if _warm:
        return
    from splat.cameras import orbit_camera

    one = WorldGaussians(
        means=torch.zeros(1, 3), quats=torch.tensor([[1.0, 0.0, 0.0, 0.0]]),
        scales=torch.full((1, 3), 0.01), opacities=torch.ones(1), sh=torch.zeros(1, 1, 3),
    )
    render_cpu(one, orbit_camera(0.0, 0.0, 1.0, width=TILE, height=TILE))
    _warm = True
