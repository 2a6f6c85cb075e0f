"""The Gaussian avatar: flat splats sampled over the rig's triangles, bound GaussianAvatars-style.

Splats are authored in world space on the rest mesh (position on a triangle, an in-plane disc
thin along the normal, baked colour) and converted to each parent triangle's local frame with
the project's own binding inverse, so they ride the mesh exactly as a trained avatar's would.
Density follows importance (eyes, lips, teeth get more splats per area than the back of the
head) and every splat's size follows its local density, so coverage has no holes.
"""
from __future__ import annotations

import numpy as np
import torch

from splat.avatar import GaussianAvatar
from splat.binding import matrix_to_quaternion, world_to_local
from splat.mesh_ops import stratified_surface_samples, triangle_areas, vertex_normals
from splat.procedural.appearance import SurfacePoints, colours, vertex_occlusion
from splat.procedural.fields import normalize
from splat.procedural.geometry import HeadGeometry
from splat.procedural.mesh_builder import Part

SH_C0 = 0.28209479177387814
TARGET_GAUSSIANS = 56000
SPLAT_SIZE = 0.95              # in-plane sigma as a fraction of the local splat spacing
THINNESS = 0.06                # normal-axis sigma relative to the in-plane one
OPACITY_LOGIT = 4.6            # sigmoid -> 0.99
_IMPORTANCE = {Part.SKIN: 1.0, Part.EYEBALL: 5.0, Part.INNER_LIP: 2.0, Part.CAVITY: 0.5,
               Part.TEETH_UPPER: 3.0, Part.TEETH_LOWER: 3.0, Part.TONGUE: 1.5, Part.EAR: 1.3}


def _face_importance(geo: HeadGeometry) -> np.ndarray:
    part = geo.part[geo.faces].max(axis=1)
    w = np.array([_IMPORTANCE[Part(p)] for p in range(len(Part))])[part]
    c = geo.verts[geo.faces].mean(axis=1)
    face_front = (c[:, 2] > 0.02) & (c[:, 1] > -0.12) & (part == Part.SKIN)
    w = np.where(face_front, 1.7, w)
    near_features = face_front & (np.abs(c[:, 0]) < 0.05) & (c[:, 1] > -0.1) & (c[:, 1] < 0.03)
    w = np.where(near_features, 2.6, w)
    polar_front = (part == Part.EYEBALL) & (geo.attrs["polar"][geo.faces].mean(axis=1) > 1.3)
    w = np.where(polar_front, 0.4, w)
    # The inner-lip triangles at the mouth corners are slivers that stretch a lot when the jaw
    # opens; a splat there smears a dark notch over the corner, so they get none (their
    # neighbours and the cavity behind cover them).
    corners = [geo.skin.mouth_upper[0], geo.skin.mouth_upper[-1]]
    at_corner = (part == Part.INNER_LIP) & np.isin(geo.faces, corners).any(axis=1)
    return np.where(at_corner, 0.0, w)


def _sample(geo: HeadGeometry, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(face index, barycentrics, splat spacing) with stratified counts per face."""
    face, bary, spacing = stratified_surface_samples(geo.verts, geo.faces, _face_importance(geo),
                                                     TARGET_GAUSSIANS, rng)
    # A thin inner-lip triangle that drew a splat by chance must not get one wider than itself:
    # those at the mouth corners stretch when the jaw opens and would smear dark past the lips.
    area = triangle_areas(geo.verts, geo.faces)
    inner = geo.part[geo.faces].max(axis=1) == Part.INNER_LIP
    spacing = np.where(inner, np.minimum(spacing, 1.2 * np.sqrt(area)), spacing)
    return face, bary, spacing[face]


def _surface_points(geo: HeadGeometry, face: np.ndarray, bary: np.ndarray) -> SurfacePoints:
    vn = vertex_normals(geo.verts, geo.faces)
    ao = vertex_occlusion(geo.verts, geo.faces, vn)
    corners = geo.faces[face]
    interp = lambda a: np.einsum("nk,nk...->n...", bary, a[corners])  # noqa: E731
    n_skin = len(geo.skin.verts)
    attrs = dict(geo.attrs)
    margin = np.full(len(geo.verts), 10.0)
    margin[:n_skin] = np.minimum(geo.eyelids.margin, 10.0)
    upper = np.zeros(len(geo.verts))
    upper[:n_skin] = geo.eyelids.upper[1] + geo.eyelids.upper[-1]
    attrs["lid_margin"], attrs["upper_lid"] = margin, upper
    part = geo.part[geo.faces].max(axis=1)[face]
    return SurfacePoints(pos=interp(geo.verts), normal=normalize(interp(vn)), part=part,
                         attr={k: interp(v) for k, v in attrs.items()}, ao=interp(ao))


def _orientations(p: SurfacePoints, face_normal: np.ndarray, rng: np.random.Generator,
                  spacing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World rotation matrices (N,3,3) and activated scales (N,3): flat discs in the surface,
    stretched along the hair flow on the scalp and along the brows."""
    n = face_normal
    flow = np.tile(np.array([0.0, -1.0, 0.35]), (len(n), 1))
    scalp = p.attr["hair"] > 0.5
    crown_dir = p.pos - np.array([0.0, 0.12, 0.0])
    flow[scalp] = crown_dir[scalp]
    brow = (p.part == Part.SKIN) & (np.abs(p.pos[:, 1] - 0.024) < 0.008) & (p.pos[:, 2] > 0.05)
    flow[brow] = np.stack([np.sign(p.pos[brow, 0]), 0.25 * np.ones(brow.sum()), np.zeros(brow.sum())], 1)
    random_dir = rng.normal(size=(len(n), 3))
    along = np.where((scalp | brow)[:, None], flow, random_dir)
    along = normalize(along - n * np.einsum("ij,ij->i", along, n)[:, None])
    across = np.cross(along, n)
    rot = np.stack([along, n, across], axis=-1)
    sigma = SPLAT_SIZE * spacing
    stretch = np.where(scalp, 1.7, np.where(brow, 1.5, 1.0))
    scales = np.stack([sigma * stretch, np.maximum(THINNESS * sigma, 4e-5), sigma / np.sqrt(stretch)], 1)
    return rot, scales


def build_avatar(geo: HeadGeometry, flame_param: dict[str, np.ndarray], seed: int) -> GaussianAvatar:
    """Sample, colour and bind the splats of the rest-pose head."""
    rng = np.random.default_rng(seed)
    face, bary, spacing = _sample(geo, rng)
    p = _surface_points(geo, face, bary)
    tri = geo.verts[geo.faces[face]]
    face_normal = normalize(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]))
    rot, scales = _orientations(p, face_normal, rng, spacing)
    rgb = colours(p, geo.eye_centers, seed + 1)
    with torch.no_grad():
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
        quats = matrix_to_quaternion(t(rot))
        xyz, local_q, log_s = world_to_local(t(p.pos), quats, t(scales),
                                             torch.as_tensor(face), t(geo.verts),
                                             torch.as_tensor(geo.faces))
    sh = ((rgb - 0.5) / SH_C0).astype(np.float32)[:, None, :]
    return GaussianAvatar(
        xyz=xyz.numpy(), log_scales=log_s.numpy(), quats=local_q.numpy(),
        opacity_logits=np.full(len(face), OPACITY_LOGIT, dtype=np.float32), sh=sh,
        binding=face.astype(np.int64), flame_param=flame_param,
    )
