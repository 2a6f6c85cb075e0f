"""Albedo, specular strength and shading normals of the human head's surface points.

Game-character style materials computed from position and part: skin with a warm base tone,
low-frequency variation (redder cheeks, nose, ears; a cooler beard shadow; paler forehead),
fine pore-scale noise and cavity darkening from ambient occlusion; lips from MPFB2's UV mask;
painted brows; dark lashes; eyes with sclera veins, a fibrous iris with a limbal ring, a pupil;
teeth with gums; a tongue; and hair strands. Lighting is not baked here: `splat.relight`
shades albedo + normal per frame, and the stored baked colour is that shading under the
default light, so the avatar also looks right where it is not relit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from splat.human.head_mesh import HPart
from splat.procedural.fields import bump, normalize, smoothstep

HAIR = 6                        # part id of the generated hair volume (beyond HPart)
SKIN = np.array([0.78, 0.56, 0.45])
LIP = np.array([0.66, 0.34, 0.33])
BROW = np.array([0.13, 0.085, 0.06])
LASH = np.array([0.04, 0.03, 0.03])
HAIR_COL = np.array([0.12, 0.075, 0.05])
SCLERA = np.array([0.90, 0.88, 0.85])
IRIS_OUTER = np.array([0.22, 0.30, 0.34])
IRIS_INNER = np.array([0.45, 0.38, 0.20])
TOOTH = np.array([0.90, 0.87, 0.78])
GUM = np.array([0.72, 0.38, 0.38])
TONGUE = np.array([0.72, 0.38, 0.38])
MOUTH_DARK = np.array([0.25, 0.07, 0.07])
# Specular strength per material (soft Blinn-Phong in splat.relight).
SPECULAR = {"skin": 0.10, "lip": 0.22, "eye": 0.9, "tooth": 0.35, "tongue": 0.3, "hair": 0.12,
            "lash": 0.0}


@dataclass
class Surface:
    """Points to colour: position (N,3), outward normal (N,3), part (N,), region weights."""

    pos: np.ndarray
    normal: np.ndarray
    part: np.ndarray
    lip: np.ndarray          # MPFB2 lips mask at the point (0..1)
    inside: np.ndarray       # MPFB2 inside-mouth mask at the point (0..1)
    ao: np.ndarray           # 1 open .. ~0.3 in a crease
    eye_centres: dict[int, np.ndarray]
    eye_radius: float


@dataclass
class Material:
    albedo: np.ndarray       # (N,3) in [0,1]
    specular: np.ndarray     # (N,)
    shininess: np.ndarray    # (N,) Blinn-Phong exponent


def noise(pos: np.ndarray, rng: np.random.Generator, scale: float, octaves: int) -> np.ndarray:
    """Smooth pseudo-noise in about [-1,1]: random plane waves (deterministic per generator)."""
    out = np.zeros(len(pos))
    for _ in range(octaves):
        k = normalize(rng.normal(size=3)) / scale * rng.uniform(0.7, 1.4)
        out += np.sin(pos @ (2 * np.pi * k) + rng.uniform(0, 2 * np.pi))
    return out / np.sqrt(octaves)


def brow_weight(pos: np.ndarray) -> np.ndarray:
    """Where the brows are painted: a tapered arch above each eye (face coordinates)."""
    x, y, z = pos.T
    ax = np.abs(x)
    centre = 0.0265 + 0.0055 * np.exp(-((ax - 0.033) / 0.016) ** 2) - 0.003 * smoothstep(0.045, 0.06, ax)
    half = 0.0042 * (1.0 - 0.55 * smoothstep(0.025, 0.058, ax))
    band = smoothstep(half + 0.0015, half - 0.0012, np.abs(y - centre))
    return band * smoothstep(0.009, 0.016, ax) * smoothstep(0.062, 0.055, ax) * (z > 0.045)


def hair_weight(pos: np.ndarray) -> np.ndarray:
    """Scalp coverage: above a hairline tilted from the forehead down to the nape, clear of
    the face and the ears."""
    x, y, z = pos.T
    line = 0.074 - 0.62 * np.clip(0.085 - z, 0.0, None)        # hairline height at depth z
    line = line + 0.012 * smoothstep(0.0, 0.035, np.abs(x)) * (z > 0.05)   # temples recede
    cover = smoothstep(line - 0.004, line + 0.006, y)
    ear = (np.abs(x) > 0.062) & (y < 0.032) & (z > -0.045) & (z < 0.025)
    return cover * ~ear


def _skin(s: Surface, rng: np.random.Generator) -> np.ndarray:
    x, y, z = s.pos.T
    ax = np.abs(x)
    col = np.tile(SKIN, (len(x), 1))
    col *= (1.0 + 0.05 * noise(s.pos, rng, 0.06, 4))[:, None]           # blotches
    col *= (1.0 + 0.025 * noise(s.pos, rng, 0.004, 4))[:, None]         # pores
    col *= (1.0 + 0.02 * rng.standard_normal(len(x)))[:, None]          # per-splat grain
    red = (0.9 * bump(ax, y, 0.045, -0.025, 0.018, 0.016)              # cheeks
           + 0.7 * bump(x, y, 0.0, -0.035, 0.009, 0.012) * (z > 0.08)  # nose tip
           + 0.5 * (ax > 0.065) * (z < 0.03) * (y > -0.05) * (y < 0.035))   # ears
    col += red[:, None] * np.array([0.035, -0.04, -0.035])
    beard = smoothstep(-0.045, -0.065, y) * smoothstep(-0.12, -0.095, y) * (z > 0.0) \
        * (1 - s.lip)
    col *= (1.0 - 0.06 * beard)[:, None]
    col += (0.03 * beard)[:, None] * np.array([-0.2, 0.0, 0.35])
    col *= (1.0 - 0.07 * smoothstep(-0.12, -0.2, y))[:, None]           # neck a shade darker
    lip = np.clip(s.lip, 0.0, 1.0) * (z > 0.05)
    lip_col = LIP * (1.0 + 0.06 * noise(s.pos, rng, 0.003, 3))[:, None]
    col = col * (1 - lip[:, None]) + lip_col * lip[:, None]
    # Inside the mouth (the lining behind the lips): darker with depth.
    inside = np.clip(s.inside, 0.0, 1.0)
    depth = smoothstep(0.075, 0.03, z)
    mouth = MOUTH_DARK * (1 - 0.6 * depth[:, None]) + 0.02 * depth[:, None]
    col = col * (1 - inside[:, None]) + mouth * inside[:, None]
    brow = brow_weight(s.pos) * np.clip(0.7 + 0.4 * rng.random(len(x)), 0, 1)
    col = col * (1 - brow[:, None]) + BROW * brow[:, None]
    hair = hair_weight(s.pos)
    col = col * (1 - 0.85 * hair[:, None]) + 0.85 * HAIR_COL * hair[:, None]
    col *= (0.55 + 0.45 * s.ao)[:, None] * (1.0 - 0.5 * inside[:, None])   # cavities
    return col


def _eye(s: Surface, rng: np.random.Generator) -> np.ndarray:
    n = len(s.pos)
    col = np.tile(SCLERA, (n, 1))
    polar = np.zeros(n)
    for side, c in s.eye_centres.items():
        mine = np.sign(s.pos[:, 0]) == side
        d = normalize(s.pos[mine] - c)
        polar[mine] = np.arccos(np.clip(d[:, 2], -1, 1))       # angle from the gaze (+z)
    veins = smoothstep(0.7, 1.3, polar) * np.clip(rng.standard_normal(n) * 0.5 + 0.3, 0, 1)
    col += (0.12 * veins)[:, None] * np.array([0.0, -0.5, -0.5])
    col *= (1.0 - 0.12 * smoothstep(0.9, 1.6, polar))[:, None]
    iris_r, pupil_r = 0.43, 0.16
    t = np.clip((polar - pupil_r) / (iris_r - pupil_r), 0, 1)
    fibre = np.clip(1.0 + 0.3 * rng.standard_normal(n), 0.4, 1.7)
    iris = (IRIS_INNER * (1 - t[:, None]) + IRIS_OUTER * t[:, None]) * fibre[:, None]
    iris *= (1.0 - 0.55 * smoothstep(0.82, 1.0, t))[:, None]        # limbal ring
    inside = smoothstep(iris_r + 0.03, iris_r - 0.02, polar)
    col = col * (1 - inside[:, None]) + iris * inside[:, None]
    pupil = smoothstep(pupil_r + 0.02, pupil_r - 0.01, polar)
    col = col * (1 - pupil[:, None]) + 0.015 * pupil[:, None]
    return col


def _mouth_parts(s: Surface) -> np.ndarray:
    col = np.zeros((len(s.pos), 3))
    teeth = np.isin(s.part, [HPart.TEETH_UPPER, HPart.TEETH_LOWER])
    y = s.pos[:, 1]
    gum = np.where(s.part == HPart.TEETH_UPPER, smoothstep(-0.047, -0.043, y),
                   smoothstep(-0.067, -0.071, y))
    tooth = TOOTH * (1 - gum[:, None]) + GUM * gum[:, None]
    back = smoothstep(0.06, 0.035, s.pos[:, 2])                       # molars in shadow tone
    tooth = tooth * (1 - 0.35 * back[:, None])
    col[teeth] = tooth[teeth]
    tongue = s.part == HPart.TONGUE
    col[tongue] = (TONGUE * (0.55 + 0.45 * np.clip(s.normal[:, 1], 0, 1))[:, None])[tongue]
    return col


def materials(s: Surface, seed: int) -> Material:
    """Albedo and specular parameters of every point."""
    rng = np.random.default_rng(seed)
    n = len(s.pos)
    albedo = np.zeros((n, 3))
    spec = np.full(n, SPECULAR["skin"])
    shiny = np.full(n, 12.0)
    skin = s.part == HPart.SKIN
    albedo[skin] = _skin(_subset(s, skin), rng)
    lip = skin & (s.lip > 0.5)
    spec[lip], shiny[lip] = SPECULAR["lip"], 30.0
    eye = s.part == HPart.EYEBALL
    albedo[eye] = _eye(_subset(s, eye), rng)
    spec[eye], shiny[eye] = SPECULAR["eye"], 400.0
    lash = s.part == HPart.LASH
    albedo[lash] = LASH
    spec[lash] = SPECULAR["lash"]
    inner = np.isin(s.part, [HPart.TEETH_UPPER, HPart.TEETH_LOWER, HPart.TONGUE])
    albedo[inner] = _mouth_parts(_subset(s, inner))
    spec[inner], shiny[inner] = SPECULAR["tooth"], 40.0
    hair = s.part == HAIR
    strand = np.clip(1.0 + 0.28 * rng.standard_normal(hair.sum()), 0.45, 1.7)
    albedo[hair] = HAIR_COL * strand[:, None] * (1.0 + 0.15 * noise(s.pos[hair], rng, 0.03, 3))[:, None]
    spec[hair], shiny[hair] = SPECULAR["hair"], 20.0
    return Material(np.clip(albedo, 0.0, 1.0), spec, shiny)


def _subset(s: Surface, mask: np.ndarray) -> Surface:
    return Surface(pos=s.pos[mask], normal=s.normal[mask], part=s.part[mask], lip=s.lip[mask],
                   inside=s.inside[mask], ao=s.ao[mask], eye_centres=s.eye_centres, eye_radius=s.eye_radius)
