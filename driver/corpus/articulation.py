"""Phones → visemes → rig-parameter trajectories (30 fps) with Cohen–Massaro coarticulation.

Every phone segment carries, per articulatory channel, a target value and a dominance
function: flat (= alpha) inside the segment and decaying exponentially outside it, faster or
slower before (anticipation) than after (carry-over). Each channel's trajectory is the
dominance-weighted mean of the targets (Cohen & Massaro 1993). Phones that do not constrain a
channel get a tiny dominance there, so they inherit it from their neighbours: lip rounding of
"oo" spreads back over "str" in "strewn" (look-ahead rounding uses a slow anticipatory decay),
the jaw stays open over a quick "t" between open vowels. Hard articulatory facts are then
enforced on the sampled frames: p/b/m close the lips completely with a nearly closed jaw on
every frame inside them (or the frame nearest a segment too short to contain one), f/v tuck
the lower lip, and pauses relax to a closed neutral mouth.

Output per frame: the default rig's expression weights (EXPRESSION_NAMES order) and jaw_pose.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from driver.audio import MOTION_FPS
from driver.corpus.phones import BILABIALS, SILENCE, VOWELS, PhoneSegment
from splat.default_rig_spec import EXPRESSION_NAMES

CHANNELS = ("jaw", "lips_part", "lips_close", "lip_funnel", "lip_pucker", "lip_stretch",
            "lips_press", "lower_lip_depress", "lower_lip_tuck", "tongue_up", "tongue_out",
            "tongue_back")
_C = {name: i for i, name in enumerate(CHANNELS)}
LABIODENTALS = frozenset({"f", "v"})
ROUNDED = frozenset({"uw", "uh", "ow", "oy", "ao", "w", "r", "er", "sh", "zh", "ch", "jh"})

# Dominance strengths.
HARD, STRONG, MID, WEAK, FREE = 10.0, 4.0, 1.0, 0.3, 0.03
# Contacts (lips meeting, lip under teeth, tongue on ridge/teeth/velum) are quick, local
# gestures: every phone that does not make the contact actively keeps it released.
CONTACTS = frozenset({"lips_close", "lower_lip_tuck", "tongue_up", "tongue_out", "tongue_back"})

# phone -> {channel: (target, alpha)}; channels not listed: target 0 with MID dominance for
# vowels (a vowel's lip shape is part of its identity), WEAK for consonant contacts and FREE
# (transparent, inherited from the neighbours) for the other consonant channels. Jaw in radians (0 closed, ~0.25 max in speech); others 0..1.
_V = {  # vowels: jaw follows height; lips part; rounding / spreading by vowel
    "aa": {"jaw": (0.22, MID), "lips_part": (0.75, MID), "lower_lip_depress": (0.25, MID)},
    "ae": {"jaw": (0.20, MID), "lips_part": (0.7, MID), "lip_stretch": (0.35, MID),
           "lower_lip_depress": (0.2, MID)},
    "ah": {"jaw": (0.16, MID), "lips_part": (0.6, MID)},
    "ao": {"jaw": (0.19, MID), "lips_part": (0.6, MID), "lip_funnel": (0.45, MID),
           "lip_pucker": (0.25, MID)},
    "aw": {"jaw": (0.20, MID), "lips_part": (0.65, MID), "lip_funnel": (0.3, MID),
           "lip_pucker": (0.3, MID)},
    "ay": {"jaw": (0.19, MID), "lips_part": (0.65, MID), "lip_stretch": (0.25, MID)},
    "eh": {"jaw": (0.14, MID), "lips_part": (0.55, MID), "lip_stretch": (0.3, MID)},
    "er": {"jaw": (0.10, MID), "lips_part": (0.4, MID), "lip_funnel": (0.35, MID),
           "tongue_up": (0.3, WEAK)},
    "ey": {"jaw": (0.12, MID), "lips_part": (0.5, MID), "lip_stretch": (0.45, MID)},
    "ih": {"jaw": (0.08, MID), "lips_part": (0.45, MID), "lip_stretch": (0.4, MID)},
    "iy": {"jaw": (0.05, MID), "lips_part": (0.4, MID), "lip_stretch": (0.65, MID)},
    "ow": {"jaw": (0.14, MID), "lips_part": (0.45, MID), "lip_funnel": (0.6, MID),
           "lip_pucker": (0.5, MID)},
    "oy": {"jaw": (0.15, MID), "lips_part": (0.5, MID), "lip_funnel": (0.45, MID),
           "lip_pucker": (0.45, MID)},
    "uh": {"jaw": (0.09, MID), "lips_part": (0.35, MID), "lip_pucker": (0.45, MID),
           "lip_funnel": (0.3, MID), "tongue_back": (0.3, WEAK)},
    "uw": {"jaw": (0.06, MID), "lips_part": (0.3, MID), "lip_pucker": (0.85, STRONG),
           "lip_funnel": (0.4, MID), "tongue_back": (0.3, WEAK)},
}
_K = {  # consonants
    "p": {"jaw": (0.03, STRONG), "lips_close": (1.0, HARD), "lips_part": (0.0, HARD),
          "lips_press": (0.3, STRONG)},
    "b": {"jaw": (0.03, STRONG), "lips_close": (1.0, HARD), "lips_part": (0.0, HARD),
          "lips_press": (0.2, STRONG)},
    "m": {"jaw": (0.03, STRONG), "lips_close": (1.0, HARD), "lips_part": (0.0, HARD),
          "lips_press": (0.15, STRONG)},
    "f": {"jaw": (0.04, STRONG), "lower_lip_tuck": (1.0, HARD), "lips_part": (0.15, STRONG)},
    "v": {"jaw": (0.04, STRONG), "lower_lip_tuck": (0.9, HARD), "lips_part": (0.15, STRONG)},
    "th": {"jaw": (0.07, MID), "tongue_out": (1.0, HARD), "lips_part": (0.4, MID)},
    "dh": {"jaw": (0.07, MID), "tongue_out": (0.8, HARD), "lips_part": (0.4, MID)},
    "t": {"jaw": (0.06, WEAK), "tongue_up": (1.0, HARD), "lips_part": (0.3, WEAK)},
    "d": {"jaw": (0.06, WEAK), "tongue_up": (1.0, HARD), "lips_part": (0.3, WEAK)},
    "n": {"jaw": (0.06, WEAK), "tongue_up": (1.0, HARD), "lips_part": (0.3, WEAK)},
    "l": {"jaw": (0.08, WEAK), "tongue_up": (0.9, HARD), "lips_part": (0.35, WEAK)},
    "s": {"jaw": (0.03, STRONG), "tongue_up": (0.6, STRONG), "lip_stretch": (0.3, MID),
          "lips_part": (0.25, MID)},
    "z": {"jaw": (0.03, STRONG), "tongue_up": (0.6, STRONG), "lip_stretch": (0.25, MID),
          "lips_part": (0.25, MID)},
    "sh": {"jaw": (0.04, STRONG), "lip_funnel": (0.8, STRONG), "lip_pucker": (0.4, MID),
           "tongue_up": (0.4, MID), "lips_part": (0.3, MID)},
    "zh": {"jaw": (0.04, STRONG), "lip_funnel": (0.75, STRONG), "lip_pucker": (0.35, MID),
           "tongue_up": (0.4, MID), "lips_part": (0.3, MID)},
    "ch": {"jaw": (0.04, STRONG), "lip_funnel": (0.7, STRONG), "lip_pucker": (0.35, MID),
           "tongue_up": (0.8, STRONG), "lips_part": (0.25, MID)},
    "jh": {"jaw": (0.04, STRONG), "lip_funnel": (0.7, STRONG), "lip_pucker": (0.35, MID),
           "tongue_up": (0.8, STRONG), "lips_part": (0.25, MID)},
    "k": {"jaw": (0.08, WEAK), "tongue_back": (1.0, HARD), "lips_part": (0.35, WEAK)},
    "g": {"jaw": (0.08, WEAK), "tongue_back": (1.0, HARD), "lips_part": (0.35, WEAK)},
    "ng": {"jaw": (0.07, WEAK), "tongue_back": (1.0, HARD), "lips_part": (0.3, WEAK)},
    "hh": {"lips_part": (0.45, WEAK)},
    "r": {"jaw": (0.07, WEAK), "lip_pucker": (0.35, MID), "lip_funnel": (0.4, MID),
          "tongue_up": (0.3, MID), "lips_part": (0.3, WEAK)},
    "w": {"jaw": (0.05, MID), "lip_pucker": (0.9, STRONG), "lip_funnel": (0.3, MID),
          "lips_part": (0.2, MID)},
    "y": {"jaw": (0.04, MID), "lip_stretch": (0.45, MID), "lips_part": (0.3, WEAK)},
}
# Pauses: everything relaxes to the closed neutral mouth.
_PAUSE = {name: (0.0, STRONG) for name in CHANNELS}
TARGETS: dict[str, dict[str, tuple[float, float]]] = {**_V, **_K, SILENCE: _PAUSE}

# Decay times (s) of the dominance outside a segment: before it (anticipation) and after it.
TAU_BEFORE, TAU_AFTER = 0.045, 0.04
SHAPE = 2.0                  # Cohen–Massaro's exponent c (Gaussian-shaped decay): a segment
                             # pulls strongly within ~tau, not at all after a few tau
TAU_CONTACT = 0.02           # a HARD contact is approached and released within ~50 ms
TAU_ROUND_BEFORE = 0.14      # lip rounding is planned well ahead of a rounded segment
TAU_PAUSE = 0.035            # a pause's pull barely reaches into the speech around it


@dataclass
class Style:
    """Per-utterance speaker variation: how wide the jaw opens and how active the lips are."""

    jaw_gain: float = 1.0
    lip_gain: float = 1.0
    jitter: float = 0.0     # relative per-phone target noise

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Style":
        return cls(jaw_gain=float(rng.uniform(0.85, 1.15)), lip_gain=float(rng.uniform(0.85, 1.15)),
                   jitter=0.08)


def _segment_table(phone: str, vowel: bool) -> tuple[np.ndarray, np.ndarray]:
    """(targets, alphas) over CHANNELS for one phone."""
    spec = TARGETS[phone]
    targets = np.zeros(len(CHANNELS))
    alphas = np.array([MID if vowel else (WEAK if c in CONTACTS else FREE) for c in CHANNELS])
    for channel, (target, alpha) in spec.items():
        targets[_C[channel]] = target
        alphas[_C[channel]] = alpha
    return targets, alphas


def channel_trajectories(segments: list[PhoneSegment], times: np.ndarray, style: Style,
                         rng: np.random.Generator) -> np.ndarray:
    """Coarticulated channel values (len(times), len(CHANNELS)) at the given times."""
    n, k = len(times), len(CHANNELS)
    num = np.zeros((n, k))
    den = np.full((n, k), 1e-9)
    round_channels = np.array([c in ("lip_pucker", "lip_funnel") for c in CHANNELS])
    for seg in segments:
        vowel = seg.phone in VOWELS
        targets, alphas = _segment_table(seg.phone, vowel)
        if seg.phone != SILENCE:
            targets = targets * (1.0 + style.jitter * rng.standard_normal(k))
        tau_before = np.full(k, TAU_PAUSE if seg.phone == SILENCE else TAU_BEFORE)
        tau_after = np.full(k, TAU_PAUSE if seg.phone == SILENCE else TAU_AFTER)
        if seg.phone in ROUNDED:
            tau_before[round_channels] = TAU_ROUND_BEFORE
        tau_before[alphas >= HARD] = TAU_CONTACT
        tau_after[alphas >= HARD] = TAU_CONTACT
        before = np.clip(seg.start - times, 0.0, None)[:, None]
        after = np.clip(times - seg.end, 0.0, None)[:, None]
        dominance = alphas * np.exp(-(before / tau_before) ** SHAPE - (after / tau_after) ** SHAPE)
        num += dominance * targets
        den += dominance
    values = num / den
    values[:, _C["jaw"]] *= style.jaw_gain
    lips = [_C[c] for c in ("lips_part", "lip_funnel", "lip_pucker", "lip_stretch")]
    values[:, lips] *= style.lip_gain
    return np.clip(values, 0.0, None)


def _frames_of(seg: PhoneSegment, times: np.ndarray) -> np.ndarray:
    """Frame indices whose time lies inside the segment, or the one nearest its middle."""
    inside = np.nonzero((times >= seg.start) & (times < seg.end))[0]
    if len(inside):
        return inside
    return np.array([int(np.argmin(np.abs(times - seg.mid)))])


def enforce_contacts(values: np.ndarray, segments: list[PhoneSegment], times: np.ndarray) -> None:
    """In place: bilabials really close, labiodentals really tuck, long pauses really rest."""
    for seg in segments:
        frames = _frames_of(seg, times)
        if seg.phone in BILABIALS:
            values[frames, _C["lips_close"]] = 1.0
            values[frames, _C["lips_part"]] = 0.0
            values[frames, _C["jaw"]] = np.minimum(values[frames, _C["jaw"]], 0.05)
        elif seg.phone in LABIODENTALS:
            values[frames, _C["lower_lip_tuck"]] = np.maximum(values[frames, _C["lower_lip_tuck"]], 0.85)
        elif seg.phone == SILENCE:
            core = (times >= seg.start + 0.1) & (times < seg.end - 0.1)
            values[core] = 0.0


def channels_to_rig(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Channel values → (expr (T,E) over EXPRESSION_NAMES, jaw_pose (T,3))."""
    names = {name: i for i, name in enumerate(EXPRESSION_NAMES)}
    expr = np.zeros((len(values), len(EXPRESSION_NAMES)), np.float32)
    for channel in CHANNELS:
        if channel == "jaw":
            continue
        column = np.clip(values[:, _C[channel]], 0.0, 1.0)
        if channel == "lip_stretch":
            expr[:, names["lip_stretch_L"]] = column
            expr[:, names["lip_stretch_R"]] = column
        else:
            expr[:, names[channel]] = column
    jaw = np.zeros((len(values), 3), np.float32)
    jaw[:, 0] = np.clip(values[:, _C["jaw"]], 0.0, 0.3)
    return expr, jaw


def frame_count(duration: float, fps: float = MOTION_FPS) -> int:
    """Motion frames of a clip: frame i shows time i/fps, for every i/fps < duration."""
    return max(1, int(np.ceil(duration * fps - 1e-9)))


def phones_to_motion(segments: list[PhoneSegment], duration: float, seed: int,
                     fps: float = MOTION_FPS, vary: bool = True) -> np.ndarray:
    """Rig parameters (T, E + 3): expression weights then jaw_pose, for frame times i/fps."""
    rng = np.random.default_rng(seed)
    times = np.arange(frame_count(duration, fps)) / fps
    style = Style.random(rng) if vary else Style()
    values = channel_trajectories(segments, times, style, rng)
    enforce_contacts(values, segments, times)
    expr, jaw = channels_to_rig(values)
    return np.concatenate([expr, jaw], axis=1).astype(np.float32)

