"""Phone and viseme vocabularies of the lip reader, and its CTC targets from timed phones.

The viseme grouping lives here once: phones that a viewer of the lips cannot tell apart share a
class. It follows the usual visual-phonetics split by place of articulation for consonants
(bilabial, labiodental, dental, alveolar, sibilant, post-alveolar with protrusion, back of the
mouth) and by jaw opening and rounding for vowels, adjusted to what the default rig shows (its
tongue tip rises for t/d/n/l and shows between the teeth for th; k/g/ng/hh/y hardly move the
lips, so they take the shape of their neighbours and share one class). Silence (`pau`) is no
token: CTC's blank covers it, and PER/VER count speech units only, as the field does.
"""
from __future__ import annotations

from collections.abc import Sequence

from driver.audio import MOTION_FPS
from driver.corpus.phones import PHONES, SILENCE, PhoneSegment

VISEME_GROUPS: dict[str, tuple[str, ...]] = {
    "P": ("p", "b", "m"),                     # lips pressed together
    "F": ("f", "v"),                          # lower lip under the upper teeth
    "TH": ("th", "dh"),                       # tongue tip between the teeth
    "T": ("t", "d", "n", "l"),                # tongue tip up behind the teeth
    "S": ("s", "z"),                          # teeth together, lips spread a little
    "SH": ("sh", "zh", "ch", "jh"),           # lips protruded, teeth close
    "K": ("k", "g", "ng", "hh", "y"),         # back of the mouth: lips follow neighbours
    "W": ("w", "uw", "uh", "ow", "oy", "ao"), # rounded lips
    "R": ("r", "er"),                         # slightly rounded, lips forward
    "A": ("aa", "ae", "ah", "ay", "aw"),      # jaw open
    "E": ("eh", "ey", "ih", "iy"),            # spread lips, jaw mid to close
}
PHONE_TOKENS: tuple[str, ...] = tuple(p for p in PHONES if p != SILENCE)
VISEME_TOKENS: tuple[str, ...] = tuple(VISEME_GROUPS)
VISEME_OF: dict[str, str] = {p: v for v, group in VISEME_GROUPS.items() for p in group}
BLANK = 0     # CTC blank index in both vocabularies; token i is class i + 1


def phone_sequence(phones: Sequence[PhoneSegment], first_frame: int = 0,
                   n_frames: int | None = None) -> list[str]:
    """The spoken phones (no silence) whose middle falls in frames [first, first + n)."""
    t0 = first_frame / MOTION_FPS
    t1 = float("inf") if n_frames is None else (first_frame + n_frames) / MOTION_FPS
    return [s.phone for s in phones if s.phone != SILENCE and t0 <= s.mid < t1]


def viseme_sequence(phones: Sequence[str]) -> list[str]:
    """Phones → visemes, neighbours of one class merged (p-m looks like one closure)."""
    out: list[str] = []
    for p in phones:
        v = VISEME_OF[p]
        if not out or out[-1] != v:
            out.append(v)
    return out


def encode(tokens: Sequence[str], vocabulary: Sequence[str]) -> list[int]:
    """Token names → class ids (1-based: 0 is the CTC blank)."""
    index = {t: i + 1 for i, t in enumerate(vocabulary)}
    return [index[t] for t in tokens]


def greedy_decode(ids: Sequence[int]) -> list[int]:
    """Best-path CTC decoding of per-frame argmax ids: merge repeats, drop blanks."""
    out: list[int] = []
    previous = BLANK
    for i in ids:
        if i != previous and i != BLANK:
            out.append(int(i))
        previous = i
    return out


def edit_distance(hyp: Sequence[int], ref: Sequence[int]) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1)."""
    row = list(range(len(ref) + 1))
    for i, h in enumerate(hyp, 1):
        diagonal, row[0] = row[0], i
        for j, r in enumerate(ref, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (h != r))
    return row[-1]


def rates(counts: Sequence[int]) -> dict[str, float]:
    """{"per", "ver"} of summed [phone edits, phones, viseme edits, visemes]: total edits over
    total reference units (the corpus-level rate; above 1 when the reading inserts a lot)."""
    return {"per": float(counts[0] / max(counts[1], 1)), "ver": float(counts[2] / max(counts[3], 1))}
