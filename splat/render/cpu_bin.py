"""Depth sort and tile binning of projected Gaussians on the CPU: one compiled pass, no numpy temporaries.

Front-to-back order must keep index order among equal depths, as gsplat's radix sort does:
mirrored Gaussians seen head-on tie exactly, and an unstable sort layers them differently from
frame to frame and from gsplat. A least-significant-digit radix sort of the depths' float32 bit
patterns (positive floats order like their bits) is stable by construction and linear; digits
on which every key agrees (the sign and most of the exponent) are skipped. Binning is then a
counting sort: the sorted records are visited once and appended to every 16x16 tile their
bounding box touches, so each tile's list comes out depth-sorted with ascending record indices
(cache-friendly reads for the compositor). Together this measured ~5x faster than the numpy
version it replaced (a uint64 key np.sort, a fancy-index gather and a separate binning loop).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from splat.render.cpu_project import SPLAT_EXTENT_X, SPLAT_EXTENT_Y, SPLAT_X, SPLAT_Y
from splat.render.cpu_raster import TILE

_RADIX_BITS = 8
_RADIX = 1 << _RADIX_BITS


@numba.njit(cache=True)
def depth_order(depth: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Indices of the `visible` entries of `depth` (all > 0), front to back, ties in index order."""
    n = visible.shape[0]
    keys = np.empty(n, dtype=np.uint32)
    order = np.empty(n, dtype=np.int64)
    bits = depth.view(np.uint32)
    for i in range(n):
        order[i] = visible[i]
        keys[i] = bits[visible[i]]
    keys_tmp = np.empty(n, dtype=np.uint32)
    order_tmp = np.empty(n, dtype=np.int64)
    count = np.empty(_RADIX, dtype=np.int64)
    for shift in range(0, 32, _RADIX_BITS):
        count[:] = 0
        for i in range(n):
            count[(keys[i] >> shift) & (_RADIX - 1)] += 1
        if n == 0 or count[(keys[0] >> shift) & (_RADIX - 1)] == n:
            continue  # every key has this digit: the pass would not move anything
        total = 0
        for d in range(_RADIX):
            c = count[d]
            count[d] = total
            total += c
        for i in range(n):
            d = (keys[i] >> shift) & (_RADIX - 1)
            keys_tmp[count[d]] = keys[i]
            order_tmp[count[d]] = order[i]
            count[d] += 1
        keys, keys_tmp = keys_tmp, keys
        order, order_tmp = order_tmp, order
    return order


@numba.njit(cache=True)
def sort_and_bin(splats: np.ndarray, depth: np.ndarray, tiles_x: int, tiles_y: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(records of the visible splats front to back, per-tile offsets, per-tile record indices).

    A record with zero extent is culled. Tile t (row-major) composites
    ordered[ids[offsets[t]:offsets[t+1]]].
    """
    n_all = splats.shape[0]
    n_visible = 0
    for g in range(n_all):
        if splats[g, SPLAT_EXTENT_X] > 0.0:
            n_visible += 1
    visible = np.empty(n_visible, dtype=np.int64)
    j = 0
    for g in range(n_all):
        if splats[g, SPLAT_EXTENT_X] > 0.0:
            visible[j] = g
            j += 1
    order = depth_order(depth, visible)
    n = order.shape[0]
    ordered = np.empty((n, splats.shape[1]), dtype=splats.dtype)
    rect = np.empty((n, 4), dtype=np.int32)
    offsets = np.zeros(tiles_x * tiles_y + 1, dtype=np.int64)
    for i in range(n):
        for c in range(splats.shape[1]):
            ordered[i, c] = splats[order[i], c]
        x, y = ordered[i, SPLAT_X], ordered[i, SPLAT_Y]
        ex, ey = ordered[i, SPLAT_EXTENT_X], ordered[i, SPLAT_EXTENT_Y]
        x0 = max(0, int(math.floor((x - ex) / TILE)))
        x1 = min(tiles_x, int(math.floor((x + ex) / TILE)) + 1)
        y0 = max(0, int(math.floor((y - ey) / TILE)))
        y1 = min(tiles_y, int(math.floor((y + ey) / TILE)) + 1)
        rect[i, 0], rect[i, 1], rect[i, 2], rect[i, 3] = x0, y0, x1, y1
        for ty in range(y0, y1):
            for tx in range(x0, x1):
                offsets[ty * tiles_x + tx + 1] += 1
    for t in range(tiles_x * tiles_y):
        offsets[t + 1] += offsets[t]
    cursor = offsets[:-1].copy()
    ids = np.empty(offsets[-1], dtype=np.int32)
    for i in range(n):
        for ty in range(rect[i, 1], rect[i, 3]):
            for tx in range(rect[i, 0], rect[i, 2]):
                t = ty * tiles_x + tx
                ids[cursor[t]] = i
                cursor[t] += 1
    return ordered, offsets, ids
