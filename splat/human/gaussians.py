"""The human head's Gaussians: splats sampled over its triangles plus a hair volume, bound
GaussianAvatars-style, with the albedo, normal and specular a relit render needs.

Surface splats are flat discs in the surface (density by importance: the visible front of the
eyes, lips and front teeth get more per area). Lashes are strands grown from the roots of
MakeHuman's lash cards (the cards themselves are fans meant for an alpha texture and are not
sampled): chains of needle-thin Gaussians that curl away from the lid, bound to the card so they
blink with it. Hair is a short cut: needle-thin strands stacked in a volume that is fullest on
top and tapers to the hairline, combed back from the forehead, each bound to the scalp triangle
under it (so it rides the head; off-surface offsets are what the binding's local frame allows).
Everything is authored in world space on the rest mesh and moved into triangle-local space with
the project's binding inverse.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from splat.binding import matrix_to_quaternion, triangle_frames, world_to_local
from splat.human.appearance import (HAIR, Surface, arch_centre, azimuth, brow_weight,
                                    ear_weight, hair_taper, hair_weight, noise)
from splat.human.head_mesh import HPart
from splat.mesh_ops import stratified_surface_samples, triangle_normals, vertex_normals
from splat.procedural.appearance import vertex_occlusion
from splat.procedural.fields import normalize, smoothstep

SURFACE_GAUSSIANS = 47000
HAIR_GAUSSIANS = 16000
HAIR_TOP = 0.012              # metres of hair volume on top of the head
HAIR_SIDE = 0.0035            # ... over the ears and at the back (a short cut)
HAIR_TOP_FROM = (0.045, 0.095)  # heights (y) over which the sides' volume grows into the top's
HAIR_LIFT = 0.0004            # metres between the scalp and the lowest strands
STRAND_LENGTH = (0.004, 0.016)  # metres: a strand at the hairline .. on top
STRAND_WIDTH = 0.0003         # metres (sigma across a strand)
COMB_FROM = np.array([0.03, 0.1, 0.14])   # see comb_direction
COMB_DOWN = 0.8               # how strongly the strands behind the ears are combed down
BACK_THINNING = 0.5           # the share of the top's extra volume the back of the crown lacks
LOCK_SIZE = 0.02              # metres: the scale of the field that bends strands into locks
SPLAT_SIZE = 0.95
THINNESS = 0.08
OPACITY_LOGIT = 4.6
IMPORTANCE = {HPart.SKIN: 1.0, HPart.EYEBALL: 0.4, HPart.LASH: 0.0, HPart.TEETH_UPPER: 0.8,
              HPart.TEETH_LOWER: 0.8, HPart.TONGUE: 0.8}
EYE_FRONT_IMPORTANCE = 18.0   # the cap of the eyeball between the lids (iris, pupil, sclera)
EYE_FRONT_COS = 0.5           # ... where the gaze direction is within 60 degrees
FRONT_TEETH_IMPORTANCE = 12.0  # incisors to premolars, what a smile shows
FRONT_TEETH_Z = 0.052
EAR_IMPORTANCE = 12.0
EAR_SPLAT_SIZE = 0.7          # smaller discs than SPLAT_SIZE: the ear rims stay crisp
SCALP_IMPORTANCE = 0.5
LIP_IMPORTANCE = 18.0        # fine splats: a coarser border rendered as a serrated edge
# Lash strands per card (upper, lower), their length in metres and the Gaussians along each.
LASHES = {True: (260, 0.0045, 2), False: (80, 0.0025, 2)}
LASH_ROOT = 0.0008            # card vertices this close to the eyeball are its roots
LASH_WIDTH = 0.00007          # metres: sub-pixel, the renderer's low-pass makes it a hairline
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
    bary: np.ndarray          # (N,3) barycentrics in `face` (the point's UV comes from them)
    lip: np.ndarray
    inside: np.ndarray
    ao: np.ndarray
    opacity: np.ndarray       # logits


def _face_importance(verts: np.ndarray, faces: np.ndarray, part: np.ndarray, lip_v: np.ndarray,
                     eye_centres: dict[int, np.ndarray]) -> np.ndarray:
    fpart = part[faces].max(axis=1)
    w = np.array([IMPORTANCE.get(HPart(p), 1.0) for p in range(len(HPart))])[fpart]
    c = verts[faces].mean(axis=1)
    eye_c = np.where((c[:, 0] > 0)[:, None], eye_centres[1], eye_centres[-1])
    gaze = normalize(c - eye_c)[:, 2]
    w = np.where((fpart == HPart.EYEBALL) & (gaze > EYE_FRONT_COS), EYE_FRONT_IMPORTANCE, w)
    teeth = np.isin(fpart, [HPart.TEETH_UPPER, HPart.TEETH_LOWER])
    w = np.where(teeth & (c[:, 2] > FRONT_TEETH_Z), FRONT_TEETH_IMPORTANCE, w)
    face_front = (fpart == HPart.SKIN) & (c[:, 2] > 0.02) & (c[:, 1] > -0.11) & (np.abs(c[:, 0]) < 0.075)
    w = np.where(face_front, 2.2, w)
    features = face_front & (np.abs(c[:, 0]) < 0.055) & (c[:, 1] > -0.085) & (c[:, 1] < 0.04)
    w = np.where(features, 3.2, w)
    # The lips and the ring of skin around them: one splat size across the vermilion border,
    # or the larger skin splats overlap the lip edge into a ragged line.
    w = np.where((fpart == HPart.SKIN) & (lip_v[faces].max(axis=1) > 0.01), LIP_IMPORTANCE, w)
    # The ears: their thin, curled rims blur into a halo under splats the size of the cheek's.
    w = np.where((fpart == HPart.SKIN) & (ear_weight(c) > 0.5), EAR_IMPORTANCE, w)
    # The scalp well inside the hairline is hidden under the strands: coarse splats will do.
    w = np.where((fpart == HPart.SKIN) & (hair_taper(c) >= 1.0), SCALP_IMPORTANCE, w)
    low = (fpart == HPart.SKIN) & (c[:, 1] < -0.16)
    return np.where(low, 0.8, w)                         # shoulders and chest: coarser


def _tangent_frame(normal: np.ndarray, along: np.ndarray) -> np.ndarray:
    """(N,3,3) Gaussian axes: `along` flattened into the surface, the normal, and across."""
    along = normalize(along - normal * np.einsum("ij,ij->i", along, normal)[:, None])
    return np.stack([along, normal, np.cross(along, normal)], axis=-1)


def _discs(normal: np.ndarray, along: np.ndarray, sigma: np.ndarray, stretch: np.ndarray,
           thin: float = THINNESS) -> tuple[np.ndarray, np.ndarray]:
    rot = _tangent_frame(normal, along)
    scales = np.stack([sigma * stretch, np.maximum(thin * sigma, 3e-5), sigma / np.sqrt(stretch)], 1)
    return rot, scales


def surface_splats(verts: np.ndarray, faces: np.ndarray, part: np.ndarray, lip_v: np.ndarray,
                   inside_v: np.ndarray, eye_centres: dict[int, np.ndarray],
                   rng: np.random.Generator) -> SplatSet:
    """Flat splats over every triangle but the lash cards (brows combed, the cut edge at the
    chest fading out)."""
    vn = vertex_normals(verts, faces)
    for side, c in eye_centres.items():                  # eyeballs: exact sphere normals
        eye = (part == HPart.EYEBALL) & (np.sign(verts[:, 0]) == side)
        vn[eye] = normalize(verts[eye] - c)
    ao_v = vertex_occlusion(verts, faces, vn)
    face, bary, spacing = stratified_surface_samples(
        verts, faces, _face_importance(verts, faces, part, lip_v, eye_centres), SURFACE_GAUSSIANS,
        rng)
    spacing = spacing[face]
    corners = faces[face]
    interp = lambda a: np.einsum("nk,nk...->n...", bary, a[corners])  # noqa: E731
    pos = interp(verts)
    normal = normalize(interp(vn))
    fpart = part[corners].max(axis=1)
    fn = normalize(triangle_normals(verts, faces)[face])
    brows = (fpart == HPart.SKIN) & (brow_weight(pos) > 0.3)
    along = np.where(brows[:, None],
                     np.stack([np.sign(pos[:, 0]), 0.3 * np.ones(len(pos)), np.zeros(len(pos))], 1),
                     rng.normal(size=(len(pos), 3)))
    # On the lips the discs follow the smooth normal: their ridges are too curved for flat
    # per-triangle discs, whose edges stood out like fur along the vermilion border.
    lips = (fpart == HPart.SKIN) & (interp(lip_v) > 0.05)
    fn = np.where(lips[:, None], normal, fn)
    teeth_parts = [HPart.TEETH_UPPER, HPart.TEETH_LOWER]
    arch = _arch_normals(pos, verts[np.isin(part, teeth_parts)])
    normal = np.where(np.isin(fpart, teeth_parts)[:, None], arch, normal)
    ears = (fpart == HPart.SKIN) & (ear_weight(pos) > 0.5)
    size = np.where(ears, EAR_SPLAT_SIZE, SPLAT_SIZE) * spacing
    rot, scales = _discs(fn, along, size, np.where(brows, 2.2, 1.0))
    pos = pos + fn * np.where(brows, 0.0004, 0.0)[:, None]            # brows sit on the skin
    opacity = np.full(len(face), OPACITY_LOGIT)
    cut_y = verts[part == HPart.SKIN, 1].min()
    cut = np.clip((pos[:, 1] - cut_y) / EDGE_FADE, 0.0, 1.0)  # fade out at the chest cut
    opacity = np.where(fpart == HPart.SKIN, opacity - 9.0 * (1.0 - cut), opacity)
    return SplatSet(face=face, pos=pos, rot=rot, scales=scales, normal=normal, part=fpart,
                    bary=bary, lip=interp(lip_v), inside=interp(inside_v), ao=interp(ao_v),
                    opacity=opacity)


def _arch_normals(pos: np.ndarray, teeth: np.ndarray) -> np.ndarray:
    """Shading normals of the teeth: outwards from the dental arch's centre. The helper is a
    thin shell whose vertex normals average its front and back into nonsense (grey teeth)."""
    out = pos - arch_centre(teeth)
    out[:, 1] = 0.0
    return normalize(out)


def lash_splats(verts: np.ndarray, faces: np.ndarray, card: np.ndarray,
                eye_centres: dict[int, np.ndarray], rng: np.random.Generator) -> SplatSet:
    """Lash strands from the roots of each lash card (`card`: per face, -1 off the cards, else
    a card id; a card above its eye's centre is an upper lid's). Each strand leaves the lid
    outwards from the eye and forwards, and curls away from the eye (up for the upper lid, down
    for the lower), as a chain of needles fading towards the tip; the roots overlap into the
    dark lash line a lid has at conversation distance. (The card's own fan directions bunch
    strands into tufts around its few tip vertices.)"""
    parts = []
    for cid in np.unique(card[card >= 0]):
        cf = np.flatnonzero(card == cid)
        cv = np.unique(faces[cf])
        side = 1 if verts[cv, 0].mean() > 0 else -1
        centre = eye_centres[side]
        upper = bool(verts[cv, 1].mean() > centre[1])
        count, length, links = LASHES[upper]
        r = np.linalg.norm(verts[cv] - centre, axis=1)
        roots = cv[r < r.min() + LASH_ROOT]
        roots = roots[np.argsort(verts[roots, 0], kind="stable")]
        # Roots along the lid (a polyline through the card's root vertices), jittered.
        t = (np.arange(count) + rng.random(count)) / count * (len(roots) - 1)
        k = np.minimum(t.astype(np.int64), len(roots) - 2)
        root = verts[roots[k]] * (1 - (t - k))[:, None] + verts[roots[k + 1]] * (t - k)[:, None]
        fan = normalize(root - centre)          # out of the eye, smoothly along the lid
        up = np.array([0.0, 1.0 if upper else -1.0, 0.0])
        taper = 0.55 + 0.45 * np.sin(np.pi * t / (len(roots) - 1))     # short at the corners
        seg = length * rng.uniform(0.7, 1.15, count) * taper / links
        # Out of the lid and towards the viewer: seen from the front a lash is foreshortened
        # into the lid line, not a ray standing above it.
        forward = np.array([0.0, 0.0, 1.0])
        pos, axis = root.copy(), normalize(fan + 0.8 * forward + 0.15 * rng.normal(size=fan.shape))
        card_centres = verts[faces[cf]].mean(axis=1)
        for j in range(links):
            direction = normalize(axis + 0.45 * j * up)               # the curl
            centre_j = pos + direction * (seg / 2)[:, None]
            normal = normalize(centre_j - centre)
            across = normalize(np.cross(direction, normal))
            rot = np.stack([direction, normalize(np.cross(across, direction)), across], axis=-1)
            scales = np.stack([seg / 2, np.full(count, LASH_WIDTH), np.full(count, LASH_WIDTH)], 1)
            near = np.linalg.norm(card_centres[None] - centre_j[:, None], axis=2)
            face = cf[np.argmin(near, axis=1)]
            fade = 1.0 - j / links
            parts.append(SplatSet(face=face, pos=centre_j, rot=rot, scales=scales, normal=normal,
                                  part=np.full(count, HPart.LASH), bary=np.full((count, 3), 1 / 3),
                                  lip=np.zeros(count), inside=np.zeros(count), ao=np.ones(count),
                                  opacity=np.full(count, (0.6 if upper else -0.6) - 1.6 * (1 - fade))))
            pos = pos + direction * seg[:, None]
    return functools.reduce(concat, parts)


def hair_thickness(pos: np.ndarray) -> np.ndarray:
    """Metres of hair volume over each scalp point: full on top (less so towards the back of the
    crown), short over the ears and at the back, and tapering to nothing at the hairline (the
    faded sideburns and nape of a short cut; a uniform depth ending at the hairline reads as a
    helmet, a full crown as a boxy profile)."""
    top = smoothstep(HAIR_TOP_FROM[0], HAIR_TOP_FROM[1], pos[:, 1]) \
        * (1.0 - BACK_THINNING * smoothstep(100.0, 170.0, azimuth(pos)))
    full = HAIR_SIDE + (HAIR_TOP - HAIR_SIDE) * top
    return full * hair_taper(pos)


def comb_direction(base: np.ndarray, normal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit directions the strands lie along: in the scalp's tangent plane, away from COMB_FROM
    (in front of the forehead, off to the subject's left: swept back from the hairline with a
    sweep to the right on top), pulled down behind the ears (combed from the front alone, the
    strands at the back would lie sideways), bent by a smooth field so neighbouring strands
    clump into locks, plus a little per-strand scatter."""
    flow = normalize(base - COMB_FROM)
    flow[:, 1] -= COMB_DOWN * smoothstep(0.0, -0.07, base[:, 2])
    locks = np.stack([noise(base, rng, LOCK_SIZE, 3) for _ in range(3)], axis=1)
    flow = flow + 0.2 * locks + 0.08 * rng.normal(size=flow.shape)
    return normalize(flow - normal * np.einsum("ij,ij->i", flow, normal)[:, None])


def hair_splats(verts: np.ndarray, faces: np.ndarray, part: np.ndarray,
                rng: np.random.Generator) -> SplatSet:
    """Strands over the scalp: needle-like Gaussians lying along the comb direction, each
    starting at its root (so none hangs over the hairline it grows from) at a height within the
    local hair volume; longer and more opaque on top, short and faint at the tapered edges."""
    c = verts[faces].mean(axis=1)
    fpart = part[faces].max(axis=1)
    cover = np.where(fpart == HPart.SKIN, hair_weight(c), 0.0)
    face, bary, _ = stratified_surface_samples(verts, faces, cover + 1e-12, HAIR_GAUSSIANS, rng)
    corners = faces[face]
    vn = vertex_normals(verts, faces)
    base = np.einsum("nk,nkc->nc", bary, verts[corners])
    point_cover = hair_weight(base)
    keep = (cover[face] > 0.0) & (point_cover > 0.02)
    face, bary, base, point_cover = face[keep], bary[keep], base[keep], point_cover[keep]
    normal = normalize(np.einsum("nk,nkc->nc", bary, vn[faces[face]]))
    thick = hair_thickness(base)
    depth = np.sqrt(rng.random(len(face)))              # most strands in the outer layers
    height = thick * depth
    taper = hair_taper(base)
    top = thick / HAIR_TOP                              # 0 at the hairline .. 1 on top
    length = (STRAND_LENGTH[0] + (STRAND_LENGTH[1] - STRAND_LENGTH[0]) * top) \
        * (0.4 + 0.6 * taper) * rng.uniform(0.7, 1.2, len(face))
    flow = comb_direction(base, normal, rng)
    pos = base + normal * (HAIR_LIFT + height)[:, None] + flow * (length / 2)[:, None]
    rot = _tangent_frame(normal, flow)
    width = STRAND_WIDTH * (0.5 + 0.5 * taper) * rng.uniform(0.8, 1.25, len(face))
    scales = np.stack([length / 3, 0.5 * width, width], axis=1)
    n = len(face)
    return SplatSet(face=face, pos=pos, rot=rot, scales=scales, normal=normal,
                    part=np.full(n, HAIR), bary=bary, lip=np.zeros(n), inside=np.zeros(n),
                    ao=1.0 - 0.55 * (1.0 - depth) * taper,   # the volume's self-shadow
                    opacity=2.4 - 4.5 * smoothstep(0.8, 0.0, point_cover) - 2.0 * (1 - taper))


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


