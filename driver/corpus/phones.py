"""ARPAbet phone inventory and timed phone segments.

Every source of speech (flite, festival, espeak-ng, external aligned folders) is reduced to one
representation, a list of `PhoneSegment(start, end, phone)` in seconds with ARPAbet phones
(lower case, no stress digits, `pau` for silence), so the articulatory model downstream never
has to know which engine produced the audio.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from splat.errors import UserInputError

SILENCE = "pau"

VOWELS = ("aa", "ae", "ah", "ao", "aw", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy", "uh",
          "uw")
CONSONANTS = ("b", "ch", "d", "dh", "f", "g", "hh", "jh", "k", "l", "m", "n", "ng", "p", "r", "s",
              "sh", "t", "th", "v", "w", "y", "z", "zh")
PHONES: tuple[str, ...] = (SILENCE, *VOWELS, *CONSONANTS)
BILABIALS = frozenset({"p", "b", "m"})

# Engine/phoneset variants that are the same mouth shape as a core ARPAbet phone.
_ALIASES = {
    "ax": "ah", "axr": "er", "ix": "ih", "ux": "uw", "el": "l", "em": "m", "en": "n",
    "nx": "n", "dx": "d", "hv": "hh", "h#": SILENCE, "sil": SILENCE, "sp": SILENCE, "#": SILENCE,
    "brth": SILENCE, "h": "hh", "": SILENCE, "spn": SILENCE,
}


@dataclass(frozen=True)
class PhoneSegment:
    """One phone spoken from `start` to `end` seconds (audio time of the stored wav)."""

    start: float
    end: float
    phone: str

    @property
    def mid(self) -> float:
        return 0.5 * (self.start + self.end)


def normalise_phone(raw: str) -> str:
    """Map an engine's phone label to the ARPAbet set used here (stress digits dropped)."""
    label = re.sub(r"[0-9]", "", raw.strip().lower())
    label = _ALIASES.get(label, label)
    if label not in PHONES:
        raise ValueError(f"unknown phone label {raw!r}")
    return label


def parse_flite_psdur(text: str) -> list[PhoneSegment]:
    """Parse flite's `-psdur` line (`pau:0.119 hh:0.212 ...`, each number the phone's END time).

    flite prints end times only, so each segment starts where the previous ended (0 for the
    first); that is exactly how flite's own synthesis places them.
    """
    segments: list[PhoneSegment] = []
    start = 0.0
    for token in text.split():
        if ":" not in token:
            continue
        label, _, end_text = token.rpartition(":")
        try:
            end = float(end_text)
        except ValueError:
            continue
        segments.append(PhoneSegment(start, end, normalise_phone(label)))
        start = end
    if not segments:
        raise ValueError("no phone:end tokens in flite output")
    return merge_silences(segments)


def parse_end_times(lines: list[str]) -> list[PhoneSegment]:
    """Parse `phone end` lines (festival's Segment relation dump) into consecutive segments."""
    segments: list[PhoneSegment] = []
    start = 0.0
    for line in lines:
        parts = line.split()
        if len(parts) != 2:
            continue
        try:
            end = float(parts[1])
        except ValueError:
            continue
        segments.append(PhoneSegment(start, end, normalise_phone(parts[0])))
        start = end
    if not segments:
        raise ValueError("no 'phone end' lines found")
    return merge_silences(segments)


def merge_silences(segments: list[PhoneSegment]) -> list[PhoneSegment]:
    """Join touching silences and drop zero-length segments so pauses are one segment each."""
    out: list[PhoneSegment] = []
    for seg in segments:
        if seg.end - seg.start <= 1e-6:
            continue
        if out and seg.phone == SILENCE and out[-1].phone == SILENCE:
            out[-1] = PhoneSegment(out[-1].start, seg.end, SILENCE)
        else:
            out.append(seg)
    return out


def pad_to_duration(segments: list[PhoneSegment], duration: float) -> list[PhoneSegment]:
    """Cover [0, duration] exactly: silence before the first and after the last phone."""
    out = list(segments)
    if out and out[0].start > 1e-6:
        out.insert(0, PhoneSegment(0.0, out[0].start, SILENCE))
    if out and out[-1].end < duration - 1e-6:
        out.append(PhoneSegment(out[-1].end, duration, SILENCE))
    elif out and out[-1].end > duration:
        out = [s for s in out if s.start < duration]
        out[-1] = PhoneSegment(out[-1].start, duration, out[-1].phone)
    return merge_silences(out)


def write_tsv(segments: list[PhoneSegment], path: Path) -> None:
    """Write the `start<TAB>end<TAB>phone` layout that external aligned folders use too."""
    path.write_text("".join(f"{s.start:.4f}\t{s.end:.4f}\t{s.phone}\n" for s in segments))


def read_tsv(path: Path) -> list[PhoneSegment]:
    """Read `start end phone` lines (tab or space separated; '#' comments and a header allowed)."""
    segments: list[PhoneSegment] = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) < 3:
            raise UserInputError(f"{path}:{number}: expected 'start end phone', got {line!r}")
        try:
            start, end = float(parts[0]), float(parts[1])
        except ValueError:
            if not segments and number == 1:
                continue  # a header line such as "start end phone"
            raise UserInputError(f"{path}:{number}: start/end are not numbers: {line!r}") from None
        try:
            phone = normalise_phone(parts[2])
        except ValueError as exc:
            raise UserInputError(f"{path}:{number}: {exc}") from None
        if end < start:
            raise UserInputError(f"{path}:{number}: end {end} before start {start}")
        segments.append(PhoneSegment(start, end, phone))
    if not segments:
        raise UserInputError(f"{path}: no phone lines")
    return merge_silences(sorted(segments, key=lambda s: s.start))
