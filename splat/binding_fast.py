"""The triangle binding of `splat.binding.bind_gaussians` as two compiled loops, for live CPU frames.

The torch version is the reference (differentiable, batched, used for training and assets); per
live frame it cost 5-13 ms on one core for the default avatar's 56k Gaussians, most of it in
batched 3x3/4x4 products and the temporaries between ~20 tensor ops. Here one loop builds each
face's frame (rotation, scale, centroid and its quaternion) and a second applies it to the
Gaussians bound to that face: the same maths in a fraction of a millisecond (tests/test_binding.py
holds the two to 1e-5). Serial on purpose: it is too short to pay for waking numba's threads,
and it then needs no launch lock. No fastmath: reassociated sums break the exact depth ties of
mirrored Gaussians that the renderers' stable order relies on (measured: 1e-3 image changes).
"""
from __future__ import annotations

import math

import numba
import numpy as np
import torch

from splat.binding import AvatarTensors
from splat.gaussians import WorldGaussians

FACE_COLUMNS = 17  # k*R (9, row-major), T (3), k (1), face quaternion w,x,y,z (4)
_NORM_EPS = 1e-12  # torch.nn.functional.normalize's floor on the norm


@numba.njit(cache=True, inline="always")
def _unit(x: float, y: float, z: float) -> tuple[float, float, float]:
    inv = 1.0 / max(math.sqrt(x * x + y * y + z * z), _NORM_EPS)
    return x * inv, y * inv, z * inv


@numba.njit(cache=True)
def face_table(verts: np.ndarray, faces: np.ndarray, out: np.ndarray) -> None:
    """Per face (see FACE_COLUMNS): `triangle_frames` and `matrix_to_quaternion` of splat.binding."""
    for f in range(faces.shape[0]):
        i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
        e1x, e1y, e1z = verts[i1, 0] - verts[i0, 0], verts[i1, 1] - verts[i0, 1], verts[i1, 2] - verts[i0, 2]
        e2x, e2y, e2z = verts[i2, 0] - verts[i0, 0], verts[i2, 1] - verts[i0, 1], verts[i2, 2] - verts[i0, 2]
        a0x, a0y, a0z = _unit(e1x, e1y, e1z)
        a1x, a1y, a1z = _unit(a0y * e2z - a0z * e2y, a0z * e2x - a0x * e2z, a0x * e2y - a0y * e2x)
        a2x, a2y, a2z = _unit(a1y * a0z - a1z * a0y, a1z * a0x - a1x * a0z, a1x * a0y - a1y * a0x)
        a2x, a2y, a2z = -a2x, -a2y, -a2z
        k = 0.5 * (math.sqrt(e1x * e1x + e1y * e1y + e1z * e1z) + abs(a2x * e2x + a2y * e2y + a2z * e2z))
        # R has columns a0 | a1 | a2.
        m00, m01, m02 = a0x, a1x, a2x
        m10, m11, m12 = a0y, a1y, a2y
        m20, m21, m22 = a0z, a1z, a2z
        row = out[f]
        row[0], row[1], row[2] = k * m00, k * m01, k * m02
        row[3], row[4], row[5] = k * m10, k * m11, k * m12
        row[6], row[7], row[8] = k * m20, k * m21, k * m22
        row[9] = (verts[i0, 0] + verts[i1, 0] + verts[i2, 0]) / 3.0
        row[10] = (verts[i0, 1] + verts[i1, 1] + verts[i2, 1]) / 3.0
        row[11] = (verts[i0, 2] + verts[i1, 2] + verts[i2, 2]) / 3.0
        row[12] = k
        # Shepperd's method from the largest of 2|w|, 2|x|, 2|y|, 2|z|, as matrix_to_quaternion.
        sw = math.sqrt(max(1.0 + m00 + m11 + m22, 0.0))
        sx = math.sqrt(max(1.0 + m00 - m11 - m22, 0.0))
        sy = math.sqrt(max(1.0 - m00 + m11 - m22, 0.0))
        sz = math.sqrt(max(1.0 - m00 - m11 + m22, 0.0))
        if sw >= sx and sw >= sy and sw >= sz:
            qw, qx, qy, qz, d = sw * sw, m21 - m12, m02 - m20, m10 - m01, sw
        elif sx >= sy and sx >= sz:
            qw, qx, qy, qz, d = m21 - m12, sx * sx, m10 + m01, m02 + m20, sx
        elif sy >= sz:
            qw, qx, qy, qz, d = m02 - m20, m10 + m01, sy * sy, m12 + m21, sy
        else:
            qw, qx, qy, qz, d = m10 - m01, m20 + m02, m21 + m12, sz * sz, sz
        d = 2.0 * max(d, 0.1)
        qw, qx, qy, qz = qw / d, qx / d, qy / d, qz / d
        inv = 1.0 / max(math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz), _NORM_EPS)
        if qw < 0.0:
            inv = -inv
        row[13], row[14], row[15], row[16] = qw * inv, qx * inv, qy * inv, qz * inv


@numba.njit(cache=True)
def bind_to_faces(table: np.ndarray, binding: np.ndarray, xyz: np.ndarray, quats: np.ndarray,
                  scales: np.ndarray, means_out: np.ndarray, quats_out: np.ndarray,
                  scales_out: np.ndarray) -> None:
    """World means k R x + T, quaternions q_face * q (normalised) and scales k s per Gaussian."""
    for g in range(binding.shape[0]):
        row = table[binding[g]]
        x, y, z = xyz[g, 0], xyz[g, 1], xyz[g, 2]
        means_out[g, 0] = row[0] * x + row[1] * y + row[2] * z + row[9]
        means_out[g, 1] = row[3] * x + row[4] * y + row[5] * z + row[10]
        means_out[g, 2] = row[6] * x + row[7] * y + row[8] * z + row[11]
        aw, ax, ay, az = row[13], row[14], row[15], row[16]
        bw, bx, by, bz = quats[g, 0], quats[g, 1], quats[g, 2], quats[g, 3]
        qw = aw * bw - ax * bx - ay * by - az * bz
        qx = aw * bx + ax * bw + ay * bz - az * by
        qy = aw * by - ax * bz + ay * bw + az * bx
        qz = aw * bz + ax * by - ay * bx + az * bw
        inv = 1.0 / max(math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz), _NORM_EPS)
        quats_out[g, 0], quats_out[g, 1], quats_out[g, 2], quats_out[g, 3] = qw * inv, qx * inv, qy * inv, qz * inv
        k = row[12]
        scales_out[g, 0], scales_out[g, 1], scales_out[g, 2] = scales[g, 0] * k, scales[g, 1] * k, scales[g, 2] * k


class FastBinder:
    """`bind_gaussians` for one avatar on the CPU, one frame at a time, without autograd.

    Reads the avatar's tensors at every call (host views, no copies for the float32/int64 CPU
    tensors AvatarTensors holds), so edits to them show up as with `bind_gaussians`. Each call
    returns new arrays: the caller may keep a frame while the next is made.
    """

    def __init__(self, tensors: AvatarTensors) -> None:
        if tensors.binding is None:
            raise ValueError("FastBinder needs an avatar bound to a mesh")
        self.tensors = tensors
        self.table = np.empty((tensors.faces.shape[0], FACE_COLUMNS), np.float32)

    def __call__(self, verts: torch.Tensor) -> WorldGaussians:
        """World-space Gaussians for one deformed mesh `verts` (V,3)."""
        t = self.tensors
        face_table(_host(verts, np.float32), _host(t.faces, np.int64), self.table)
        binding = _host(t.binding, np.int64)
        n = binding.shape[0]
        means, quats, scales = np.empty((n, 3), np.float32), np.empty((n, 4), np.float32), np.empty((n, 3), np.float32)
        bind_to_faces(self.table, binding, _host(t.xyz, np.float32), _host(t.quats, np.float32),
                      _host(t.scales, np.float32), means, quats, scales)
        return WorldGaussians(means=torch.from_numpy(means), quats=torch.from_numpy(quats),
                              scales=torch.from_numpy(scales), opacities=t.opacities, sh=t.sh)


def _host(tensor: torch.Tensor, dtype: type) -> np.ndarray:
    """A contiguous host array of `tensor` (a view when it already is one)."""
    return np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=dtype)
