"""Front-to-back compositing of binned Gaussians (splat.render.cpu_bin) on the CPU.

Each worker (prange) takes every n-th tile; inside a tile each Gaussian updates whole 4x4-pixel
blocks of its bounding box in float32 with masks instead of branches, so a block is a handful
of AVX instructions (16-pixel rows this way measured 1.6-2x faster than the scalar per-pixel
loop with exact ellipse chords before them). The per-pixel rule is gsplat's: alpha =
min(0.999, o * exp(-sigma)), skipped below 1/255 or for sigma < 0, and a pixel is finished
(without the Gaussian that would take it under 1e-4 transmittance) exactly as in gsplat's
forward kernel; finished blocks are skipped and a tile stops once all are.
"""
from __future__ import annotations

import numba
import numpy as np

from splat.render.cpu_lowlevel import ceil_int, floor_int, prefetch_row
from splat.render.cpu_project import (
    ALPHA_MIN, SPLAT_CONIC_A, SPLAT_CONIC_B, SPLAT_CONIC_C, SPLAT_EXTENT_X, SPLAT_EXTENT_Y,
    SPLAT_OPACITY, SPLAT_RGB, SPLAT_X, SPLAT_Y,
)

TILE = 16
ALPHA_MAX = 0.999  # gsplat's cap (the original 3DGS code used 0.99)
T_MIN = 1e-4  # transmittance at which a pixel counts as opaque
# Exponents beyond this give alpha < 1/255 for any opacity <= 1 (log 255 = 5.54), so _exp_neg
# needs to be accurate only up to here.
SIGMA_CLAMP = np.float32(6.0)
_F = np.float32
ALPHA_MAX_F, ALPHA_MIN_F, T_MIN_F = _F(ALPHA_MAX), _F(ALPHA_MIN), _F(T_MIN)


@numba.njit(cache=True, inline="always")
def _exp_neg(s: float) -> float:
    """exp(-s) for 0 <= s <= SIGMA_CLAMP in float32, as plain arithmetic so the row loop vectorises.

    numba has no vector exp (no SVML here): a scalar call per pixel kept the whole loop scalar.
    exp(-s) = exp(-s/16)^16 with a degree-7 Taylor polynomial: relative error < 2e-6 (float32
    rounding of the squarings), far below one 8-bit step.
    """
    x = s * _F(-1.0 / 16.0)
    p = _F(1.0 / 5040.0)
    p = p * x + _F(1.0 / 720.0)
    p = p * x + _F(1.0 / 120.0)
    p = p * x + _F(1.0 / 24.0)
    p = p * x + _F(1.0 / 6.0)
    p = p * x + _F(0.5)
    p = p * x + _F(1.0)
    p = p * x + _F(1.0)
    p = p * p
    p = p * p
    p = p * p
    return p * p


# A tile is composited in blocks of BLOCK_W x BLOCK_H pixels, one 16-float vector each. The
# default head's Gaussians cover ~2 live pixels per 16-pixel row at 256² (3 at 512²), so rows
# wasted most lanes; 4x4 blocks visit ~9 vectors per Gaussian where rows visited ~13.5 and made
# the compositor ~1.3x faster (8x2 blocks were slower than rows).
BLOCK_W, BLOCK_H = 4, 4
BLOCK = BLOCK_W * BLOCK_H  # pixels per block = vector lanes
BLOCKS_X = TILE // BLOCK_W
# Channels of the per-worker tile buffer (blocks x 4 channels x BLOCK lanes): one array, so LLVM
# sees the channels of a block at fixed offsets from one pointer and vectorises the blend
# without the runtime overlap checks it emitted for four separate arrays.
_TRANS, _RED, _GREEN, _BLUE = 0, 1, 2, 3


@numba.njit(cache=True, inline="always", fastmath=True)
def _blend_block(block: np.ndarray, gx: float, gy: float, half_a: float, b: float, half_c: float,
                 op: float, cr: float, cg: float, cb: float) -> int:
    """Blend one Gaussian into one block (channels x lanes); returns how many pixels it finished.

    (gx, gy) is the mean relative to the block's first pixel centre. gsplat's per-pixel rule
    as masks instead of branches, over the whole block (the alpha test leaves out the pixels
    outside the 1/255 ellipse), so LLVM emits it as a few AVX instructions. A finished pixel (the
    Gaussian would take it under T_MIN, and is left out as in gsplat) keeps its transmittance
    negated: the live test is a sign check, with no extra array.
    """
    finished = 0
    for j in range(BLOCK):
        dx = gx - _F(j % BLOCK_W)
        dy = gy - _F(j // BLOCK_W)
        sigma = dx * (half_a * dx + b * dy) + half_c * dy * dy
        a = min(ALPHA_MAX_F, op * _exp_neg(min(sigma, SIGMA_CLAMP)))
        t_now = block[_TRANS, j]
        t_next = t_now * (_F(1.0) - a)
        hit = (sigma >= _F(0.0)) & (a >= ALPHA_MIN_F) & (t_now > _F(0.0))
        done = hit & (t_next <= T_MIN_F)
        blend = hit & ~done
        wgt = a * t_now if blend else _F(0.0)
        block[_RED, j] += wgt * cr
        block[_GREEN, j] += wgt * cg
        block[_BLUE, j] += wgt * cb
        block[_TRANS, j] = t_next if blend else (-t_now if done else t_now)
        finished += done
    return finished


@numba.njit(cache=True, inline="always")
def _live_bits(block: np.ndarray) -> int:
    """Bit j set while pixel j of a block is unfinished (positive transmittance), as one
    vectorisable reduction rather than 16 compare-and-branch steps."""
    bits = 0
    for j in range(BLOCK):
        bits |= (1 << j) if block[_TRANS, j] > _F(0.0) else 0
    return bits


@numba.njit(cache=True, inline="always")
def _block_bits(columns: int, rows: int, ox: int, oy: int) -> int:
    """Lane bits of the block whose first pixel is (ox, oy) in the tile, for a pixel set given
    as 16-bit tile column and row masks: the block's column bits copied into each of its rows
    the set covers (a multiply by the spread row bits: no carries, no loop, no branch)."""
    c = (columns >> ox) & ((1 << BLOCK_W) - 1)
    r = rows >> oy
    spread = 0
    for ly in range(BLOCK_H):
        spread |= ((r >> ly) & 1) << (ly * BLOCK_W)
    return c * spread


@numba.njit(parallel=True, cache=True, fastmath=True)
def composite_tiles(
    splats: np.ndarray, offsets: np.ndarray, ids: np.ndarray, tiles_x: int, n_workers: int,
    background: np.ndarray, image: np.ndarray, alpha: np.ndarray,
) -> None:
    """Composite every tile into image (H,W,3) and alpha (H,W); worker w takes tiles w, w+n, ...

    Tile t reads splats[ids[offsets[t]:offsets[t+1]]] (cpu_bin.sort_and_bin), prefetching a few
    records ahead: the loop body is too long for the CPU to reach the next random load itself.
    Interleaving (rather than prange's one contiguous block per thread) balances the cores, as
    the head sits in the middle of the image. Each Gaussian visits the blocks its bounding box
    covers, skipping those where the box covers only finished pixels; a tile stops once all are
    finished. Buffers are per worker, not per tile: a frame allocates nothing per tile.
    """
    height, width = alpha.shape
    n_tiles = offsets.shape[0] - 1
    n_blocks = (TILE // BLOCK_H) * BLOCKS_X
    for w in numba.prange(n_workers):
        buf = np.empty((n_blocks, 4, BLOCK), dtype=np.float32)
        live = np.empty(n_blocks, dtype=np.int64)  # per block: bit j set while pixel j is unfinished
        for t in range(w, n_tiles, n_workers):
            x0 = (t % tiles_x) * TILE
            y0 = (t // tiles_x) * TILE
            x1 = min(x0 + TILE, width)
            y1 = min(y0 + TILE, height)
            buf[:, _RED:, :] = _F(0.0)
            inside_c, inside_r = (1 << (x1 - x0)) - 1, (1 << (y1 - y0)) - 1
            for blk in range(n_blocks):  # pixels past the image edge start finished
                live[blk] = _block_bits(inside_c, inside_r, (blk % BLOCKS_X) * BLOCK_W, (blk // BLOCKS_X) * BLOCK_H)
                for j in range(BLOCK):
                    buf[blk, _TRANS, j] = _F(1.0) if live[blk] >> j & 1 else _F(-1.0)
            n_left = (x1 - x0) * (y1 - y0)
            end = offsets[t + 1]
            for k in range(offsets[t], end):
                if k + 8 < end:
                    prefetch_row(splats, ids[k + 8])
                s = splats[ids[k]]
                ca, cb, cc = s[SPLAT_CONIC_A], s[SPLAT_CONIC_B], s[SPLAT_CONIC_C]
                op = s[SPLAT_OPACITY]
                cr, cg, cbl = s[SPLAT_RGB], s[SPLAT_RGB + 1], s[SPLAT_RGB + 2]
                gx = s[SPLAT_X] - _F(x0 + 0.5)  # mean relative to the tile's first pixel centre
                gy = s[SPLAT_Y] - _F(y0 + 0.5)
                half_a, half_c = _F(0.5) * ca, _F(0.5) * cc
                # Pixel centres inside the bounding box, clipped to the tile, and the blocks they
                # fall in: a block whose covered pixels are all finished costs a test, not a blend
                # (the box holds the alpha = 1/255 ellipse unless the 3.33-sigma cap bites,
                # opacity > 0.9999, as the row limits always did).
                ey, ex = s[SPLAT_EXTENT_Y], s[SPLAT_EXTENT_X]
                r0 = max(0, ceil_int(gy - ey))
                r1 = min(y1 - y0, floor_int(gy + ey) + 1)
                c0 = max(0, ceil_int(gx - ex))
                c1 = min(TILE, floor_int(gx + ex) + 1)
                if c0 >= c1 or r0 >= r1:
                    continue
                columns = ((1 << (c1 - c0)) - 1) << c0
                rows = ((1 << (r1 - r0)) - 1) << r0
                for by in range(r0 // BLOCK_H, (r1 - 1) // BLOCK_H + 1):
                    oy = by * BLOCK_H
                    for bx in range(c0 // BLOCK_W, (c1 - 1) // BLOCK_W + 1):
                        ox = bx * BLOCK_W
                        blk = by * BLOCKS_X + bx
                        if live[blk] & _block_bits(columns, rows, ox, oy) == 0:
                            continue
                        finished = _blend_block(buf[blk], gx - _F(ox), gy - _F(oy), half_a, cb, half_c,
                                                op, cr, cg, cbl)
                        if finished:
                            n_left -= finished
                            live[blk] = _live_bits(buf[blk])
                if n_left == 0:
                    break
            for py in range(y0, y1):
                r = py - y0
                for px in range(x0, x1):
                    c = px - x0
                    blk = (r // BLOCK_H) * BLOCKS_X + c // BLOCK_W
                    j = (r % BLOCK_H) * BLOCK_W + c % BLOCK_W
                    t_p = abs(buf[blk, _TRANS, j])
                    image[py, px, 0] = min(_F(1.0), max(_F(0.0), buf[blk, _RED, j] + t_p * background[0]))
                    image[py, px, 1] = min(_F(1.0), max(_F(0.0), buf[blk, _GREEN, j] + t_p * background[1]))
                    image[py, px, 2] = min(_F(1.0), max(_F(0.0), buf[blk, _BLUE, j] + t_p * background[2]))
                    alpha[py, px] = _F(1.0) - t_p
