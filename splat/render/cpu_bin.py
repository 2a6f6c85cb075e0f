"""Depth sort and tile binning of projected Gaussians on the CPU: one compiled pass, no numpy temporaries.

Front-to-back order must keep index order among equal depths, as gsplat's radix sort does:
mirrored Gaussians seen head-on tie exactly, and an unstable sort layers them differently from
frame to frame and from gsplat. A least-significant-digit radix sort of the depths' float32 bit
patterns (positive floats order like their bits) is stable by construction and linear; digits
on which every key agrees (the sign and most of the exponent) are skipped. Binning is then a
counting sort: tiles are counted in index order (sequential reads), then the Gaussians are
visited front to back and their indices appended to every 16x16 tile their bounding box
touches, so each tile's list comes out depth-sorted. The records themselves are not reordered:
the compositor prefetches them through the lists (a depth-ordered copy cost half of this
stage and bought nothing once it did). Together this measured ~5x faster than the numpy version
it replaced (a uint64 key np.sort, a fancy-index gather and a separate binning loop).
"""
from __future__ import annotations

import numba
import numpy as np

from splat.render.cpu_lowlevel import floor_int, prefetch_row
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


@numba.njit(cache=True, inline="always")
def _tile_rect(record: np.ndarray, tiles_x: int, tiles_y: int) -> tuple[int, int, int, int]:
    """Tiles (x0, y0, x1, y1), end exclusive, that a record's bounding box touches."""
    x, y = record[SPLAT_X], record[SPLAT_Y]
    ex, ey = record[SPLAT_EXTENT_X], record[SPLAT_EXTENT_Y]
    x0 = max(0, floor_int((x - ex) / TILE))
    x1 = min(tiles_x, floor_int((x + ex) / TILE) + 1)
    y0 = max(0, floor_int((y - ey) / TILE))
    y1 = min(tiles_y, floor_int((y + ey) / TILE) + 1)
    return x0, y0, x1, y1


@numba.njit(cache=True)
def sort_and_bin(splats: np.ndarray, depth: np.ndarray, tiles_x: int, tiles_y: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(per-tile offsets, per-tile record indices front to back).

    A record with zero extent is culled. Tile t (row-major) composites
    splats[ids[offsets[t]:offsets[t+1]]].
    """
    n_all = splats.shape[0]
    visible = np.empty(n_all, dtype=np.int64)
    rect = np.empty((n_all, 4), dtype=np.int32)
    offsets = np.zeros(tiles_x * tiles_y + 1, dtype=np.int64)
    n_visible = 0
    for g in range(n_all):
        if splats[g, SPLAT_EXTENT_X] <= 0.0:
            continue
        visible[n_visible] = g
        n_visible += 1
        x0, y0, x1, y1 = _tile_rect(splats[g], tiles_x, tiles_y)
        rect[g, 0], rect[g, 1], rect[g, 2], rect[g, 3] = x0, y0, x1, y1
        for ty in range(y0, y1):
            for tx in range(x0, x1):
                offsets[ty * tiles_x + tx + 1] += 1
    for t in range(tiles_x * tiles_y):
        offsets[t + 1] += offsets[t]
    order = depth_order(depth, visible[:n_visible])
    n = order.shape[0]
    cursor = offsets[:-1].copy()
    ids = np.empty(offsets[-1], dtype=np.int32)
    for i in range(n):
        if i + 16 < n:
            prefetch_row(rect, order[i + 16])
        g = order[i]
        for ty in range(rect[g, 1], rect[g, 3]):
            for tx in range(rect[g, 0], rect[g, 2]):
                t = ty * tiles_x + tx
                ids[cursor[t]] = g
                cursor[t] += 1
    return offsets, ids
