"""Robust acoustics: room responses, codecs, the chain's determinism and timeline, test split."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from driver.audio import MOTION_FPS as FPS
from driver.corpus import channel, noises
from driver.corpus.acoustics import RobustConfig, insert_silences, robust_augment
from driver.corpus.articulation import phones_to_motion
from driver.corpus.phones import SILENCE, PhoneSegment, read_tsv
from driver.corpus.rooms import measure_rt60, room_impulse_response

SR = 16000
# Every step on, so one clip exercises the whole chain.
EVERYTHING = RobustConfig(
    p_standard=0.0, p_lead_in=1.0, p_stretch_pause=1.0, p_tail=1.0, p_breath=1.0, p_smack=1.0,
    p_reverb=1.0, p_laptop_mic=1.0, p_agc=1.0, p_codec=1.0,
    backgrounds={name: (1.0, (15.0, 30.0)) for name in RobustConfig().backgrounds})


def _speechlike(seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    voiced = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 20))
    return (0.2 * voiced * (1 + np.sin(2 * np.pi * 4 * t)) + 0.01 * rng.standard_normal(len(t))
            ).astype(np.float32)


def _utterance() -> tuple[np.ndarray, list[PhoneSegment]]:
    """Two phrases with a 0.2 s pause: pau m aa | pau | b iy pau."""
    rng = np.random.default_rng(5)
    audio = np.zeros(int(1.6 * SR), np.float32)
    audio[int(0.1 * SR):int(0.7 * SR)] = _speechlike(0.6, rng)
    audio[int(0.9 * SR):int(1.5 * SR)] = _speechlike(0.6, rng)
    phones = [PhoneSegment(0.0, 0.1, SILENCE), PhoneSegment(0.1, 0.25, "m"),
              PhoneSegment(0.25, 0.7, "aa"), PhoneSegment(0.7, 0.9, SILENCE),
              PhoneSegment(0.9, 1.05, "b"), PhoneSegment(1.05, 1.5, "iy"),
              PhoneSegment(1.5, 1.6, SILENCE)]
    return audio, phones


@pytest.mark.parametrize("rt60", [0.2, 0.6, 1.2, 2.5])
def test_room_impulse_response_has_the_requested_reverberation_time(rt60: float) -> None:
    for seed, drr in ((0, -6.0), (1, 0.0), (2, 10.0)):
        ir = room_impulse_response(np.random.default_rng(seed), rt60, drr)
        assert ir[0] == 1.0 and np.argmax(np.abs(ir)) == 0          # direct path, no delay
        assert measure_rt60(ir) == pytest.approx(rt60, rel=0.2)
    highs = measure_rt60(ir, band=(3000.0, 6000.0))
    assert highs < measure_rt60(ir)                                  # highs die out faster


def test_codec_round_trips_keep_length_rate_and_timing() -> None:
    rng = np.random.default_rng(0)
    audio = np.zeros(int(1.3 * SR) + 37, np.float32)               # not a whole frame count
    audio[8000:9600] = _speechlike(0.1, rng)
    for codec in channel.CODECS:
        for kbps in (8, 24):
            out = channel.codec_round_trip(audio, codec, kbps)
            assert out.shape == audio.shape and out.dtype == np.float32
            envelope = np.convolve(np.abs(out), np.ones(160) / 160, "same")
            onset = int(np.argmax(envelope > 0.5 * envelope.max()))
            assert abs(onset - 8000) < 160, (codec, kbps, onset)   # within 10 ms of the input
            assert np.max(np.abs(out[:7000])) < 0.05 * np.max(np.abs(out))


def test_robust_chain_is_deterministic_for_a_seed() -> None:
    audio, phones = _utterance()
    a = robust_augment(audio, phones, np.random.default_rng(7), EVERYTHING)
    b = robust_augment(audio, phones, np.random.default_rng(7), EVERYTHING)
    c = robust_augment(audio, phones, np.random.default_rng(8), EVERYTHING)
    assert a.steps == b.steps and np.array_equal(a.audio, b.audio) and a.phones == b.phones
    assert len(c.audio) != len(a.audio) or not np.array_equal(c.audio, a.audio)
    for name in ("reverb", "breaths", "room_tone", "fan", "keyboard", "music_bed", "mains_hum",
                 "laptop_mic", "level", "agc", "kbps"):
        assert any(name in step for step in a.steps), name


def test_inserted_silence_moves_phones_and_lengthens_pauses() -> None:
    audio, phones = _utterance()
    out, moved = insert_silences(audio, phones, [(0, 800), (int(0.8 * SR), 1600)])
    assert len(out) == len(audio) + 2400
    assert [s.phone for s in moved] == [s.phone for s in phones]
    assert moved[1].start == pytest.approx(0.15) and moved[3].end == pytest.approx(1.05)
    assert moved[-1].end == pytest.approx(len(out) / SR)
    assert np.array_equal(out[int(0.15 * SR):int(0.75 * SR)], audio[int(0.1 * SR):int(0.7 * SR)])


def test_pauses_and_tails_stay_at_rest_while_the_audio_there_is_not_silent() -> None:
    audio, phones = _utterance()
    for seed in range(4):
        r = robust_augment(audio, phones, np.random.default_rng(seed), EVERYTHING)
        duration = len(r.audio) / SR
        assert len(r.dry) == len(r.audio) and r.phones[-1].end == pytest.approx(duration)
        assert [s.phone for s in r.phones if s.phone != SILENCE] == ["m", "aa", "b", "iy"]
        motion = phones_to_motion(r.phones, duration, seed)
        times = np.arange(len(motion)) / FPS
        speech = [s for s in r.phones if s.phone != SILENCE]
        far = np.array([min(abs(t - s.start) for s in speech) > 0.1 and
                        min(abs(t - s.end) for s in speech) > 0.1 and
                        not any(s.start <= t < s.end for s in speech) for t in times])
        assert far.sum() > 20
        assert np.all(np.abs(motion[far]) < 1e-6)                    # the rest pose
        quiet = np.abs(r.audio[(np.arange(len(r.audio)) / SR > r.phones[-1].start + 0.1)])
        assert np.sqrt(np.mean(quiet**2)) > 1e-4                     # a tail / room tone, not silence


def test_noise_generators_are_finite_unit_level_and_sized() -> None:
    rng = np.random.default_rng(3)
    n = SR
    for make in (noises.room_tone, noises.fan, noises.music_bed, noises.mains_hum):
        x = make(rng, n)
        assert x.shape == (n,) and np.all(np.isfinite(x)) and 0.3 < np.sqrt(np.mean(x**2)) < 1.5
    keys = noises.keyboard(np.random.default_rng(4), 4 * n)
    frames = np.sqrt(np.mean(keys.reshape(-1, 160) ** 2, axis=1))
    assert 0.02 < np.mean(frames > 0.1) < 0.6                        # clicks, not a hiss
    assert np.all(np.isfinite(noises.breath(rng, 0.4))) and len(noises.breath(rng, 0.4)) == 6400
    spectrum = np.abs(np.fft.rfft(noises.mains_hum(rng, n)))
    assert np.argmax(spectrum) in (50, 60) or np.argmax(spectrum) // 50 in (1, 3)


def test_agc_lifts_the_room_tone_in_a_pause() -> None:
    rng = np.random.default_rng(1)
    audio = 0.002 * rng.standard_normal(3 * SR).astype(np.float32)
    audio[:SR] += _speechlike(1.0, rng)
    out = channel.agc(audio, -20.0, 30.0, 0.01, 0.5)
    gain_start = np.std(out[int(1.1 * SR):int(1.3 * SR)]) / np.std(audio[int(1.1 * SR):int(1.3 * SR)])
    gain_late = np.std(out[int(2.6 * SR):]) / np.std(audio[int(2.6 * SR):])
    assert gain_late > 3 * gain_start                                # pumping: the pause gets louder


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")
def test_test_split_is_identical_under_both_profiles_and_degraded_copy_is_scorable(tmp_path) -> None:
    from driver.corpus.build import generate, make_plan
    from driver.corpus.dataset import read_manifest, split_records
    from driver.corpus.degrade import degrade_split
    from driver.corpus.motion_files import write_motion
    from driver.corpus.tts import Voice

    plan = make_plan([Voice("flite", "kal16"), Voice("flite", "slt")], 2, 0, 2, 1)
    for profile in ("standard", "robust"):
        generate(tmp_path / profile, plan, progress=False, acoustics=profile)
    std, rob = tmp_path / "standard", tmp_path / "robust"
    test_ids = [r["id"] for r in read_manifest(std) if r["split"] == "test"]
    assert len(test_ids) == 2
    for uid in test_ids:
        for name in (f"audio/{uid}.wav", f"audio/{uid}.clean.wav", f"phones/{uid}.tsv"):
            assert (std / name).read_bytes() == (rob / name).read_bytes()
    train = [r for r in read_manifest(rob) if r["split"] == "train"]
    assert all(r["acoustics"] == "robust" for r in train)
    for r in train:
        audio, _ = sf.read(rob / "audio" / f"{r['id']}.wav")
        assert len(audio) == round(r["duration"] * SR)
        assert read_tsv(rob / "phones" / f"{r['id']}.tsv")[-1].end == pytest.approx(r["duration"], abs=1e-4)

    write_motion(std, progress=False)
    assert degrade_split(std, tmp_path / "reverb", rt60=2.0) == 2
    degraded = split_records(tmp_path / "reverb", "test")
    assert len(split_records(tmp_path / "reverb", "train")) == 2
    for r in degraded:
        original = next(o for o in read_manifest(std) if o["id"] == r["id"])
        assert r["duration"] == pytest.approx(original["duration"] + 2.0)
        motion = np.load(tmp_path / "reverb" / "motion" / f"{r['id']}.npy")
        assert len(motion) == int(np.ceil(r["duration"] * FPS - 1e-9))
        assert np.all(np.abs(motion[-45:]) < 1e-6)                   # the ringing room: rest
