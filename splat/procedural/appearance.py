"""Colours of the default head: albedo by part and region, with baked soft lighting.

The avatar stores only SH degree 0 (view-independent colour), so the form must read from baked
shading: ambient occlusion from nearby surfaces (creases, sockets, the mouth) plus a key and a
fill light in a fixed studio set-up. Albedo variation is low-frequency (skin is not flat paint)
with a little per-splat jitter (hair strands, iris fibres).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from splat.mesh_ops import vertex_areas
from splat.procedural.fields import bump, normalize, smoothstep
from splat.procedural.head_mesh import vermilion_heights
from splat.procedural.identity import MOUTH_HALF_WIDTH, Y_MOUTH
from splat.procedural.mesh_builder import Part

KEY_LIGHT = normalize(np.array([-0.55, 0.6, 0.6]))     # from the viewer's upper left
FILL_LIGHT = normalize(np.array([0.7, 0.0, 0.55]))
SKIN = np.array([0.80, 0.59, 0.48])
LIP = np.array([0.67, 0.38, 0.36])
HAIR = np.array([0.16, 0.105, 0.07])
BROW = np.array([0.20, 0.14, 0.10])
LASH = np.array([0.07, 0.05, 0.045])
SCLERA = np.array([0.92, 0.90, 0.87])
IRIS = np.array([0.36, 0.25, 0.15])
TOOTH = np.array([0.93, 0.91, 0.84])
GUM = np.array([0.74, 0.40, 0.40])
MOUTH_DARK = np.array([0.06, 0.015, 0.015])
TONGUE = np.array([0.70, 0.36, 0.36])
AO_RADIUS = 0.03


@dataclass
class SurfacePoints:
    """Points on the mesh with everything colour needs, interpolated from the vertices."""

    pos: np.ndarray       # (N,3)
    normal: np.ndarray    # (N,3) unit, outward
    part: np.ndarray      # (N,) Part
    attr: dict[str, np.ndarray]
    ao: np.ndarray        # (N,) 1 = open sky, lower = occluded


def vertex_occlusion(verts: np.ndarray, faces: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Disc-based ambient occlusion per vertex (1 open .. ~0.3 deep in a crease).

    Every vertex is a small disc of a third of its faces' area; a disc in front of a vertex's
    tangent plane and facing it occludes by its solid angle. Cheap, smooth, good enough to make
    the sockets, nostrils, ears and mouth read under flat colour.
    """
    varea = vertex_areas(verts, faces)
    tree = cKDTree(verts)
    pairs = tree.query_pairs(AO_RADIUS, output_type="ndarray")
    pairs = np.concatenate([pairs, pairs[:, ::-1]])
    i, j = pairs[:, 0], pairs[:, 1]
    d = verts[j] - verts[i]
    dist2 = np.einsum("ij,ij->i", d, d)
    dhat = d / np.sqrt(np.maximum(dist2, 1e-12))[:, None]
    facing = np.clip(np.einsum("ij,ij->i", normals[i], dhat), 0.0, 1.0)
    emitter = np.abs(np.einsum("ij,ij->i", normals[j], dhat))
    fall = 1.0 - smoothstep(0.6 * AO_RADIUS, AO_RADIUS, np.sqrt(dist2))
    contrib = varea[j] * facing * emitter * fall / (np.pi * dist2 + varea[j])
    occ = np.bincount(i, weights=contrib, minlength=len(verts))
    return 1.0 - 0.7 * (1.0 - np.exp(-2.2 * occ))


def _noise(pos: np.ndarray, rng: np.random.Generator, scale: float, octaves: int) -> np.ndarray:
    """Smooth pseudo-noise in [-1,1]: a sum of random plane waves (deterministic per seed)."""
    out = np.zeros(len(pos))
    for _ in range(octaves):
        k = normalize(rng.normal(size=3)) / scale * rng.uniform(0.7, 1.4)
        out += np.sin(pos @ (2 * np.pi * k) + rng.uniform(0, 2 * np.pi))
    return out / np.sqrt(octaves)


def _skin_albedo(p: SurfacePoints, rng: np.random.Generator) -> np.ndarray:
    x, y, z = p.pos.T
    ax = np.abs(x)
    col = np.tile(SKIN, (len(x), 1))
    col *= (1.0 + 0.035 * _noise(p.pos, rng, 0.05, 4))[:, None]
    col *= (1.0 + 0.015 * _noise(p.pos, rng, 0.008, 3))[:, None]
    redness = 0.8 * bump(ax, y, 0.045, -0.025, 0.02, 0.02) + 0.6 * bump(x, y, 0.0, -0.033, 0.008, 0.008)
    redness += 0.4 * (p.part == Part.EAR)
    col += redness[:, None] * np.array([0.03, -0.035, -0.03])
    col *= (1.0 - 0.08 * smoothstep(-0.10, -0.14, y))[:, None]          # neck in shadow-tone
    # Nostrils: two dark openings on the underside of the nose.
    under = smoothstep(-0.15, -0.5, p.normal[:, 1])
    nostril = bump(ax, y, 0.0068, -0.0468, 0.0030, 0.0017) * under * (z > 0.07)
    col *= (1.0 - 0.75 * np.clip(1.4 * nostril, 0, 1))[:, None]
    # Red lips between the vermilion borders.
    up, low = vermilion_heights(x)
    dy = y - Y_MOUTH
    lip = (smoothstep(up + 0.0012, up - 0.0004, dy) * smoothstep(-low - 0.0012, -low + 0.0004, dy)
           * smoothstep(MOUTH_HALF_WIDTH + 0.003, MOUTH_HALF_WIDTH - 0.001, ax) * (z > 0.06))
    col = col * (1 - lip[:, None]) + LIP * lip[:, None]
    # Brows: a tapered band above each eye, strand-jittered.
    brow_y = 0.0215 + 0.0045 * np.exp(-((ax - 0.030) / 0.013) ** 2) - 0.004 * smoothstep(0.04, 0.056, ax)
    half = 0.0034 * (1.0 - 0.6 * smoothstep(0.03, 0.056, ax))
    brow = (smoothstep(half + 0.0012, half - 0.0008, np.abs(y - brow_y))
            * smoothstep(0.011, 0.017, ax) * smoothstep(0.059, 0.052, ax) * (z > 0.04))
    brow *= np.clip(0.75 + 0.35 * rng.random(len(x)), 0, 1)
    col = col * (1 - brow[:, None]) + BROW * brow[:, None]
    # Lashes and lid margins.
    margin = p.attr["lid_margin"]
    upper_lid = p.attr["upper_lid"] > 0.5
    lash = np.where(upper_lid, smoothstep(0.11, 0.03, margin), 0.4 * smoothstep(0.07, 0.02, margin))
    col = col * (1 - lash[:, None]) + LASH * lash[:, None]
    # Short hair.
    hair = p.attr["hair"]
    strand = np.clip(1.0 + 0.22 * rng.standard_normal(len(x)), 0.5, 1.5)
    hair_col = HAIR * (1.0 + 0.12 * _noise(p.pos, rng, 0.03, 3))[:, None] * strand[:, None]
    return col * (1 - hair[:, None]) + hair_col * hair[:, None]


def _eyeball_albedo(p: SurfacePoints, eye_centers: dict[int, np.ndarray],
                    rng: np.random.Generator) -> np.ndarray:
    polar = p.attr["polar"]
    col = np.tile(SCLERA, (len(polar), 1))
    col += (smoothstep(0.9, 1.6, polar) * 0.1)[:, None] * np.array([0.0, -0.25, -0.25])
    fibre = np.clip(1.0 + 0.25 * rng.standard_normal(len(polar)), 0.5, 1.6)
    iris = smoothstep(0.52, 0.48, polar)
    iris_col = IRIS * fibre[:, None] * (0.75 + 0.5 * smoothstep(0.45, 0.2, polar))[:, None]
    iris_col *= (1.0 - 0.6 * smoothstep(0.40, 0.50, polar))[:, None]       # limbal ring
    col = col * (1 - iris[:, None]) + iris_col * iris[:, None]
    pupil = smoothstep(0.19, 0.16, polar)
    col = col * (1 - pupil[:, None]) + 0.02 * pupil[:, None]
    for side, c in eye_centers.items():
        mine = p.attr["side"] == side
        d = normalize(p.pos - c)
        glint = smoothstep(0.9965, 0.999, d @ normalize(np.array([-0.28, 0.32, 1.0]))) * mine
        col = col * (1 - glint[:, None]) + glint[:, None] * 1.0
    return col


def _mouth_albedo(p: SurfacePoints) -> np.ndarray:
    col = np.zeros((len(p.part), 3))
    inner = p.part == Part.INNER_LIP
    strip = p.attr["strip"]
    col[inner] = (LIP * (1.0 - 0.55 * strip[:, None]) + MOUTH_DARK * 0.55 * strip[:, None])[inner]
    cav = p.part == Part.CAVITY
    depth = p.attr["depth"]
    cav_col = np.array([0.30, 0.09, 0.09]) * (1 - smoothstep(0.0, 0.35, depth))[:, None] \
        + MOUTH_DARK * smoothstep(0.0, 0.35, depth)[:, None]
    col[cav] = cav_col[cav]
    teeth = (p.part == Part.TEETH_UPPER) | (p.part == Part.TEETH_LOWER)
    s, h = p.attr["tooth_s"], p.attr["tooth_h"]
    # Tooth boundaries along the arch (incisors narrow, molars wide) as thin dark gaps.
    arc = np.sign(s) * (np.abs(s) * 1.0 + 0.6 * np.abs(s) ** 2) * 5.2
    gap = smoothstep(0.12, 0.0, np.abs(arc - np.round(arc))) * (np.abs(s) < 0.98)
    tooth = TOOTH * (1.0 - 0.3 * gap)[:, None] * (1.0 - 0.45 * s[:, None] ** 2)
    gum = smoothstep(0.08, -0.05, h)
    tooth = tooth * (1 - gum[:, None]) + GUM * gum[:, None]
    col[teeth] = tooth[teeth]
    tongue = p.part == Part.TONGUE
    top = p.attr["tongue_top"]
    col[tongue] = (TONGUE * (0.55 + 0.45 * top[:, None]))[tongue]
    return col


def _lighting(p: SurfacePoints) -> np.ndarray:
    """Key + fill + ambient with wrap (soft, skin-like terminator), scaled by occlusion."""
    key = np.clip((p.normal @ KEY_LIGHT + 0.45) / 1.45, 0, 1) ** 1.2
    fill = np.clip((p.normal @ FILL_LIGHT + 0.35) / 1.35, 0, 1)
    light = 0.44 * p.ao + p.ao ** 0.5 * (0.52 * key + 0.22 * fill)
    inside = np.isin(p.part, [Part.CAVITY, Part.TEETH_UPPER, Part.TEETH_LOWER, Part.TONGUE])
    return np.where(inside, 0.55 + 0.45 * np.clip(p.ao + 0.3, 0, 1) * (0.6 + 0.4 * key), light)


def colours(p: SurfacePoints, eye_centers: dict[int, np.ndarray], seed: int) -> np.ndarray:
    """Final baked RGB in [0,1] for every surface point."""
    rng = np.random.default_rng(seed)
    albedo = np.zeros((len(p.part), 3))
    skin = np.isin(p.part, [Part.SKIN, Part.EAR])
    albedo[skin] = _skin_albedo(_subset(p, skin), rng)
    eye = p.part == Part.EYEBALL
    albedo[eye] = _eyeball_albedo(_subset(p, eye), eye_centers, rng)
    mouth = ~skin & ~eye
    albedo[mouth] = _mouth_albedo(_subset(p, mouth))
    ears = p.part == Part.EAR
    albedo[ears] *= (1.0 - 0.35 * p.attr["concha"][ears])[:, None]
    lit = albedo * _lighting(p)[:, None]
    # Eyeballs keep their whites (shading is mostly the lids' occlusion).
    lit[eye] = albedo[eye] * np.clip(0.6 + 0.5 * p.ao[eye], 0, 1)[:, None]
    return np.clip(lit, 0.0, 1.0)


def _subset(p: SurfacePoints, mask: np.ndarray) -> SurfacePoints:
    return SurfacePoints(pos=p.pos[mask], normal=p.normal[mask], part=p.part[mask],
                         attr={k: v[mask] for k, v in p.attr.items()}, ao=p.ao[mask])
