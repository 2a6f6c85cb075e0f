"""Per-Gaussian stage of the CPU renderer: EWA projection, screen bounds and SH colour.

Follows gsplat's "classic" 3DGS forward pass so the CPU and CUDA backends agree pixel for pixel:
covariance from quaternion + scale, Jacobian of the pinhole projection (with gsplat's clamp of
off-screen means, which keeps the Jacobian sane at the image border), a 0.3 px² low-pass on the
2D covariance without opacity compensation, and an opacity-aware bounding box (the ellipse where
alpha drops below 1/255, capped at 3.33 sigma) so that tile binning never drops a visible pixel.
One compiled loop over Gaussians, parallel over both cores.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from splat.render.cpu_lowlevel import ceil_int

EPS2D = 0.3  # px², gsplat's low-pass added to the 2D covariance diagonal
ALPHA_MIN = 1.0 / 255.0  # contributions below this are skipped (8-bit invisible)
MAX_EXTENT_SIGMA = 3.33  # cap of the opacity-aware bounding box, in standard deviations

# cpu_raster's and cpu_bin's cached kernels freeze the constants they import from here (numba
# re-compiles a cached function only when its own file changes): touch those files too when
# changing these (and cpu_bin.py when changing cpu_raster.TILE).

# Columns of the packed per-Gaussian screen record. conic (a, b, c) is the inverse 2D covariance
# [[a, b], [b, c]]; sigma_cut is the exponent beyond which alpha < 1/255; extent is the bounding
# box half-size in pixels (0 = culled).
SPLAT_X, SPLAT_Y, SPLAT_CONIC_A, SPLAT_CONIC_B, SPLAT_CONIC_C = 0, 1, 2, 3, 4
SPLAT_OPACITY, SPLAT_SIGMA_CUT, SPLAT_EXTENT_X, SPLAT_EXTENT_Y, SPLAT_RGB = 5, 6, 7, 8, 9
SPLAT_COLUMNS = 12

# Real spherical-harmonics constants (the 3DGS / gsplat convention, degrees 0..3).
SH_C0 = 0.28209479177387814
SH_C1 = 0.4886025119029199
SH_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
SH_C3 = (
    -0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
    -0.4570457994644658, 1.445305721320277, -0.5900435899266435,
)


@numba.njit(cache=True, inline="always")
def _sh_to_rgb(sh: np.ndarray, g: int, n_coeffs: int, x: float, y: float, z: float, out: np.ndarray) -> None:
    """max(SH(dir) + 0.5, 0) for Gaussian g into out (3,); dir = (x, y, z) is unit length."""
    xx, yy, zz = x * x, y * y, z * z
    for c in range(3):
        v = SH_C0 * sh[g, 0, c]
        if n_coeffs > 1:
            v += SH_C1 * (-y * sh[g, 1, c] + z * sh[g, 2, c] - x * sh[g, 3, c])
        if n_coeffs > 4:
            v += (
                SH_C2[0] * x * y * sh[g, 4, c]
                + SH_C2[1] * y * z * sh[g, 5, c]
                + SH_C2[2] * (2.0 * zz - xx - yy) * sh[g, 6, c]
                + SH_C2[3] * x * z * sh[g, 7, c]
                + SH_C2[4] * (xx - yy) * sh[g, 8, c]
            )
        if n_coeffs > 9:
            v += (
                SH_C3[0] * y * (3.0 * xx - yy) * sh[g, 9, c]
                + SH_C3[1] * x * y * z * sh[g, 10, c]
                + SH_C3[2] * y * (4.0 * zz - xx - yy) * sh[g, 11, c]
                + SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy) * sh[g, 12, c]
                + SH_C3[4] * x * (4.0 * zz - xx - yy) * sh[g, 13, c]
                + SH_C3[5] * z * (xx - yy) * sh[g, 14, c]
                + SH_C3[6] * x * (xx - 3.0 * yy) * sh[g, 15, c]
            )
        out[c] = max(v + 0.5, 0.0)


@numba.njit(parallel=True, cache=True)
def project_gaussians(
    means: np.ndarray, quats: np.ndarray, scales: np.ndarray, opacities: np.ndarray, sh: np.ndarray,
    viewmat: np.ndarray, K: np.ndarray, width: int, height: int, near: float, far: float,
    splats: np.ndarray, depth: np.ndarray,
) -> None:
    """Fill one packed screen-space record per Gaussian (see the SPLAT_* columns) and its depth.

    A record with zero extent marks a culled Gaussian. Packing everything the compositor reads
    into one 48-byte row keeps its random accesses to one cache line per Gaussian.
    """
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    r00, r01, r02, t0 = viewmat[0, 0], viewmat[0, 1], viewmat[0, 2], viewmat[0, 3]
    r10, r11, r12, t1 = viewmat[1, 0], viewmat[1, 1], viewmat[1, 2], viewmat[1, 3]
    r20, r21, r22, t2 = viewmat[2, 0], viewmat[2, 1], viewmat[2, 2], viewmat[2, 3]
    # Camera centre in world space, for view directions of SH colour.
    ox = -(r00 * t0 + r10 * t1 + r20 * t2)
    oy = -(r01 * t0 + r11 * t1 + r21 * t2)
    oz = -(r02 * t0 + r12 * t1 + r22 * t2)
    # gsplat clamps the mean used by the Jacobian to 1.3x the half field of view.
    tan_fovx = 0.5 * width / fx
    tan_fovy = 0.5 * height / fy
    lim_x_pos = (width - cx) / fx + 0.3 * tan_fovx
    lim_x_neg = cx / fx + 0.3 * tan_fovx
    lim_y_pos = (height - cy) / fy + 0.3 * tan_fovy
    lim_y_neg = cy / fy + 0.3 * tan_fovy
    n_coeffs = sh.shape[1]
    for g in numba.prange(means.shape[0]):
        out = splats[g]
        out[SPLAT_EXTENT_X] = 0.0
        out[SPLAT_EXTENT_Y] = 0.0
        px, py, pz = means[g, 0], means[g, 1], means[g, 2]
        x = r00 * px + r01 * py + r02 * pz + t0
        y = r10 * px + r11 * py + r12 * pz + t1
        z = r20 * px + r21 * py + r22 * pz + t2
        if z < near or z > far:
            continue
        opacity = opacities[g]
        if opacity < ALPHA_MIN:
            continue
        # World covariance M M^T with M = R(q) diag(s).
        qw, qx, qy, qz = quats[g, 0], quats[g, 1], quats[g, 2], quats[g, 3]
        inv_norm = 1.0 / math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
        qw, qx, qy, qz = qw * inv_norm, qx * inv_norm, qy * inv_norm, qz * inv_norm
        sx, sy, sz = scales[g, 0], scales[g, 1], scales[g, 2]
        m00 = (1.0 - 2.0 * (qy * qy + qz * qz)) * sx
        m01 = 2.0 * (qx * qy - qw * qz) * sy
        m02 = 2.0 * (qx * qz + qw * qy) * sz
        m10 = 2.0 * (qx * qy + qw * qz) * sx
        m11 = (1.0 - 2.0 * (qx * qx + qz * qz)) * sy
        m12 = 2.0 * (qy * qz - qw * qx) * sz
        m20 = 2.0 * (qx * qz - qw * qy) * sx
        m21 = 2.0 * (qy * qz + qw * qx) * sy
        m22 = (1.0 - 2.0 * (qx * qx + qy * qy)) * sz
        # Rows of the projection Jacobian times the view rotation, applied to M:
        # covariance in pixels = (J W M)(J W M)^T, so only the 2x3 product A = J W M is needed.
        inv_z = 1.0 / z
        tx = z * min(lim_x_pos, max(-lim_x_neg, x * inv_z))
        ty = z * min(lim_y_pos, max(-lim_y_neg, y * inv_z))
        j00, j02 = fx * inv_z, -fx * tx * inv_z * inv_z
        j11, j12 = fy * inv_z, -fy * ty * inv_z * inv_z
        # P = J W (2x3)
        p00 = j00 * r00 + j02 * r20
        p01 = j00 * r01 + j02 * r21
        p02 = j00 * r02 + j02 * r22
        p10 = j11 * r10 + j12 * r20
        p11 = j11 * r11 + j12 * r21
        p12 = j11 * r12 + j12 * r22
        a00 = p00 * m00 + p01 * m10 + p02 * m20
        a01 = p00 * m01 + p01 * m11 + p02 * m21
        a02 = p00 * m02 + p01 * m12 + p02 * m22
        a10 = p10 * m00 + p11 * m10 + p12 * m20
        a11 = p10 * m01 + p11 * m11 + p12 * m21
        a12 = p10 * m02 + p11 * m12 + p12 * m22
        c00 = a00 * a00 + a01 * a01 + a02 * a02 + EPS2D
        c01 = a00 * a10 + a01 * a11 + a02 * a12
        c11 = a10 * a10 + a11 * a11 + a12 * a12 + EPS2D
        det = c00 * c11 - c01 * c01
        if det <= 0.0:
            continue
        sigma_cut = math.log(opacity / ALPHA_MIN)
        sigma_extent = min(MAX_EXTENT_SIGMA, math.sqrt(2.0 * sigma_cut))
        rx = float(ceil_int(sigma_extent * math.sqrt(c00)))
        ry = float(ceil_int(sigma_extent * math.sqrt(c11)))
        u = fx * x * inv_z + cx
        v = fy * y * inv_z + cy
        if u + rx <= 0.0 or u - rx >= width or v + ry <= 0.0 or v - ry >= height:
            continue
        inv_det = 1.0 / det
        out[SPLAT_X] = u
        out[SPLAT_Y] = v
        out[SPLAT_CONIC_A] = c11 * inv_det
        out[SPLAT_CONIC_B] = -c01 * inv_det
        out[SPLAT_CONIC_C] = c00 * inv_det
        out[SPLAT_OPACITY] = opacity
        out[SPLAT_SIGMA_CUT] = sigma_cut
        out[SPLAT_EXTENT_X] = rx
        out[SPLAT_EXTENT_Y] = ry
        depth[g] = z
        if n_coeffs == 1:  # degree 0: no view direction needed
            _sh_to_rgb(sh, g, 1, 0.0, 0.0, 1.0, out[SPLAT_RGB:SPLAT_RGB + 3])
            continue
        dx, dy, dz = px - ox, py - oy, pz - oz
        inv_len = 1.0 / math.sqrt(dx * dx + dy * dy + dz * dz)
        _sh_to_rgb(sh, g, n_coeffs, dx * inv_len, dy * inv_len, dz * inv_len, out[SPLAT_RGB:SPLAT_RGB + 3])
