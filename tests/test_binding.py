"""Triangle binding: frames, local<->world transforms and quaternion conventions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from splat.avatar import GaussianAvatar
from splat.binding import (AvatarTensors, bind_gaussians, matrix_to_quaternion, nearest_faces,
                           quaternion_multiply, quaternion_to_matrix, triangle_frames,
                           world_to_local)
from splat.rig import axis_angle_to_matrix


def _mesh_and_avatar(seed: int = 0, n: int = 200):
    g = np.random.default_rng(seed)
    verts = torch.as_tensor(g.normal(size=(30, 3)), dtype=torch.float32)
    faces = torch.as_tensor(np.stack([g.choice(30, 3, replace=False) for _ in range(40)]))
    avatar = GaussianAvatar(
        xyz=g.normal(size=(n, 3)).astype(np.float32) * 0.3,
        log_scales=g.normal(size=(n, 3)).astype(np.float32) - 3,
        quats=g.normal(size=(n, 4)).astype(np.float32),
        opacity_logits=g.normal(size=n).astype(np.float32),
        sh=g.normal(size=(n, 4, 3)).astype(np.float32),
        binding=g.integers(0, 40, n),
    )
    return verts, faces, avatar, AvatarTensors.from_avatar(avatar, faces)


def _same_rotation(q1: torch.Tensor, q2: torch.Tensor) -> bool:
    return bool(torch.minimum((q1 - q2).abs().amax(-1), (q1 + q2).abs().amax(-1)).max() < 1e-5)


def test_frames_are_orthonormal_right_handed_with_the_normal_as_y():
    verts, faces, _, _ = _mesh_and_avatar()
    R, k, T = triangle_frames(verts, faces)
    eye = torch.eye(3).expand_as(R)
    assert torch.allclose(R.transpose(-1, -2) @ R, eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(len(faces)), atol=1e-5)
    v0, v1, v2 = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    normal = torch.nn.functional.normalize(torch.cross(v1 - v0, v2 - v0, dim=-1), dim=-1)
    assert torch.allclose(R[..., 1], normal, atol=1e-5)
    height = (torch.cross(v1 - v0, v2 - v0, dim=-1).norm(dim=-1) / (v1 - v0).norm(dim=-1))
    assert torch.allclose(k, 0.5 * ((v1 - v0).norm(dim=-1) + height), atol=1e-5)
    assert torch.allclose(T, (v0 + v1 + v2) / 3)


def test_gaussians_ride_their_triangle_under_rigid_motion_and_uniform_scaling():
    verts, faces, _, tensors = _mesh_and_avatar()
    base = bind_gaussians(tensors, verts)
    R = axis_angle_to_matrix(torch.tensor([0.4, -1.1, 2.0]))
    t = torch.tensor([0.3, -0.2, 1.5])
    for s in (1.0, 2.5):
        moved = bind_gaussians(tensors, s * verts @ R.T + t)
        assert torch.allclose(moved.means, s * base.means @ R.T + t, atol=1e-5)
        assert torch.allclose(moved.scales, s * base.scales, rtol=1e-5)
        q_motion = matrix_to_quaternion(R).expand_as(base.quats)
        assert _same_rotation(moved.quats, quaternion_multiply(q_motion, base.quats))
        assert torch.equal(moved.opacities, base.opacities) and torch.equal(moved.sh, base.sh)


def test_world_attributes_follow_the_reference_formula():
    verts, faces, avatar, tensors = _mesh_and_avatar()
    world = bind_gaussians(tensors, verts)
    R, k, T = triangle_frames(verts, faces)
    b = torch.as_tensor(avatar.binding)
    xyz = torch.as_tensor(avatar.xyz)
    assert torch.allclose(world.means, k[b, None] * (R[b] @ xyz[..., None])[..., 0] + T[b], atol=1e-6)
    # Quaternion order: the world rotation matrix is R_face @ R_local (face on the left).
    local_R = quaternion_to_matrix(torch.as_tensor(avatar.quats))
    assert torch.allclose(quaternion_to_matrix(world.quats), R[b] @ local_R, atol=1e-5)
    assert torch.allclose(world.quats.norm(dim=-1), torch.ones(len(b)), atol=1e-6)
    assert torch.allclose(world.scales, torch.exp(torch.as_tensor(avatar.log_scales)) * k[b, None])
    assert torch.allclose(world.opacities, torch.sigmoid(torch.as_tensor(avatar.opacity_logits)))


def test_batched_frames_match_single_frames():
    verts, _, _, tensors = _mesh_and_avatar()
    batch = torch.stack([verts, verts * 1.3, verts + 1.0])
    world = bind_gaussians(tensors, batch)
    assert world.means.shape == (3, 200, 3) and world.sh.shape == (3, 200, 4, 3)
    for i in range(3):
        single = bind_gaussians(tensors, batch[i])
        assert torch.allclose(world.means[i], single.means, atol=1e-6)
        assert torch.allclose(world.quats[i], single.quats, atol=1e-6)


def test_world_to_local_inverts_the_binding():
    verts, faces, avatar, tensors = _mesh_and_avatar()
    world = bind_gaussians(tensors, verts)
    xyz, quats, log_scales = world_to_local(world.means, world.quats, world.scales,
                                            tensors.binding, verts, faces)
    assert torch.allclose(xyz, tensors.xyz, atol=1e-5)
    assert _same_rotation(quats, tensors.quats)
    assert torch.allclose(log_scales, torch.as_tensor(avatar.log_scales), atol=1e-5)


@pytest.mark.parametrize("angle", [0.0, 1e-4, 1.0, np.pi - 1e-4, np.pi])
def test_matrix_to_quaternion_is_robust(angle):
    axes = torch.nn.functional.normalize(torch.randn(64, 3, generator=torch.Generator().manual_seed(2)), dim=-1)
    R = axis_angle_to_matrix(axes * angle)
    q = matrix_to_quaternion(R)
    assert torch.allclose(quaternion_to_matrix(q), R, atol=1e-5)
    assert torch.allclose(q.norm(dim=-1), torch.ones(64), atol=1e-6)


def test_world_space_avatar_passes_through_and_nearest_faces():
    verts, faces, avatar, _ = _mesh_and_avatar()
    avatar.binding = None
    tensors = AvatarTensors.from_avatar(avatar, faces)
    world = bind_gaussians(tensors, verts * 3)
    assert torch.equal(world.means, torch.as_tensor(avatar.xyz))
    centroids = verts[faces].mean(1)
    assert torch.equal(nearest_faces(centroids + 1e-4, verts, faces, chunk=7), torch.arange(40))


def test_compiled_binding_matches_the_torch_binding():
    # The live CPU path binds with splat.binding_fast; it must give bind_gaussians' Gaussians,
    # including faces whose frame needs each branch of the quaternion extraction.
    from splat.binding_fast import FastBinder

    verts, faces, _, tensors = _mesh_and_avatar(seed=5, n=400)
    for motion in (torch.zeros(3), torch.tensor([3.0, 0.2, -0.1]), torch.tensor([0.1, -3.0, 0.4])):
        moved = verts @ axis_angle_to_matrix(motion).T
        want = bind_gaussians(tensors, moved)
        got = FastBinder(tensors)(moved)
        assert torch.allclose(got.means, want.means, atol=1e-5)
        assert torch.allclose(got.scales, want.scales, rtol=1e-5, atol=1e-7)
        assert _same_rotation(got.quats, want.quats)
        assert got.opacities is tensors.opacities and got.sh is tensors.sh
