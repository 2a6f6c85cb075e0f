"""eval --real's metrics on synthetic signals whose answer is known, and the command itself."""
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from driver.corpus.phones import PhoneSegment
from driver.real_speech_eval import (BAND_NAMES, LAGS, RealCard, find_sets, format_real_table,
                                     lagged_correlations, pause_frames)
from driver.speech_activity import PAUSE, SPEECH, Segment
from main import ROOT

FPS = 30
T = 150                                     # 5 s
SEGMENTS = [Segment(0.0, 1.0, PAUSE), Segment(1.0, 2.5, SPEECH), Segment(2.5, 3.5, PAUSE),
            Segment(3.5, 4.0, SPEECH), Segment(4.0, 5.0, PAUSE)]


def _speech(t: np.ndarray) -> np.ndarray:
    return ((t >= 1.0) & (t < 2.5)) | ((t >= 3.5) & (t < 4.0))


def _signals(pause_db: float = -50.0):
    """Aperture open (8 mm, wobbling) in speech and closed (0.5 mm) in pauses; loudness 1 in
    speech and `pause_db` in pauses."""
    t = np.arange(T) / FPS
    speech = _speech(t)
    loud = np.where(speech, 0.6 + 0.4 * np.sin(7 * t) ** 2, 10 ** (pause_db / 20))
    aperture = np.where(speech, 0.008 * loud, 0.0005)
    return aperture, loud


def test_pause_frames_keep_the_margin_from_speech():
    quiet = pause_frames(SEGMENTS, T, FPS)
    t = np.arange(T) / FPS
    assert quiet[t < 0.9].all() and not quiet[(t >= 0.9) & (t < 2.6)].any()
    assert quiet[(t >= 2.6) & (t < 3.4)].all() and quiet[t >= 4.1].all()
    assert not quiet[(t >= 3.4) & (t < 4.1)].any()


def test_mouth_that_closes_in_pauses_scores_full_closure_and_opening():
    aperture, loud = _signals()
    card = RealCard()
    card.add(aperture, SEGMENTS, loud)
    r = card.result()
    assert r["silence_closure"] == 1.0
    assert r["silence_closure_bands"][BAND_NAMES[0]] == 1.0
    assert r["speech_opening"] == 1.0 and r["speech_windows"] == 7 + 2   # 1.5 s + 0.5 s
    assert r["best_lag"] == 0 and r["r_lag0"] > 0.95


def test_mouth_that_stays_open_scores_zero_closure():
    _, loud = _signals()
    card = RealCard()
    card.add(np.full(T, 0.006), SEGMENTS, loud)
    r = card.result()
    assert r["silence_closure"] == 0.0
    assert r["speech_opening"] == 1.0
    assert "r_lag0" not in r             # a constant aperture has no correlation


def test_shut_mouth_never_opens_in_speech():
    _, loud = _signals()
    card = RealCard()
    card.add(np.full(T, 0.0005), SEGMENTS, loud)
    assert card.result()["speech_opening"] == 0.0
    assert card.result()["silence_closure"] == 1.0


def test_a_shut_syllable_inside_speech_costs_opening():
    """Open for the first 1.0 s of the 1.5 s segment, then shut: 2 of its 7 windows fail."""
    aperture, loud = _signals()
    t = np.arange(T) / FPS
    aperture = np.where((t >= 2.0) & (t < 2.5), 0.0005, aperture)
    card = RealCard()
    card.add(aperture, SEGMENTS, loud)
    assert card.result()["speech_opening"] == pytest.approx(7 / 9)


def test_pauses_are_split_by_loudness():
    aperture, loud = _signals(pause_db=-35.0)
    t = np.arange(T) / FPS
    loud = np.where(t >= 4.0, 10 ** (-20 / 20), loud)      # the last pause is a loud tail
    aperture = np.where(t >= 4.0, 0.004, aperture)            # and the mouth stays open there
    card = RealCard()
    card.add(aperture, SEGMENTS, loud)
    r = card.result()
    bands = r["silence_closure_bands"]
    assert bands[BAND_NAMES[0]] is None
    assert bands[BAND_NAMES[1]] == 1.0 and bands[BAND_NAMES[2]] == 0.0
    quiet = pause_frames(SEGMENTS, T, FPS)
    late = int(np.sum(quiet & (t >= 4.0)))
    assert r["pause_frames_bands"][BAND_NAMES[2]] == late
    assert r["silence_closure"] == pytest.approx(1 - late / quiet.sum())


def test_best_lag_finds_a_mouth_that_moves_late():
    rng = np.random.default_rng(0)
    loud = np.convolve(rng.random(400), np.ones(4) / 4, "same")
    aperture = np.roll(loud, 3) * 0.01          # the mouth follows the sound 3 frames later
    curve = lagged_correlations(aperture, loud)
    assert LAGS[int(np.argmax(curve))] == 3
    card = RealCard()
    card.add(aperture, [Segment(0, 400 / FPS, SPEECH)], loud)
    assert card.result()["best_lag"] == 3


def test_bilabial_closure_uses_the_phones():
    aperture, loud = _signals()
    t = np.arange(T) / FPS
    aperture = np.where((t >= 1.2) & (t < 1.3), 0.0003, aperture)   # lips meet for the /m/
    phones = [PhoneSegment(0.0, 1.2, "pau"), PhoneSegment(1.2, 1.3, "m"),
              PhoneSegment(1.3, 2.0, "aa"), PhoneSegment(2.0, 2.1, "b"),
              PhoneSegment(2.1, 5.0, "pau")]
    card = RealCard()
    card.add(aperture, SEGMENTS, loud, phones)
    r = card.result()
    assert r["bilabials"] == 2 and r["bilabial_closure"] == 0.5


def test_cards_pool_by_counts():
    aperture, loud = _signals()
    a, b = RealCard(), RealCard()
    a.add(aperture, SEGMENTS, loud)
    b.add(np.full(T, 0.006), SEGMENTS, loud)
    pooled = RealCard.merged([a, b]).result()
    assert pooled["clips"] == 2 and pooled["silence_closure"] == 0.5


def test_find_sets_names_sub_folders(tmp_path):
    for rel in ("a/x.wav", "a/y.flac", "b/z.wav", "b/z.tsv"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    sets = find_sets(tmp_path)
    assert sorted(sets) == ["a", "b"] and len(sets["a"]) == 2 and len(sets["b"]) == 1


def _run(*args):
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_eval_real_bad_folder_is_one_clear_line(tmp_path):
    result = _run("eval", "--real", str(tmp_path / "missing"))
    assert result.returncode == 2 and result.stderr.startswith("error:")
    assert "Traceback" not in result.stderr


def test_eval_real_runs_model_and_baseline(tmp_path):
    """A tone burst between silences: both methods are scored; silence stays shut for the
    energy jaw (the clip is silent there)."""
    rate = 16000
    t = np.arange(int(2.4 * rate)) / rate
    burst = (t > 0.8) & (t < 1.6)
    audio = np.where(burst, 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 4 * t)),
                     0.0).astype(np.float32)
    (tmp_path / "set1").mkdir()
    sf.write(tmp_path / "set1" / "clip.wav", audio, rate)
    out, plot = tmp_path / "real.json", tmp_path / "real.png"
    result = _run("eval", "--real", str(tmp_path), "--json", str(out), "--threads", "1",
                  "--plot", str(plot))
    assert result.returncode == 0, result.stderr[-2000:]
    assert plot.stat().st_size > 10_000 and f"plot: {plot}" in result.stdout
    table = json.loads(out.read_text())
    assert set(table["sets"]) == {"set1"}
    for method in ("model", "energy jaw"):
        assert table["pooled"][method]["clips"] == 1
    assert table["pooled"]["energy jaw"]["silence_closure"] == 1.0
    assert "| pooled | model |" in result.stdout
    assert "| set1 | energy jaw |" in format_real_table(table)


def test_eval_real_plot_of_an_unknown_clip_is_one_clear_line(tmp_path):
    (tmp_path / "set1").mkdir()
    sf.write(tmp_path / "set1" / "clip.wav", np.zeros(16000, np.float32), 16000)
    result = _run("eval", "--real", str(tmp_path), "--threads", "1", "--plot",
                  str(tmp_path / "p.png"), "--plot-clip", "nope")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == ("error: --plot-clip nope: no such clip "
                                                     "among those scored")


def test_clip_without_speech_is_counted_not_scored():
    card = RealCard()
    card.add(np.full(T, 0.006), [Segment(0.0, 5.0, PAUSE)], np.full(T, 0.01))
    r = card.result()
    assert r["clips"] == 1 and r["clips_without_speech"] == 1
    assert r["silence_closure"] is None and r["pause_frames"] == 0
