"""Triangle-mesh geometry shared by asset generation and retargeting (numpy, float64 in/out).

One module, like Kaolin's mesh ops, so each quantity has one definition: triangle areas and the
surface share of each vertex, normals, closest points on triangles, the weighted similarity
between point sets (Umeyama) and a trimmed similarity ICP. Nothing here knows about rigs,
audio or Gaussians.

Normals convention (everywhere in the project): area-weighted, pointing *outwards*. A face's
normal follows its winding (right-hand rule, (b-a) x (c-a)); a mesh wound the other way as a
whole (more normal area pointing towards its centroid than away from it) has every normal
flipped, so two meshes' normals compare whatever winding their authors chose.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation


# ---------------------------------------------------------------------------- areas, normals

def _face_cross(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(b-a) x (c-a) per face: twice the area along the winding's normal."""
    tri = verts[faces]
    return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])


def triangle_areas(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F,) area of each triangle."""
    return 0.5 * np.linalg.norm(_face_cross(verts, faces), axis=1)


def vertex_areas(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V,) a third of the incident triangle areas: the surface measure each vertex stands for."""
    area = triangle_areas(verts, faces)
    out = np.zeros(len(verts))
    for k in range(3):
        np.add.at(out, faces[:, k], area / 3)
    return out


def stratified_surface_samples(verts: np.ndarray, faces: np.ndarray, weight: np.ndarray,
                               total: int, rng: np.random.Generator
                               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(face of each point, barycentrics, spacing per face) for ~`total` points spread by area x
    `weight`: stratified counts per face, and low-discrepancy points within each face (an R2
    sequence from a random start, folded into the triangle), so even spacing leaves no thin
    spots for a surface behind to show through. Spacing is per face so callers can clamp it."""
    area = triangle_areas(verts, faces)
    w = area * weight
    expected = total * w / w.sum()
    counts = np.floor(expected).astype(np.int64)
    counts += rng.random(len(counts)) < (expected - counts)
    face = np.repeat(np.arange(len(counts)), counts)
    k = np.arange(len(face)) - np.repeat(np.cumsum(counts) - counts, counts)
    start = rng.random((len(counts), 2))[face]
    uv = np.mod(start + k[:, None] * np.array([0.7548776662466927, 0.5698402909980532]), 1.0)
    fold = uv.sum(axis=1) > 1.0
    uv[fold] = 1.0 - uv[fold]
    bary = np.stack([1.0 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], axis=1)
    return face, bary, np.sqrt(area / np.maximum(expected, 1e-9))


def triangle_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F,3) area-weighted (not unit) outward face normals, see the module docstring."""
    n = _face_cross(verts, faces)
    centroids = verts[faces].mean(axis=1)
    return -n if np.sum(n * (centroids - verts.mean(axis=0))) < 0 else n


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V,3) unit outward vertex normals: the sum of the incident area-weighted face normals
    (a vertex on no face gets a zero vector)."""
    n = triangle_normals(verts, faces)
    out = np.zeros_like(verts)
    for k in range(3):
        np.add.at(out, faces[:, k], n)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


# ------------------------------------------------------------------------------ closest points

def _dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, y)


def closest_points_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
                                ) -> tuple[np.ndarray, np.ndarray]:
    """Closest point of each triangle (a,b,c) to p, all (N,3): (points, barycentrics (N,3)).

    Inside the triangle it is the plane projection; otherwise the best of the three clamped
    edge projections (the closest point then lies on the boundary)."""
    ab, ac, ap = b - a, c - a, p - a
    d00, d01, d11 = _dot(ab, ab), _dot(ab, ac), _dot(ac, ac)
    d20, d21 = _dot(ap, ab), _dot(ap, ac)
    den = np.maximum(d00 * d11 - d01 * d01, 1e-30)
    v = (d11 * d20 - d01 * d21) / den
    w = (d00 * d21 - d01 * d20) / den
    bary = np.stack([1 - v - w, v, w], axis=1)
    inside = (bary >= 0).all(axis=1)
    best_d = np.full(len(p), np.inf)
    best_bary = bary.copy()
    corners = (a, b, c)
    for i, j in ((0, 1), (1, 2), (2, 0)):
        e0, e1 = corners[i], corners[j]
        edge = e1 - e0
        s = np.clip(_dot(p - e0, edge) / np.maximum(_dot(edge, edge), 1e-30), 0.0, 1.0)
        gap = p - e0 - s[:, None] * edge
        d = _dot(gap, gap)
        better = ~inside & (d < best_d)
        edge_bary = np.zeros_like(bary)
        edge_bary[:, i], edge_bary[:, j] = 1 - s, s
        best_bary[better], best_d[better] = edge_bary[better], d[better]
    points = best_bary[:, :1] * a + best_bary[:, 1:2] * b + best_bary[:, 2:] * c
    return points, best_bary


def closest_points_on_nearby_triangles(points: np.ndarray, triangles: np.ndarray, k: int
                                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of `points` (N,3), the closest point on each of the k triangles (T,3,3) whose
    centroids are nearest: (triangle index (N,k), closest points (N,k,3), barycentrics (N,k,3)).

    Candidates rather than one answer, so a caller can reject some by its own rule (facing,
    part, an extra cost) and keep the best of the rest; k is capped at T."""
    k = min(k, len(triangles))
    _, cand = cKDTree(triangles.mean(axis=1)).query(points, k=k)
    cand = np.asarray(cand).reshape(len(points), k)
    flat = cand.ravel()
    p = np.repeat(points, k, axis=0)
    closest, bary = closest_points_on_triangles(p, triangles[flat, 0], triangles[flat, 1],
                                                triangles[flat, 2])
    return cand, closest.reshape(len(points), k, 3), bary.reshape(len(points), k, 3)


# ---------------------------------------------------------------------------- similarity, ICP

@dataclass(frozen=True)
class Similarity:
    """x_target = scale * R @ x_source + t."""

    scale: float
    R: np.ndarray                        # (3,3), det +1
    t: np.ndarray                        # (3,)

    def apply(self, points: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(points, np.float64) @ self.R.T + self.t

    @property
    def angle_deg(self) -> float:
        return float(np.degrees(np.linalg.norm(Rotation.from_matrix(self.R).as_rotvec())))


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray) -> Similarity:
    """Weighted least-squares similarity src -> dst (Umeyama 1991), reflection excluded."""
    w = np.asarray(weights, np.float64) / np.sum(weights)
    mu_s, mu_d = w @ src, w @ dst
    xs, xd = src - mu_s, dst - mu_d
    cov = (xd * w[:, None]).T @ xs
    U, S, Vt = np.linalg.svd(cov)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U) * np.linalg.det(Vt))])
    R = U @ D @ Vt
    var_s = float(w @ np.sum(xs * xs, axis=1))
    scale = float(np.trace(np.diag(S) @ D) / var_s)
    return Similarity(scale, R, mu_d - scale * R @ mu_s)


# match(sim) -> (each target point's partner in source coordinates (N,3), distance (N,),
#               has a partner (N,) bool)
Matcher = Callable[[Similarity], tuple[np.ndarray, np.ndarray, np.ndarray]]


def trimmed_icp(sim: Similarity, match: Matcher, target: np.ndarray, weights: np.ndarray,
                iterations: int, trim: float = 2.5) -> Similarity:
    """Refine a similarity source -> target by ICP: each step `match` pairs every target point
    (N,3) with a source point under the current similarity; pairs farther than `trim` x the
    median distance are dropped (outliers: parts one surface has and the other lacks) and the
    rest refit by weighted Umeyama. Stops early when fewer than 3 pairs remain.

    The distance is the matcher's own (it may add terms beyond Euclidean), so the rule for
    what corresponds stays with the caller and the iteration lives here."""
    for _ in range(iterations):
        partner, dist, valid = match(sim)
        keep = valid & (dist <= trim * np.median(dist) + 1e-9)
        if keep.sum() < 3:
            break
        sim = umeyama(partner[keep], target[keep], weights[keep])
    return sim
