"""The articulatory model's promises: closures, tucks, rest in pauses, coarticulation."""
from __future__ import annotations

import numpy as np

from driver.audio import MOTION_FPS as FPS
from driver.corpus.articulation import phones_to_motion
from driver.corpus.phones import PhoneSegment
from splat.default_rig_spec import EXPRESSION_NAMES

E = {name: i for i, name in enumerate(EXPRESSION_NAMES)}
JAW = -3


def _segments(spec: list[tuple[str, float]]) -> list[PhoneSegment]:
    out, t = [], 0.0
    for phone, dur in spec:
        out.append(PhoneSegment(t, t + dur, phone))
        t += dur
    return out


def _frames(seg: PhoneSegment, n: int) -> np.ndarray:
    t = np.arange(n) / FPS
    inside = np.nonzero((t >= seg.start) & (t < seg.end))[0]
    return inside if len(inside) else np.array([int(round(seg.mid * FPS))])


SENTENCE = _segments([("pau", 0.5), ("b", 0.07), ("aa", 0.15), ("m", 0.02), ("iy", 0.12),
                      ("f", 0.09), ("uw", 0.15), ("pau", 0.4), ("s", 0.1), ("t", 0.06),
                      ("r", 0.05), ("uw", 0.2), ("p", 0.08), ("ae", 0.18), ("v", 0.07),
                      ("pau", 0.6)])


def test_bilabials_close_even_when_too_short_for_a_frame() -> None:
    m = phones_to_motion(SENTENCE, SENTENCE[-1].end, seed=1)
    for seg in SENTENCE:
        if seg.phone in "pbm":
            f = _frames(seg, len(m))
            assert np.all(m[f, E["lips_close"]] == 1.0) and np.all(m[f, E["lips_part"]] == 0)
            assert np.all(m[f, JAW] <= 0.05)


def test_pauses_rest_closed_and_labiodentals_tuck() -> None:
    m = phones_to_motion(SENTENCE, SENTENCE[-1].end, seed=2)
    t = np.arange(len(m)) / FPS
    for seg in SENTENCE:
        if seg.phone == "pau":
            core = (t >= seg.start + 0.1) & (t < seg.end - 0.1)
            assert core.any() and np.all(m[core] == 0.0)
        if seg.phone in ("f", "v"):
            assert np.all(m[_frames(seg, len(m)), E["lower_lip_tuck"]] >= 0.85)


def test_jaw_follows_vowel_height_and_rounding_is_anticipated() -> None:
    segs = _segments([("pau", 0.3), ("k", 0.08), ("aa", 0.2), ("k", 0.08), ("iy", 0.2),
                      ("s", 0.08), ("t", 0.06), ("uw", 0.2), ("pau", 0.3)])
    m = phones_to_motion(segs, segs[-1].end, seed=3, vary=False)
    jaw = lambda seg: m[_frames(seg, len(m)), JAW].max()   # noqa: E731
    assert jaw(segs[2]) > 0.18 > 0.08 > jaw(segs[4])
    # rounding for /uw/ already under way during the preceding /s t/ (look-ahead)
    before = int(segs[5].mid * FPS)
    assert m[before, E["lip_pucker"]] > 0.15
    assert m[int(segs[2].mid * FPS), E["lip_pucker"]] < 0.05


def test_variation_is_small_and_seeded() -> None:
    a = phones_to_motion(SENTENCE, SENTENCE[-1].end, seed=5)
    b = phones_to_motion(SENTENCE, SENTENCE[-1].end, seed=5)
    c = phones_to_motion(SENTENCE, SENTENCE[-1].end, seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.abs(a[:, JAW] - c[:, JAW]).max() < 0.06
