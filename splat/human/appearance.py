"""Albedo, specular strength and shading normals of the human head's surface points.

Game-character style materials computed from position and part: skin with a warm base tone,
low-frequency variation (redder cheeks, nose, ears; a cooler beard shadow; paler forehead),
fine pore-scale noise and cavity darkening from ambient occlusion; lips from MPFB2's UV mask
(a sharp vermilion border with its pale roll, vertical lip lines, darker towards the mouth
line); a dark lash line along the lid margins; painted brows; dark lashes; eyes with sclera
veins and the upper lid's shadow, a fibrous iris with a collarette and a limbal ring, a pupil;
teeth painted tooth by tooth (gaps, scalloped gums, translucent edges); a tongue and a mouth
cavity that darken with depth (the relit model has no shadows, so the occlusion is in the
albedo); and hair strands. Lighting is not baked here: `splat.relight`
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
LIP = np.array([0.64, 0.31, 0.31])
LIP_INNER = np.array([0.36, 0.1, 0.11])
BROW = np.array([0.13, 0.085, 0.06])
LASH = np.array([0.04, 0.03, 0.03])
HAIR_COL = np.array([0.15, 0.095, 0.062])
SCLERA = np.array([0.88, 0.86, 0.82])
IRIS_OUTER = np.array([0.20, 0.30, 0.36])
IRIS_INNER = np.array([0.47, 0.37, 0.19])
TOOTH = np.array([0.93, 0.90, 0.82])
TOOTH_EDGE = np.array([0.70, 0.74, 0.78])      # the translucent biting edge
GUM = np.array([0.74, 0.36, 0.38])
TONGUE = np.array([0.66, 0.30, 0.32])
MOUTH_DARK = np.array([0.16, 0.04, 0.045])
# Tooth widths (mm) from the midline back, upper and lower arch (incisors .. molars).
TOOTH_WIDTHS = {True: (8.5, 6.5, 7.5, 7.0, 6.5, 10.0, 9.0),
                False: (5.0, 5.5, 7.0, 7.0, 7.0, 11.0, 10.0)}
TOOTH_GAP = 0.0006             # metres: half-width of the dark line between two teeth
LIP_LINE_PERIOD = 0.0019       # metres between vertical lip lines
LASH_LINE = 0.0024             # metres from the eyeball the lid margin is darkened
# Specular strength per material (soft Blinn-Phong in splat.relight).
SPECULAR = {"skin": 0.10, "lip": 0.22, "eye": 1.0, "tooth": 0.35, "tongue": 0.3, "hair": 0.12,
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


# The hairline's height (y, metres) by azimuth about the head's vertical axis (degrees from the
# middle of the forehead; 90 is over the ear, 180 the nape), for a short men's cut: a forehead
# line with receding temples, a sideburn in front of the ear, a line clear above the ear,
# dropping behind it to the nape.
HAIRLINE = ((0.0, 0.076), (12.0, 0.077), (24.0, 0.086), (33.0, 0.090), (42.0, 0.084),
            (50.0, 0.068), (58.0, 0.045), (64.0, 0.012), (69.0, -0.004), (74.0, -0.004),
            (78.0, 0.022), (84.0, 0.030), (104.0, 0.030), (114.0, 0.014), (128.0, -0.022),
            (150.0, -0.040), (180.0, -0.046))
HEAD_AXIS_Z = -0.02            # depth of the vertical axis the hairline's azimuth turns about
HAIRLINE_SOFT = 0.006          # metres over which the hairline fades from skin into hair
# Metres above the hairline over which the cut grows to full, by azimuth: a short step at the
# forehead (a long one reads as thinning hair), a long fade at the sideburns and the nape.
HAIR_TAPER = ((0.0, 0.012), (40.0, 0.012), (70.0, 0.03), (180.0, 0.03))


def azimuth(pos: np.ndarray) -> np.ndarray:
    """Degrees about the head's vertical axis, 0 at the forehead to 180 at the nape (both
    sides alike, so the cut is symmetric)."""
    return np.degrees(np.arctan2(np.abs(pos[:, 0]), pos[:, 2] - HEAD_AXIS_Z))


def above_hairline(pos: np.ndarray) -> np.ndarray:
    """Metres the point lies above the hairline (negative on the face, neck and ears)."""
    a, h = np.array(HAIRLINE).T
    return pos[:, 1] - np.interp(azimuth(pos), a, h)


def hair_taper(pos: np.ndarray) -> np.ndarray:
    """0 at the hairline .. 1 from HAIR_TAPER inside it: how grown the faded edge of the cut is
    (shorter, sparser strands and more skin showing through towards the hairline)."""
    a, taper = np.array(HAIR_TAPER).T
    return smoothstep(0.0, 1.0, above_hairline(pos) / np.interp(azimuth(pos), a, taper))


def ear_weight(pos: np.ndarray) -> np.ndarray:
    """The outer ears (1) with a soft border: redder skin, denser splats, and no hair on them."""
    x, y, z = pos.T
    ax = np.abs(x)
    return (smoothstep(0.064, 0.07, ax) * smoothstep(-0.042, -0.036, y)
            * smoothstep(0.018, 0.012, y) * smoothstep(-0.05, -0.044, z)
            * smoothstep(-0.002, -0.007, z))


def hair_weight(pos: np.ndarray) -> np.ndarray:
    """Scalp coverage (0..1): above the hairline with a soft edge, never on the ears."""
    cover = smoothstep(-0.3 * HAIRLINE_SOFT, HAIRLINE_SOFT, above_hairline(pos))
    return cover * (1.0 - ear_weight(pos))


def _skin(s: Surface, rng: np.random.Generator) -> np.ndarray:
    x, y, z = s.pos.T
    ax = np.abs(x)
    col = np.tile(SKIN, (len(x), 1))
    col *= (1.0 + 0.05 * noise(s.pos, rng, 0.06, 4))[:, None]           # blotches
    col *= (1.0 + 0.025 * noise(s.pos, rng, 0.004, 4))[:, None]         # pores
    col *= (1.0 + 0.02 * rng.standard_normal(len(x)))[:, None]          # per-splat grain
    red = (0.9 * bump(ax, y, 0.045, -0.025, 0.018, 0.016)              # cheeks
           + 0.7 * bump(x, y, 0.0, -0.035, 0.009, 0.012) * (z > 0.08)  # nose tip
           + 0.5 * ear_weight(s.pos))
    col += red[:, None] * np.array([0.035, -0.04, -0.035])
    beard = smoothstep(-0.045, -0.065, y) * smoothstep(-0.12, -0.095, y) * (z > 0.0) \
        * (1 - s.lip)
    col *= (1.0 - 0.06 * beard)[:, None]
    col += (0.03 * beard)[:, None] * np.array([-0.2, 0.0, 0.35])
    col *= (1.0 - 0.07 * smoothstep(-0.12, -0.2, y))[:, None]           # neck a shade darker
    col = _lips(s, col, rng)
    col = _lash_line(s, col)
    # Inside the mouth (the lining behind the lips): darker with depth.
    inside = np.clip(s.inside, 0.0, 1.0)
    depth = smoothstep(0.075, 0.03, z)
    mouth = MOUTH_DARK * (1 - 0.6 * depth[:, None]) + 0.02 * depth[:, None]
    col = col * (1 - inside[:, None]) + mouth * inside[:, None]
    brow = brow_weight(s.pos) * np.clip(0.7 + 0.4 * rng.random(len(x)), 0, 1)
    col = col * (1 - brow[:, None]) + BROW * brow[:, None]
    hair = hair_weight(s.pos) * (0.45 + 0.4 * hair_taper(s.pos))
    col = col * (1 - hair[:, None]) + HAIR_COL * hair[:, None]
    col *= (0.55 + 0.45 * s.ao)[:, None] * (1.0 - 0.5 * inside[:, None])   # cavities
    return col


def _hair(s: Surface, rng: np.random.Generator) -> np.ndarray:
    """Strand colours: each strand its own shade (a few lighter ones catch the eye as single
    hairs), locks a little lighter or darker, and darker towards the roots (`ao`: the volume's
    self-shadow, which the unshadowed relighting cannot produce)."""
    n = len(s.pos)
    strand = np.clip(1.0 + 0.22 * rng.standard_normal(n), 0.55, 1.6)
    strand *= 1.0 + 0.5 * (rng.random(n) < 0.06)
    locks = 1.0 + 0.15 * noise(s.pos, rng, 0.015, 3)
    col = HAIR_COL * (strand * locks * (0.45 + 0.55 * s.ao))[:, None]
    return col + (0.02 * (strand - 1.0))[:, None] * np.array([1.0, 0.6, 0.2])   # warm lighter strands


def _lips(s: Surface, col: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lip colour over the skin: the MPFB2 mask sharpened into a border, the pale roll just
    outside it, vertical lines, a darker, wetter inner part."""
    x, y, z = s.pos.T
    front = z > 0.05
    m = np.clip(s.lip, 0.0, 1.0) * front
    lip = smoothstep(0.2, 0.65, m)
    roll = smoothstep(0.05, 0.22, m) * smoothstep(0.45, 0.25, m)
    col = col * (1.0 + 0.07 * roll)[:, None]
    wobble = 0.8 * noise(s.pos, rng, 0.006, 2)
    lines = 0.5 + 0.5 * np.cos(2 * np.pi * x / LIP_LINE_PERIOD + wobble)
    lines = lines ** 4 * smoothstep(0.6, 0.9, m)
    # The inner roll (facing up or back into the mouth at rest): darker and deeper red, so an
    # open mouth reads as wet lips in front of a dark cavity, not as more lip.
    inner = np.maximum(smoothstep(0.0, 0.5, np.clip(s.inside, 0, 1)),
                       smoothstep(0.45, -0.1, s.normal[:, 2])) * front
    lip_col = LIP * (1.0 + 0.04 * noise(s.pos, rng, 0.008, 2))[:, None]
    lip_col = lip_col * (1.0 - 0.07 * lines)[:, None]
    lip_col = lip_col * (1 - inner[:, None]) + LIP_INNER * inner[:, None]
    return col * (1 - lip[:, None]) + lip_col * lip[:, None]


def _lash_line(s: Surface, col: np.ndarray) -> np.ndarray:
    """The lid margins where they meet the eyeball: darkened, as the lash roots make them."""
    out = col.copy()
    for side, c in s.eye_centres.items():
        mine = (np.sign(s.pos[:, 0]) == side) & (s.pos[:, 2] > c[2])
        gap = np.linalg.norm(s.pos - c, axis=1) - s.eye_radius
        upper = s.pos[:, 1] > c[1]
        w = smoothstep(LASH_LINE, 0.5 * LASH_LINE, gap) * mine * np.where(upper, 0.9, 0.3)
        out = out * (1 - w[:, None]) + LASH * w[:, None]
    return out


def _eye(s: Surface, rng: np.random.Generator) -> np.ndarray:
    n = len(s.pos)
    col = np.tile(SCLERA, (n, 1))
    polar, around, lift = np.zeros(n), np.zeros(n), np.zeros(n)
    for side, c in s.eye_centres.items():
        mine = np.sign(s.pos[:, 0]) == side
        d = normalize(s.pos[mine] - c)
        polar[mine] = np.arccos(np.clip(d[:, 2], -1, 1))       # angle from the gaze (+z)
        around[mine] = np.arctan2(d[:, 1], d[:, 0] * side)
        lift[mine] = d[:, 1]
    veins = smoothstep(0.7, 1.3, polar) * np.clip(rng.standard_normal(n) * 0.5 + 0.3, 0, 1)
    col += (0.12 * veins)[:, None] * np.array([0.0, -0.5, -0.5])
    col *= (1.0 - 0.15 * smoothstep(0.7, 1.4, polar))[:, None]
    col *= (1.0 - 0.3 * smoothstep(0.2, 0.5, lift))[:, None]           # the upper lid's shadow
    iris_r, pupil_r = 0.42, 0.12
    t = np.clip((polar - pupil_r) / (iris_r - pupil_r), 0, 1)
    fibre = 1.0 + 0.22 * np.sin(around * 37.0 + 4.0 * noise(s.pos, rng, 0.004, 2)) \
        + 0.12 * rng.standard_normal(n)
    iris = (IRIS_INNER * (1 - t[:, None]) + IRIS_OUTER * t[:, None]) * fibre[:, None]
    iris *= (1.0 + 0.25 * np.exp(-((t - 0.3) / 0.08) ** 2))[:, None]  # the collarette
    iris *= (1.0 - 0.6 * smoothstep(0.8, 1.0, t))[:, None]          # limbal ring
    inside = smoothstep(iris_r + 0.02, iris_r - 0.01, polar)
    col = col * (1 - inside[:, None]) + iris * inside[:, None]
    pupil = smoothstep(pupil_r + 0.035, pupil_r - 0.025, polar)   # round at the splats' size
    col = col * (1 - pupil[:, None]) + 0.012 * pupil[:, None]
    return col


def arch_centre(teeth: np.ndarray) -> np.ndarray:
    """The point the dental arch curves around (on the midline, a little in front of the
    molars), from the teeth's points (N,3): the arch's ellipse and the teeth's normals use it."""
    z = teeth[:, 2]
    return np.array([0.0, 0.0, z.min() + 0.15 * (z.max() - z.min())])


def _tooth_gaps(s: Surface, upper: bool) -> tuple[np.ndarray, np.ndarray]:
    """(distance to the nearest gap between teeth in metres, which tooth) of every point,
    from its place along the dental arch (an ellipse through the incisors and the molars)."""
    x, z = s.pos[:, 0], s.pos[:, 2]
    centre = arch_centre(s.pos)[2]
    a, b = np.abs(x).max(), z.max() - centre
    grid = np.linspace(0.0, np.pi, 512)
    arc_at = np.concatenate([[0.0], np.cumsum(np.hypot(a * np.diff(np.sin(grid)),
                                                       b * np.diff(np.cos(grid))))])
    arc = np.interp(np.arctan2(np.abs(x) / a, (z - centre) / b), grid, arc_at)
    half_arch = np.interp(np.arctan2(1.0, (z.min() - centre) / b), grid, arc_at)
    widths = np.asarray(TOOTH_WIDTHS[upper])
    bounds = np.concatenate([[0.0], np.cumsum(widths) / widths.sum() * half_arch])
    which = np.clip(np.searchsorted(bounds, arc) - 1, 0, len(widths) - 1)
    gap = np.minimum(arc - bounds[which], bounds[which + 1] - arc)
    return gap, which * np.sign(x + 1e-9)


def _teeth(s: Surface) -> np.ndarray:
    """Tooth by tooth: dark gaps, gums that arch over each tooth, translucent biting edges,
    a slight shade per tooth, the back teeth in the mouth's shadow."""
    col = np.zeros((len(s.pos), 3))
    for part, upper in ((HPart.TEETH_UPPER, True), (HPart.TEETH_LOWER, False)):
        mine = s.part == part
        sub = _subset(s, mine)
        y = sub.pos[:, 1]
        gap, which = _tooth_gaps(sub, upper)
        # Height from the biting edge (0) to the gum (1).
        top, bottom = y.max(), y.min()
        rise = (y - bottom) / (top - bottom) if upper else (top - y) / (top - bottom)
        papilla = np.exp(-(gap / 0.0012) ** 2)
        gum = smoothstep(0.62, 0.7, rise + 0.12 * papilla)
        shade = 1.0 + 0.04 * np.sin(which * 2.3 + (0.0 if upper else 1.0))
        tooth = TOOTH * shade[:, None]
        edge = smoothstep(0.18, 0.0, rise)
        tooth = tooth * (1 - 0.5 * edge[:, None]) + TOOTH_EDGE * 0.5 * edge[:, None]
        dark = np.exp(-(gap / TOOTH_GAP) ** 2) * (0.35 + 0.45 * smoothstep(0.35, 0.0, rise))
        tooth = tooth * (1.0 - 0.6 * dark[:, None])
        c = tooth * (1 - gum[:, None]) + GUM * gum[:, None]
        back = smoothstep(0.062, 0.035, sub.pos[:, 2])                 # molars in shadow
        col[mine] = c * (1.0 - 0.6 * back[:, None])
    return col


def _mouth_parts(s: Surface) -> np.ndarray:
    col = _teeth(s)
    tongue = s.part == HPart.TONGUE
    z = s.pos[:, 2]
    top = 0.55 + 0.45 * np.clip(s.normal[:, 1], 0, 1)
    depth = 0.15 + 0.5 * smoothstep(0.0, 0.062, z)      # behind the lips; the throat end darkest
    groove = 1.0 - 0.25 * np.exp(-(s.pos[:, 0] / 0.002) ** 2)       # the median groove
    col[tongue] = (TONGUE * (top * depth * groove)[:, None])[tongue]
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
    spec[eye], shiny[eye] = SPECULAR["eye"], 120.0
    lash = s.part == HPart.LASH
    albedo[lash] = LASH
    spec[lash] = SPECULAR["lash"]
    inner = np.isin(s.part, [HPart.TEETH_UPPER, HPart.TEETH_LOWER, HPart.TONGUE])
    albedo[inner] = _mouth_parts(_subset(s, inner))
    spec[inner], shiny[inner] = SPECULAR["tooth"], 40.0
    hair = s.part == HAIR
    albedo[hair] = _hair(_subset(s, hair), rng)
    spec[hair], shiny[hair] = SPECULAR["hair"], 20.0
    return Material(np.clip(albedo, 0.0, 1.0), spec, shiny)


def _subset(s: Surface, mask: np.ndarray) -> Surface:
    return Surface(pos=s.pos[mask], normal=s.normal[mask], part=s.part[mask], lip=s.lip[mask],
                   inside=s.inside[mask], ao=s.ao[mask], eye_centres=s.eye_centres, eye_radius=s.eye_radius)
