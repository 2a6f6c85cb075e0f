"""splat.mesh_ops: the one home of mesh geometry (areas, outward normals, closest points,
Umeyama similarity, trimmed ICP)."""
import numpy as np
from scipy.spatial.transform import Rotation

from splat.mesh_ops import (Similarity, closest_points_on_nearby_triangles,
                            closest_points_on_triangles, triangle_areas, trimmed_icp, umeyama,
                            vertex_areas, vertex_normals)
from tests.test_retarget import uv_sphere

SIM = Similarity(1.15, Rotation.from_euler("xyz", [8, -12, 5], degrees=True).as_matrix(),
                 np.array([0.01, -0.02, 0.03]))


def test_umeyama_recovers_a_similarity():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(8, 3))
    sim = umeyama(src, SIM.apply(src), np.ones(8))
    assert np.isclose(sim.scale, SIM.scale) and np.allclose(sim.R, SIM.R)
    assert np.allclose(sim.t, SIM.t)


def test_closest_point_inside_edge_and_corner():
    a, b, c = (np.tile(np.float64(x), (3, 1)) for x in ([0, 0, 0], [1, 0, 0], [0, 1, 0]))
    p = np.array([[0.2, 0.2, 0.5], [0.5, -1.0, 0.0], [2.0, -1.0, 0.0]])
    points, bary = closest_points_on_triangles(p, a, b, c)
    assert np.allclose(points, [[0.2, 0.2, 0], [0.5, 0, 0], [1, 0, 0]])
    assert np.allclose(bary.sum(1), 1) and np.allclose(bary[2], [0, 1, 0])


def test_normals_point_outwards_whatever_the_winding():
    verts, faces = uv_sphere(20, 40)
    outward = vertex_normals(verts, faces)
    assert np.all(np.einsum("ij,ij->i", outward, verts) > 0.99)      # unit sphere: n == x
    assert np.allclose(vertex_normals(verts, faces[:, ::-1]), outward, atol=1e-12)


def test_areas_sum_to_the_surface():
    verts, faces = uv_sphere(40, 80)
    total = triangle_areas(verts, faces).sum()
    assert abs(total - 4 * np.pi) < 0.02 * 4 * np.pi
    assert np.isclose(vertex_areas(verts, faces).sum(), total)


def test_nearby_triangles_contain_the_true_closest_point():
    verts, faces = uv_sphere(20, 40)
    rng = np.random.default_rng(1)
    p = rng.normal(size=(50, 3))
    p *= (1.1 / np.linalg.norm(p, axis=1))[:, None]
    tri, closest, bary = closest_points_on_nearby_triangles(p, verts[faces], k=8)
    assert tri.shape == (50, 8) and closest.shape == bary.shape == (50, 8, 3)
    best = np.linalg.norm(closest - p[:, None], axis=2).min(axis=1)
    assert np.all(np.abs(best - 0.1) < 0.02)                          # sphere radius ~1


def test_trimmed_icp_ignores_outliers():
    rng = np.random.default_rng(2)
    src = rng.normal(size=(200, 3))
    dst = SIM.apply(src)
    dst[:20] += rng.normal(size=(20, 3)) * 3.0                      # 10% gross outliers

    def match(sim: Similarity):                                     # known pairing
        return src, np.linalg.norm(sim.apply(src) - dst, axis=1), np.ones(len(src), bool)

    start = Similarity(1.0, np.eye(3), np.zeros(3))
    sim = trimmed_icp(start, match, dst, np.ones(len(src)), iterations=10)
    assert np.isclose(sim.scale, SIM.scale, atol=1e-6) and np.allclose(sim.R, SIM.R, atol=1e-6)
