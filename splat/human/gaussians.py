"""The human head's Gaussians: splats sampled over its triangles plus a hair volume, bound
GaussianAvatars-style, with the albedo, normal and specular a relit render needs.

Surface splats are flat discs in the surface (density by importance: eyes, lips, lashes, teeth
get more per area). Hair is a volume: strands of thin elongated Gaussians stacked up to
HAIR_DEPTH above the scalp, combed from the crown, each bound to the scalp triangle under it
(so it rides the head; off-surface offsets are what the binding's local frame allows). Everything
is authored in world space on the rest mesh and moved into triangle-local space with the
project's binding inverse.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from splat.binding import matrix_to_quaternion, triangle_frames, world_to_local
from splat.human.appearance import HAIR, Surface, brow_weight, hair_weight
from splat.human.head_mesh import HPart
from splat.mesh_ops import stratified_surface_samples, triangle_normals, vertex_normals
from splat.procedural.appearance import vertex_occlusion
from splat.procedural.fields import normalize

SURFACE_GAUSSIANS = 44000
HAIR_GAUSSIANS = 16000
HAIR_DEPTH = 0.011            # metres above the scalp the hair volume reaches
SPLAT_SIZE = 0.95
THINNESS = 0.08
OPACITY_LOGIT = 4.6
IMPORTANCE = {HPart.SKIN: 1.0, HPart.EYEBALL: 5.0, HPart.LASH: 6.0, HPart.TEETH_UPPER: 2.0,
              HPart.TEETH_LOWER: 2.0, HPart.TONGUE: 0.8}
CROWN = np.array([0.0, 0.13, -0.03])
LASH_LENGTH = 0.0035          # metres of lash kept beyond the eyeball's radius
EDGE_FADE = 0.035             # metres above the chest cut over which the skin fades in


@dataclass
class SplatSet:
    """World-space splats before binding."""

    face: np.ndarray
    pos: np.ndarray
    rot: np.ndarray           # (N,3,3) columns = Gaussian axes
    scales: np.ndarray        # (N,3) activated
    normal: np.ndarray        # (N,3) shading normal
    part: np.ndarray
    lip: np.ndarray
    inside: np.ndarray
    ao: np.ndarray
    opacity: np.ndarray       # logits


def _face_importance(verts: np.ndarray, faces: np.ndarray, part: np.ndarray, lip_v: np.ndarray
                     ) -> np.ndarray:
    fpart = part[faces].max(axis=1)
    w = np.array([IMPORTANCE.get(HPart(p), 1.0) for p in range(len(HPart))])[fpart]
    c = verts[faces].mean(axis=1)
    face_front = (fpart == HPart.SKIN) & (c[:, 2] > 0.02) & (c[:, 1] > -0.11) & (np.abs(c[:, 0]) < 0.075)
    w = np.where(face_front, 2.2, w)
    features = face_front & (np.abs(c[:, 0]) < 0.055) & (c[:, 1] > -0.085) & (c[:, 1] < 0.04)
    w = np.where(features, 3.2, w)
    w = np.where((fpart == HPart.SKIN) & (lip_v[faces].max(axis=1) > 0.3), 5.0, w)
    low = (fpart == HPart.SKIN) & (c[:, 1] < -0.16)
    return np.where(low, 0.8, w)                         # shoulders and chest: coarser


def _discs(normal: np.ndarray, along: np.ndarray, sigma: np.ndarray, stretch: np.ndarray,
           thin: float = THINNESS) -> tuple[np.ndarray, np.ndarray]:
    along = normalize(along - normal * np.einsum("ij,ij->i", along, normal)[:, None])
    across = np.cross(along, normal)
    rot = np.stack([along, normal, across], axis=-1)
    scales = np.stack([sigma * stretch, np.maximum(thin * sigma, 3e-5), sigma / np.sqrt(stretch)], 1)
    return rot, scales


def surface_splats(verts: np.ndarray, faces: np.ndarray, part: np.ndarray, lip_v: np.ndarray,
                   inside_v: np.ndarray, eye_centres: dict[int, np.ndarray],
                   rng: np.random.Generator) -> SplatSet:
    """Flat splats over every triangle (brows combed, lashes thin and soft, the cut edge at
    the chest fading out)."""
    vn = vertex_normals(verts, faces)
    for side, c in eye_centres.items():                  # eyeballs: exact sphere normals
        eye = (part == HPart.EYEBALL) & (np.sign(verts[:, 0]) == side)
        vn[eye] = normalize(verts[eye] - c)
    ao_v = vertex_occlusion(verts, faces, vn)
    face, bary, spacing = stratified_surface_samples(
        verts, faces, _face_importance(verts, faces, part, lip_v), SURFACE_GAUSSIANS, rng)
    spacing = spacing[face]
    corners = faces[face]
    interp = lambda a: np.einsum("nk,nk...->n...", bary, a[corners])  # noqa: E731
    pos = interp(verts)
    normal = normalize(interp(vn))
    fpart = part[corners].max(axis=1)
    lip = interp(lip_v)
    fn = normalize(triangle_normals(verts, faces)[face])
    brows = (fpart == HPart.SKIN) & (brow_weight(pos) > 0.3)
    along = np.where(brows[:, None],
                     np.stack([np.sign(pos[:, 0]), 0.3 * np.ones(len(pos)), np.zeros(len(pos))], 1),
                     rng.normal(size=(len(pos), 3)))
    lash = fpart == HPart.LASH
    eye_c = np.where((pos[:, 0] > 0)[:, None], eye_centres[1], eye_centres[-1])
    along = np.where(lash[:, None], pos - eye_c, along)               # lashes point outwards
    stretch = np.where(brows, 2.2, np.where(lash, 2.0, 1.0))
    rot, scales = _discs(fn, along, SPLAT_SIZE * spacing, stretch)
    scales[lash] *= np.array([0.5, 1.0, 0.3])
    pos = pos + fn * np.where(brows, 0.0004, 0.0)[:, None]            # brows sit on the skin
    opacity = np.full(len(face), OPACITY_LOGIT)
    opacity[lash] = 0.8
    cut_y = verts[part == HPart.SKIN, 1].min()
    cut = np.clip((pos[:, 1] - cut_y) / EDGE_FADE, 0.0, 1.0)  # fade out at the chest cut
    opacity = np.where(fpart == HPart.SKIN, opacity - 9.0 * (1.0 - cut), opacity)
    # MakeHuman's lash cards are wide fans meant for an alpha texture: keep only a short fringe
    # along their roots (the edge at the lid), as lashes seen from a conversation distance.
    eye_r = np.linalg.norm(verts[part == HPart.EYEBALL] - eye_centres[1], axis=1).min()
    fringe = ~lash | (np.linalg.norm(pos - eye_c, axis=1) < eye_r + LASH_LENGTH)
    out = SplatSet(face=face, pos=pos, rot=rot, scales=scales, normal=normal, part=fpart,
                   lip=lip, inside=interp(inside_v), ao=interp(ao_v), opacity=opacity)
    return SplatSet(*(getattr(out, f)[fringe] for f in SplatSet.__dataclass_fields__))


def hair_splats(verts: np.ndarray, faces: np.ndarray, part: np.ndarray,
                rng: np.random.Generator) -> SplatSet:
    """Strand Gaussians stacked above the scalp, combed away from the crown and down."""
    c = verts[faces].mean(axis=1)
    fpart = part[faces].max(axis=1)
    cover = np.where(fpart == HPart.SKIN, hair_weight(c), 0.0)
    face, bary, spacing = stratified_surface_samples(
        verts, faces, np.maximum(cover - 0.2, 0.0) + 1e-12, HAIR_GAUSSIANS, rng)
    spacing = spacing[face]
    keep = cover[face] > 0.2
    face, bary, spacing = face[keep], bary[keep], spacing[keep]
    corners = faces[face]
    vn = vertex_normals(verts, faces)
    base = np.einsum("nk,nkc->nc", bary, verts[corners])
    normal = normalize(np.einsum("nk,nkc->nc", bary, vn[corners]))
    height = HAIR_DEPTH * np.sqrt(rng.random(len(face))) * np.clip(cover[face], 0, 1)
    pos = base + normal * (0.0008 + height)[:, None]
    flow = normalize(normalize(base - CROWN) + np.array([0.0, -0.6, 0.0]))
    flow = normalize(flow + 0.25 * rng.normal(size=flow.shape))
    sigma = 0.9 * spacing * np.sqrt(1.0 + height / HAIR_DEPTH)
    rot, scales = _discs(normal, flow, sigma, np.full(len(face), 3.0), thin=0.25)
    n = len(face)
    return SplatSet(face=face, pos=pos, rot=rot, scales=scales, normal=normal,
                    part=np.full(n, HAIR), lip=np.zeros(n), inside=np.zeros(n), ao=0.75 + 0.25 * height / HAIR_DEPTH,
                    opacity=np.full(n, 2.5))


def concat(a: SplatSet, b: SplatSet) -> SplatSet:
    """One set holding both (a first)."""
    return SplatSet(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in SplatSet.__dataclass_fields__))


def to_local(s: SplatSet, verts: np.ndarray, faces: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(local xyz, local quats, local log-scales, local normals) of world-space splats."""
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        quats = matrix_to_quaternion(t(s.rot))
        xyz, q, log_s = world_to_local(t(s.pos), quats, t(s.scales), torch.as_tensor(s.face),
                                       t(verts), torch.as_tensor(faces))
        R, _, _ = triangle_frames(t(verts)[None], torch.as_tensor(faces))
        n_local = (R[0][torch.as_tensor(s.face)].transpose(-1, -2) @ t(s.normal)[..., None])[..., 0]
    return xyz.numpy(), q.numpy(), log_s.numpy(), n_local.numpy()


def surface_of(s: SplatSet, eye_centres: dict[int, np.ndarray], eye_radius: float) -> Surface:
    return Surface(pos=s.pos, normal=s.normal, part=s.part, lip=s.lip, inside=s.inside, ao=s.ao,
                   eye_centres=eye_centres, eye_radius=eye_radius)


