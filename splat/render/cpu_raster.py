"""Tile binning and front-to-back compositing of projected Gaussians on the CPU.

The projected records arrive already sorted front to back (one numpy argsort + gather), so
binning is a counting sort: records are visited once in that order and appended to every 16x16
tile their bounding box touches, and each tile's list comes out depth-sorted with ascending
record indices (cache-friendly reads). Compositing runs one tile per task over both cores
(prange). Inside a tile each Gaussian visits, row by row, only the pixels inside its
alpha = 1/255 ellipse; pixels that reached the transmittance floor are skipped and the tile stops
once all of them have. The per-pixel rule is gsplat's: alpha = min(0.999, o * exp(-sigma)),
skipped below 1/255, and a pixel is finished (without the Gaussian that would take it under 1e-4
transmittance) exactly as in gsplat's forward kernel.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from splat.render.cpu_project import (
    ALPHA_MIN, SPLAT_CONIC_A, SPLAT_CONIC_B, SPLAT_CONIC_C, SPLAT_EXTENT_X, SPLAT_EXTENT_Y,
    SPLAT_OPACITY, SPLAT_RGB, SPLAT_SIGMA_CUT, SPLAT_X, SPLAT_Y,
)

TILE = 16
ALPHA_MAX = 0.999  # gsplat's cap (the original 3DGS code used 0.99)
T_MIN = 1e-4  # transmittance at which a pixel counts as opaque
CHORD_SLACK = 1e-3  # exponent margin of the per-row ellipse clipping (far above float rounding)


@numba.njit(cache=True)
def bin_splats(splats: np.ndarray, tiles_x: int, tiles_y: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile record indices, ids[offsets[t]:offsets[t+1]] for tile t (row-major).

    `splats` holds only visible records, sorted front to back; lists inherit that order.
    """
    n = splats.shape[0]
    rect = np.empty((n, 4), dtype=np.int32)
    offsets = np.zeros(tiles_x * tiles_y + 1, dtype=np.int64)
    for i in range(n):
        x, y = splats[i, SPLAT_X], splats[i, SPLAT_Y]
        ex, ey = splats[i, SPLAT_EXTENT_X], splats[i, SPLAT_EXTENT_Y]
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
    return offsets, ids


@numba.njit(parallel=True, cache=True, fastmath=True)
def composite_tiles(
    splats: np.ndarray, offsets: np.ndarray, ids: np.ndarray, tile_order: np.ndarray, tiles_x: int,
    background: np.ndarray, image: np.ndarray, alpha: np.ndarray,
) -> None:
    """Composite every tile of `tile_order` into image (H,W,3) and alpha (H,W)."""
    height, width = alpha.shape
    for i in numba.prange(tile_order.shape[0]):
        t = tile_order[i]
        x0 = (t % tiles_x) * TILE
        y0 = (t // tiles_x) * TILE
        x1 = min(x0 + TILE, width)
        y1 = min(y0 + TILE, height)
        trans = np.ones(TILE * TILE, dtype=np.float32)
        color = np.zeros((TILE * TILE, 3), dtype=np.float32)
        done = np.zeros(TILE * TILE, dtype=np.bool_)
        n_left = (x1 - x0) * (y1 - y0)
        for k in range(offsets[t], offsets[t + 1]):
            s = splats[ids[k]]
            gx, gy = s[SPLAT_X], s[SPLAT_Y]
            ca, cb, cc = s[SPLAT_CONIC_A], s[SPLAT_CONIC_B], s[SPLAT_CONIC_C]
            op, sigma_cut = s[SPLAT_OPACITY], s[SPLAT_SIGMA_CUT]
            cr, cg, cbl = s[SPLAT_RGB], s[SPLAT_RGB + 1], s[SPLAT_RGB + 2]
            # Rows of pixel centres (p + 0.5) inside the bounding box, clipped to the tile.
            py0 = max(y0, int(math.ceil(gy - s[SPLAT_EXTENT_Y] - 0.5)))
            py1 = min(y1, int(math.floor(gy + s[SPLAT_EXTENT_Y] - 0.5)) + 1)
            for py in range(py0, py1):
                dy = gy - (py + 0.5)
                # Columns where sigma <= sigma_cut: the row's chord through the alpha = 1/255
                # ellipse (roots of 0.5*ca*dx^2 + cb*dy*dx + 0.5*cc*dy^2 - sigma_cut), so pixels
                # of the bounding box outside the ellipse cost nothing. The chord is widened by
                # CHORD_SLACK so rounding never drops a pixel; the alpha test below decides.
                disc = (cb * cb - ca * cc) * dy * dy + 2.0 * ca * (sigma_cut + CHORD_SLACK)
                if disc < 0.0:
                    continue
                root = math.sqrt(disc)
                px0 = max(x0, int(math.ceil(gx + (cb * dy - root) / ca - 0.5)))
                px1 = min(x1, int(math.floor(gx + (cb * dy + root) / ca - 0.5)) + 1)
                row = (py - y0) * TILE - x0
                for px in range(px0, px1):
                    p = row + px
                    if done[p]:
                        continue
                    dx = gx - (px + 0.5)
                    sigma = 0.5 * (ca * dx * dx + cc * dy * dy) + cb * dx * dy
                    if sigma < 0.0:
                        continue
                    a = min(ALPHA_MAX, op * math.exp(-sigma))
                    if a < ALPHA_MIN:
                        continue
                    t_now = trans[p]
                    t_next = t_now * (1.0 - a)
                    if t_next <= T_MIN:
                        done[p] = True
                        n_left -= 1
                        continue
                    w = a * t_now
                    color[p, 0] += w * cr
                    color[p, 1] += w * cg
                    color[p, 2] += w * cbl
                    trans[p] = t_next
            if n_left == 0:
                break
        for py in range(y0, y1):
            for px in range(x0, x1):
                p = (py - y0) * TILE + px - x0
                t_p = trans[p]
                for c in range(3):
                    image[py, px, c] = min(1.0, max(0.0, color[p, c] + t_p * background[c]))
                alpha[py, px] = 1.0 - t_p
