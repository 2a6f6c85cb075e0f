"""Real-speech corpus: grouping, splits by whole speaker, manifest, timings (no network)."""
import shutil

import numpy as np
import pytest
import soundfile as sf

from driver.corpus import real_speech
from driver.corpus.phones import PhoneSegment, read_tsv, write_tsv
from driver.corpus.real_align import align_speech, merge_gaps, phones_from_alignment, \
    sphinx_phone
from driver.speech_activity import PAUSE, SPEECH, Segment, read_segments, \
    segments_from_stamps, speech_mask, speech_segments, write_segments

RATE = 16000


def _tone(f0: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))).astype(
        np.float32)


def test_group_clips_joins_short_and_cuts_long():
    short = [(f"s{i}", np.ones(RATE, np.float32)) for i in range(7)]       # 7 x 1 s
    clips = list(real_speech.group_clips(short, min_s=3.0))
    assert [len(a) / RATE for _, a in clips] == [3.0, 3.0, 1.0]
    assert clips[0][0] == ["s0", "s1", "s2"]
    long = np.ones(40 * RATE, np.float32)
    long[int(12.5 * RATE): int(12.6 * RATE)] = 0.0          # the quiet spot to cut at
    pieces = list(real_speech.group_clips([("long", long)], min_s=3.0, max_s=16.0))
    assert abs(len(pieces[0][1]) / RATE - 12.55) < 0.06
    assert sum(len(a) for _, a in pieces) == len(long)
    assert all(len(a) <= 16 * RATE for _, a in pieces)


def test_median_f0_tells_low_from_high_voices():
    assert abs(real_speech.median_f0(_tone(110, 1.0)) - 110) < 5
    assert abs(real_speech.median_f0(_tone(220, 1.0)) - 220) < 8
    assert real_speech.sex_from_f0(110.0) == "m" and real_speech.sex_from_f0(220.0) == "f"
    assert real_speech.sex_from_f0(None) == ""
    assert real_speech.median_f0(np.zeros(RATE, np.float32)) is None


def test_no_speaker_is_in_two_splits(tmp_path):
    """KDE by language, codec2 by recording, asterisk by voice: a speaker has one split."""
    (tmp_path / "codec2-examples/usr/share/codec2/wav").mkdir(parents=True)
    for name in ("hts1a", "morig", "all"):
        (tmp_path / f"codec2-examples/usr/share/codec2/wav/{name}.wav").write_bytes(b"")
    for package, base in (("klettres-data", "usr/share/klettres"),
                          ("ktuberling-data", "usr/share/ktuberling/sounds")):
        for lang in ("de", "en", "da", "sr@latin"):
            (tmp_path / package / base / lang).mkdir(parents=True)
            (tmp_path / package / base / lang / "a.ogg").write_bytes(b"")
    groups = real_speech.all_groups(tmp_path)
    split_of: dict[str, set] = {}
    for g in groups:
        split_of.setdefault(g.speaker, set()).add(g.split)
        assert g.package in real_speech.PACKAGES and g.split in real_speech.SPLITS
    assert all(len(s) == 1 for s in split_of.values()), split_of
    assert "codec2-all" not in split_of and "klettres-sr@latin" not in split_of
    assert split_of["klettres-de"] == split_of["ktuberling-de"] == {"test"}
    assert split_of["ktuberling-da"] == {"val"} and split_of["klettres-en"] == {"train"}
    assert split_of["asterisk-carlo"] == {"test"}
    ids = [(g.speaker, g.language) for g in groups]
    assert len(ids) == len(set(ids))            # clip ids (speaker-language-k) never collide
    assert {s for v in split_of.values() for s in v} == {"train", "val", "test"}


def test_build_writes_clips_manifest_and_licences(tmp_path, monkeypatch):
    """A fake unpacked package stands in for the download: wavs become 16 kHz clips."""
    cache = tmp_path / "cache"
    root = cache / "alsa-utils"
    (root / "usr/share/sounds/alsa").mkdir(parents=True)
    (root / "usr/share/doc/alsa-utils").mkdir(parents=True)
    (root / "usr/share/doc/alsa-utils/copyright").write_text("License: GPL-2\n")
    for i, name in enumerate(("Front_Left", "Front_Right", "Noise")):
        sf.write(root / f"usr/share/sounds/alsa/{name}.wav", _tone(200 + 10 * i, 4.0), 48000)
    monkeypatch.setattr(real_speech, "fetch_packages", lambda c, names: {"alsa-utils": "1.0"})
    out = tmp_path / "out"
    rows = real_speech.build_real_speech(out, cache, packages=["alsa-utils"])
    assert len(rows) == 1                      # Noise.wav is not a voice ([FRS]*.wav)
    row = rows[0]
    assert row["members"] == ["usr/share/sounds/alsa/Front_Left.wav",
                              "usr/share/sounds/alsa/Front_Right.wav"]
    assert row["sex"] == "f" and row["sex_basis"] == "median F0"
    assert row["licence"] == "GPL-2" and row["version"] == "1.0"
    audio, rate = sf.read(out / row["path"])
    assert rate == RATE and abs(len(audio) / RATE - row["duration"]) < 1e-6
    assert real_speech.read_manifest(out) == rows
    assert (out / "licences/alsa-utils.copyright").is_file()
    summary = real_speech.summarise(rows)
    assert summary[0]["speakers"] == 1 and summary[0]["female"] == 1
    # a rebuild whose clip has other members drops the clip's stale timings
    wav = out / row["path"]
    wav.with_suffix(".vad.tsv").write_text("0\t1\tpau\n")
    (wav.parent / "gone-en-0000.wav").write_bytes(b"")        # a clip no build makes now
    (root / "usr/share/sounds/alsa/Front_Right.wav").unlink()
    again = real_speech.build_real_speech(out, cache, packages=["alsa-utils"])
    assert again[0]["members"] == ["usr/share/sounds/alsa/Front_Left.wav"]
    assert not wav.with_suffix(".vad.tsv").exists()
    assert not (wav.parent / "gone-en-0000.wav").exists()
    # building one package keeps the clips of the others
    real_speech.write_manifest(out, again + [{**again[0], "id": "x", "package": "gcin-voice"}])
    third = real_speech.build_real_speech(out, cache, packages=["alsa-utils"])
    assert [r["id"] for r in third] == ["x", again[0]["id"]]


def test_unknown_package_is_refused(tmp_path):
    from splat.errors import UserInputError

    with pytest.raises(UserInputError, match="unknown real-speech package"):
        real_speech.build_real_speech(tmp_path, tmp_path, packages=["no-such-package"])


def test_segments_cover_the_clip_and_round_trip(tmp_path):
    segs = segments_from_stamps([(0.5, 1.0), (0.9, 2.0)], 3.0)
    assert [(s.start, s.end, s.label) for s in segs] == [
        (0.0, 0.5, PAUSE), (0.5, 1.0, SPEECH), (1.0, 2.0, SPEECH), (2.0, 3.0, PAUSE)]
    mask = speech_mask(segs, 90, 30.0)
    assert not mask[:15].any() and mask[15:60].all() and not mask[60:].any()
    write_segments(segs, tmp_path / "x.vad.tsv")
    assert read_segments(tmp_path / "x.vad.tsv") == segs


def test_silero_finds_no_speech_in_silence():
    segs = speech_segments(np.zeros(2 * RATE, np.float32))
    assert [s.label for s in segs] == [PAUSE]


def test_sphinx_phones_map_to_the_corpus_set():
    assert sphinx_phone("SIL") == "pau" and sphinx_phone("+NSN+") == "pau"
    assert sphinx_phone("AH") == "ah" and sphinx_phone("M") == "m"
    phones = phones_from_alignment([("SIL", 0, 20), ("M", 20, 10), ("AA", 30, 15)], 0.6)
    assert [(p.start, p.end, p.phone) for p in phones] == [
        (0.0, 0.2, "pau"), (0.2, 0.3, "m"), (0.3, 0.45, "aa"), (0.45, 0.6, "pau")]
    gaps = merge_gaps([PhoneSegment(0.1, 0.2, "m"), PhoneSegment(0.4, 0.5, "aa")])
    assert [p.phone for p in gaps] == ["m", "pau", "aa"]


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")
def test_pocketsphinx_aligns_phones_near_the_true_ones(tmp_path):
    """flite knows where it put every phone: the recognised p/b/m lie within 50 ms of them,
    and the leading pause stays a pause."""
    pytest.importorskip("pocketsphinx")
    from driver.corpus.real_align import SphinxAligner
    from driver.corpus.tts import flite_speak

    speech = flite_speak("rms", "Bob bought a big map for my mother.", 1.0, 1.0)
    audio = np.concatenate([np.zeros(RATE // 2, np.float32), speech.audio])
    words, phones = align_speech(SphinxAligner(), audio, speech_segments(audio))
    assert "map" in words
    truth = [p.start + 0.5 for p in speech.phones if p.phone in ("p", "b", "m")]
    found = [p.start for p in phones if p.phone in ("p", "b", "m")]
    near = sum(any(abs(f - t) < 0.05 for f in found) for t in truth)
    assert near >= 0.8 * len(truth), (truth, found)
    assert phones[0].phone == "pau" and phones[0].end >= 0.45
    path = tmp_path / "x.tsv"
    write_tsv(phones, path)
    back = read_tsv(path)
    assert [p.phone for p in back] == [p.phone for p in phones]
    assert np.allclose([p.start for p in back], [p.start for p in phones], atol=1e-4)


def test_aligned_import_can_skip_clips_without_phones(tmp_path):
    """A real-speech set mixes English clips (phones) and others (VAD only)."""
    from driver.corpus.external import read_aligned_folder
    from splat.errors import UserInputError

    for name in ("a", "b"):
        sf.write(tmp_path / f"{name}.wav", _tone(150, 1.0), RATE)
    write_tsv([PhoneSegment(0.0, 0.5, "pau"), PhoneSegment(0.5, 1.0, "m")], tmp_path / "a.tsv")
    with pytest.raises(UserInputError, match="b.wav has no b.tsv"):
        read_aligned_folder(tmp_path)
    assert [u.name for u in read_aligned_folder(tmp_path, skip_unaligned=True)] == ["a"]
