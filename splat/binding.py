"""GaussianAvatars triangle binding: local Gaussian attributes ride the deformed mesh.

Each Gaussian lives in the frame of one parent triangle (rotation R, uniform scale k, origin T,
REFERENCE.md §2). Per frame the rig deforms the mesh, the frames are rebuilt, and the local
attributes become the world-space Gaussians every renderer consumes. All of it is vectorised
torch so it is cheap per frame and differentiable for training and asset fitting.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from splat.gaussians import WorldGaussians

if TYPE_CHECKING:
    from splat.avatar import GaussianAvatar


def triangle_frames(verts: torch.Tensor, faces: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-face frames of a mesh: R (...,F,3,3) columns [a0|a1|a2], k (...,F), T (...,F,3).

    `verts` may be (V,3) or batched (B,V,3); a0 runs along edge v0->v1, a1 is the face normal,
    a2 completes a right-handed frame; k averages the first edge length and the height over it.
    """
    tri = verts.index_select(-2, faces.reshape(-1)).unflatten(-2, (faces.shape[0], 3))
    v0, v1, v2 = tri.unbind(-2)
    e1, e2 = v1 - v0, v2 - v0
    a0 = F.normalize(e1, dim=-1)
    a1 = F.normalize(torch.cross(a0, e2, dim=-1), dim=-1)
    a2 = -F.normalize(torch.cross(a1, a0, dim=-1), dim=-1)
    R = torch.stack([a0, a1, a2], dim=-1)
    k = 0.5 * (torch.linalg.vector_norm(e1, dim=-1) + (a2 * e2).sum(-1).abs())
    T = (v0 + v1 + v2) / 3.0
    return R, k, T


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (...,3,3) -> unit quaternions (...,4) w,x,y,z with w >= 0.

    Builds the quaternion from whichever of w,x,y,z is largest (Shepperd's method), so it stays
    accurate near 180-degree rotations where the trace-only formula divides by ~0.
    """
    m = R.reshape(*R.shape[:-2], 9)
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m.unbind(-1)
    sq = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                      1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1)
    # 2*|w|, 2*|x|, 2*|y|, 2*|z|; the floor keeps sqrt's gradient finite where a component is 0
    # (identity-like frames), which made every gradient through the binding NaN.
    q_abs = torch.sqrt(sq.clamp_min(1e-12))
    candidates = torch.stack([
        torch.stack([q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], dim=-1),
        torch.stack([m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20], dim=-1),
        torch.stack([m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21], dim=-1),
        torch.stack([m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2], dim=-1),
    ], dim=-2)                                                    # row i = 2*q_abs[i] * q
    candidates = candidates / (2.0 * q_abs.clamp_min(0.1)[..., None])
    best = q_abs.argmax(dim=-1)
    q = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = F.normalize(q, dim=-1)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Quaternions (...,4) w,x,y,z (any norm) -> rotation matrices (...,3,3)."""
    w, x, y, z = F.normalize(q, dim=-1).unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1).reshape(*q.shape[:-1], 3, 3)


def quaternion_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a ⊗ b of (...,4) w,x,y,z quaternions (b is applied first)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], dim=-1)


def quaternion_left_matrix(q: torch.Tensor) -> torch.Tensor:
    """(...,4) -> (...,4,4) matrix L with L @ p == q ⊗ p: a batched product as one matmul."""
    w, x, y, z = q.unbind(-1)
    return torch.stack([w, -x, -y, -z,
                        x, w, -z, y,
                        y, z, w, -x,
                        z, -y, x, w], dim=-1).unflatten(-1, (4, 4))


@dataclass
class AvatarTensors:
    """An avatar's Gaussians as activated torch tensors, ready to bind every frame.

    Activation (exp, sigmoid, quaternion normalisation) happens once here, not per frame.
    xyz (N,3) local (world when `binding` is None); scales (N,3) exp(log_scale); quats (N,4)
    unit local rotations; opacities (N,); sh (N,K,3); binding (N,) long or None; faces (F,3) long
    of the rig the binding indexes.
    """

    xyz: torch.Tensor
    scales: torch.Tensor
    quats: torch.Tensor
    opacities: torch.Tensor
    sh: torch.Tensor
    binding: torch.Tensor | None
    faces: torch.Tensor

    @classmethod
    def from_avatar(cls, avatar: "GaussianAvatar", faces: np.ndarray | torch.Tensor,
                    device: torch.device | str | None = None) -> "AvatarTensors":
        f32 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)  # noqa: E731
        return cls(
            xyz=f32(avatar.xyz),
            scales=torch.exp(f32(avatar.log_scales)),
            quats=F.normalize(f32(avatar.quats), dim=-1),
            opacities=torch.sigmoid(f32(avatar.opacity_logits)),
            sh=f32(avatar.sh),
            binding=(None if avatar.binding is None
                     else torch.as_tensor(avatar.binding, dtype=torch.long, device=device)),
            faces=torch.as_tensor(faces, dtype=torch.long, device=device),
        )

    def to(self, device: torch.device | str) -> "AvatarTensors":
        return AvatarTensors(*(None if t is None else t.to(device) for t in (
            self.xyz, self.scales, self.quats, self.opacities, self.sh, self.binding, self.faces)))


def bind_gaussians(avatar_tensors: AvatarTensors, verts: torch.Tensor) -> WorldGaussians:
    """World-space Gaussians for a deformed mesh `verts` (V,3), or (B,V,3) for B frames.

    Batched input gives batched fields (B,N,...) with opacities and SH broadcast (no copies).
    A world-space avatar (no binding) is returned as-is whatever the mesh does.
    """
    a = avatar_tensors
    if a.binding is None:
        return WorldGaussians(means=a.xyz, quats=a.quats, scales=a.scales,
                              opacities=a.opacities, sh=a.sh)
    R, k, T = triangle_frames(verts, a.faces)
    # Everything per face first (F < N), then one gather: [k*R | T | k | left-multiply(q_face)].
    L = quaternion_left_matrix(matrix_to_quaternion(R))
    table = torch.cat([(k[..., None, None] * R).flatten(-2), T, k[..., None], L.flatten(-2)], -1)
    g = table.index_select(-2, a.binding)       # far faster than indexing behind an ellipsis
    kR, T, k, L = g[..., :9].unflatten(-1, (3, 3)), g[..., 9:12], g[..., 12:13], g[..., 13:]
    means = (kR @ a.xyz.unsqueeze(-1)).squeeze(-1) + T
    quats = F.normalize((L.unflatten(-1, (4, 4)) @ a.quats.unsqueeze(-1)).squeeze(-1), dim=-1)
    scales = a.scales * k
    batch = means.shape[:-2]
    return WorldGaussians(means=means, quats=quats, scales=scales,
                          opacities=a.opacities.expand(*batch, -1),
                          sh=a.sh.expand(*batch, *a.sh.shape))


def world_to_local(means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor,
                   binding: torch.Tensor, verts: torch.Tensor, faces: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inverse of the binding, for authoring assets in world space.

    Given world means (N,3), quats (N,4) w,x,y,z, activated scales (N,3), the parent face of
    each Gaussian and the rest mesh, returns (local xyz, unit local quats, local log-scales)
    such that `bind_gaussians` on the same mesh reproduces the inputs.
    """
    R, k, T = triangle_frames(verts, faces)
    R, k, T = R[binding], k[binding], T[binding]
    xyz = (R.transpose(-1, -2) @ (means - T).unsqueeze(-1)).squeeze(-1) / k[:, None]
    q_face = matrix_to_quaternion(R)
    q_face_inv = q_face * torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=q_face.dtype,
                                       device=q_face.device)
    local_q = F.normalize(quaternion_multiply(q_face_inv, F.normalize(quats, dim=-1)), dim=-1)
    log_scales = torch.log(scales / k[:, None])
    return xyz, local_q, log_scales


def nearest_faces(points: torch.Tensor, verts: torch.Tensor, faces: torch.Tensor,
                  chunk: int = 4096) -> torch.Tensor:
    """Index of the face whose centroid is nearest each point (N,3): a binding for authoring."""
    centroids = verts[faces].mean(dim=1)
    out = [torch.cdist(points[i:i + chunk], centroids).argmin(dim=1)
           for i in range(0, points.shape[0], chunk)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=points.device)
