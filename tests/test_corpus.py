"""Corpus: phone-timing parsing, TTS timings, augmentation, text, splits, external data."""
from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
import soundfile as sf

from driver.corpus import phones as ph
from driver.corpus.augment import augment, room_impulse
from driver.corpus.build import make_plan
from driver.corpus.dataset import check_disjoint, read_manifest, split_records
from driver.corpus.external import import_aligned_folder, read_aligned_folder
from driver.corpus.splits import TEST_VOICES
from driver.corpus.text import sentences
from driver.corpus.tts import Voice, espeak_phone, flite_speak
from driver.corpus.vocaset import list_vocaset, load_sequence, load_templates
from splat.errors import UserInputError


def test_flite_psdur_parsing_uses_end_times() -> None:
    segs = ph.parse_flite_psdur("pau:0.119 hh:0.212 ax:0.261 l:0.396 ow:0.632 pau:0.734 \n")
    assert [s.phone for s in segs] == ["pau", "hh", "ah", "l", "ow", "pau"]
    assert segs[0].start == 0.0 and segs[1].start == pytest.approx(0.119)
    assert segs[-1].end == pytest.approx(0.734)


def test_festival_and_tsv_parsing(tmp_path) -> None:
    segs = ph.parse_end_times(["pau 0.24", "m 0.30", "ay 0.45", "pau 0.5", "pau 0.7"])
    assert [s.phone for s in segs] == ["pau", "m", "ay", "pau"]   # touching pauses merged
    tsv = tmp_path / "a.tsv"
    tsv.write_text("start\tend\tphone\n0.0\t0.1\tSIL\n0.1\t0.2\tB\n0.2\t0.35\tAA1\n")
    assert [s.phone for s in ph.read_tsv(tsv)] == ["pau", "b", "aa"]
    tsv.write_text("0.0 0.1 xx\n")
    with pytest.raises(UserInputError):
        ph.read_tsv(tsv)


def test_espeak_mnemonics_map_to_arpabet() -> None:
    assert espeak_phone("tS") == "ch" and espeak_phone("aI@") == "ay"
    assert espeak_phone("'oU") == "ow" and espeak_phone("_:") == "pau"
    assert espeak_phone(";") is None          # a palatalisation mark, not a phone


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")
def test_flite_timings_cover_the_audio_exactly() -> None:
    speech = flite_speak("kal16", "Bob moved the map.", rate=1.0, pitch=1.0)
    duration = len(speech.audio) / 16000
    assert speech.phones[0].start == 0.0 and speech.phones[-1].end == pytest.approx(duration)
    assert [s.phone for s in speech.phones].count("b") == 2
    for a, b in zip(speech.phones, speech.phones[1:]):
        assert a.end == pytest.approx(b.start)


def test_augmentation_keeps_length_and_onsets() -> None:
    rng = np.random.default_rng(0)
    audio = np.zeros(16000, np.float32)
    audio[8000:8400] = 0.5
    for seed in range(5):
        out, info = augment(audio, np.random.default_rng(seed))
        assert out.shape == audio.shape and np.all(np.abs(out) <= 1.0)
        assert info.steps
    rir = room_impulse(rng, 0.3, 6.0)
    assert rir[0] == 1.0 and np.argmax(np.abs(rir)) == 0   # direct path first: no delay


def test_sentences_vary_and_test_sentences_are_unseen() -> None:
    texts = sentences("train", 50)
    assert len(set(texts)) > 45
    words = [len(t.split()) for t in texts]
    assert min(words) <= 3 and max(words) >= 20
    voices = [Voice("flite", "kal"), Voice("flite", "slt"), Voice("espeak", "en-us")]
    plan = [s for shard in make_plan(voices, 30, 3, 30, 3) for s in shard]
    train_texts = {s.text for s in plan if s.split != "test"}
    assert all(s.text not in train_texts for s in plan if s.split == "test")
    assert {s.split for s in plan if s.voice.name == "slt"} == {"test"}
    assert "flite-slt" in TEST_VOICES


def test_splits_are_disjoint_by_voice(tmp_path) -> None:
    from tests.test_train_fixtures import write_tiny_corpus

    corpus = write_tiny_corpus(tmp_path / "c", clips_per_voice=1)
    records = read_manifest(corpus)
    check_disjoint(records)
    test_voices = {r["voice"] for r in split_records(corpus, "test")}
    train_voices = {r["voice"] for r in split_records(corpus, "train")}
    assert test_voices and not test_voices & train_voices
    with pytest.raises(UserInputError):
        check_disjoint(records + [{**records[0], "split": "test", "voice": "v-a"}])


def test_external_aligned_folder_goes_through_the_motion_model(tmp_path) -> None:
    src = tmp_path / "aligned"
    src.mkdir()
    sf.write(src / "hello.wav", np.zeros(8000, np.float32), 16000)
    (src / "hello.tsv").write_text("0.1\t0.2\tM\n0.2\t0.4\tAA1\n")
    utts = read_aligned_folder(src)
    assert [s.phone for s in utts[0].phones] == ["pau", "m", "aa", "pau"]
    assert import_aligned_folder(src, tmp_path / "corpus", "test").aligned == 1
    motion = np.load(tmp_path / "corpus" / "motion" / "external-test-hello.npy")
    assert motion.shape[0] == 15 and motion[4, 1] == 1.0      # frame 4 = 0.133 s: in the /m/
    (src / "orphan.wav").write_bytes((src / "hello.wav").read_bytes())
    with pytest.raises(UserInputError, match="orphan"):
        read_aligned_folder(src)


def test_vocaset_loader_halves_frame_rate_and_splits_by_speaker(tmp_path) -> None:
    (tmp_path / "vertices_npy").mkdir()
    (tmp_path / "wav").mkdir()
    speakers = {"FaceTalk_170728_03272_TA": 3, "FaceTalk_170809_00138_TA": 22}
    templates = {}
    for subject, sentence in speakers.items():
        name = f"{subject}_sentence{sentence:02d}"
        np.save(tmp_path / "vertices_npy" / f"{name}.npy",
                np.arange(12 * 30, dtype=np.float32).reshape(12, 30))
        sf.write(tmp_path / "wav" / f"{name}.wav", np.zeros(3200, np.float32), 16000)
        templates[subject] = np.zeros((10, 3))
    with open(tmp_path / "templates.pkl", "wb") as f:
        pickle.dump(templates, f)
    templates = load_templates(tmp_path)
    train = [load_sequence(e, templates) for e in list_vocaset(tmp_path, "train")]
    test = list_vocaset(tmp_path, "test")
    assert [s.subject for s in train] == ["FaceTalk_170728_03272_TA"]
    assert [s.sentence for s in test] == [22]
    assert train[0].vertices.shape == (6, 10, 3)
    assert train[0].vertices[1, 0, 0] == 60.0                 # frame 2 of the 60 fps source
    templates["FaceTalk_170728_03272_TA"] = np.zeros((9, 3), np.float32)
    with pytest.raises(UserInputError, match="like the subject's template"):
        load_sequence(list_vocaset(tmp_path, "train")[0], templates)


def test_plan_gives_male_engine_voices_a_raised_pitch_share_but_never_the_test_split() -> None:
    voices = [Voice("flite", "awb"), Voice("flite", "rms"), Voice("flite", "slt"),
              Voice("espeak", "en")]
    specs = [s for shard in make_plan(voices, 60, 4, 20, rounds=2) for s in shard]
    raised = [s for s in specs if s.pitch > 1.25]
    assert {s.voice.name for s in raised} == {"awb"}          # rms ignores F0 targets; slt is test
    assert 0.2 < len(raised) / 64 < 0.5
    assert all(1.5 <= s.pitch <= 2.2 for s in raised)
    assert all(0.8 <= s.pitch <= 1.25 for s in specs if s.split == "test")


def test_raised_pitch_really_raises_f0() -> None:
    def median_f0(audio: np.ndarray, sr: int = 16000) -> float:
        n, f0 = int(0.04 * sr), []
        for i in range(0, len(audio) - n, n // 2):
            x = audio[i:i + n] - audio[i:i + n].mean()
            if np.sqrt(np.mean(x**2)) < 0.05 * np.max(np.abs(audio)):
                continue
            ac = np.correlate(x, x, "full")[n - 1:]
            k = sr // 400 + int(np.argmax(ac[sr // 400: sr // 60]))
            if ac[k] > 0.3 * ac[0]:
                f0.append(sr / k)
        return float(np.median(f0))

    text = "Maybe Bob will bring the map."
    low = median_f0(flite_speak("awb", text, 1.0, 1.0).audio)
    high = median_f0(flite_speak("awb", text, 1.0, 2.0).audio)
    assert 1.7 < high / low < 2.3
