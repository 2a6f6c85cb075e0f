"""The "robust" acoustics profile: TTS speech placed in a real-sounding room and device.

The shipped model left the mouth open in pauses of real recordings because its training audio
had short, digitally silent pauses, while a laptop microphone hears reverberation tails,
breaths, lip smacks, room tone, fans, keyboards, music, hum, gain control pumping and codec
artefacts there. This chain edits the timeline first (longer pauses between phrases, a
lead-in, a trailing stretch the clip may end in before the room has stopped ringing), fills
the pauses with talker noises (an inhale before a phrase, a lip smack at its onset), runs
everything through a long room response, adds background sounds, then a microphone, a level,
an AGC and a codec. The phones move with the timeline edits, and every inserted stretch, breath
and tail is labelled a pause, so the motion targets say "rest pose" exactly where the audio
carries non-speech sound. Every draw comes from the generator passed in, so a seed reproduces
the clip; the probabilities live in `RobustConfig`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import fftconvolve

from driver.audio import SAMPLE_RATE
from driver.corpus import channel, noises
from driver.corpus.augment import augment
from driver.corpus.phones import SILENCE, PhoneSegment, merge_silences, pad_to_duration
from driver.corpus.rooms import room_impulse_response


@dataclass(frozen=True)
class RobustConfig:
    """Probabilities (p_*) and ranges of every step; ranges are (low, high)."""

    p_standard: float = 0.25          # the clip gets today's standard chain instead
    p_lead_in: float = 0.6
    lead_in_s: tuple[float, float] = (0.1, 0.8)
    p_stretch_pause: float = 0.4      # per phrase break inside the sentence
    stretch_s: tuple[float, float] = (0.1, 0.9)
    p_tail: float = 0.85
    tail_s: tuple[float, float] = (0.2, 2.5)
    p_breath: float = 0.6             # per phrase onset with room for an inhale before it
    breath_db: tuple[float, float] = (-34.0, -18.0)     # re the speech level
    p_smack: float = 0.25
    smack_db: tuple[float, float] = (-30.0, -12.0)
    p_reverb: float = 0.75
    rt60_s: tuple[float, float] = (0.2, 2.5)            # drawn log-uniform
    drr_db: tuple[float, float] = (-6.0, 12.0)
    backgrounds: dict[str, tuple[float, tuple[float, float]]] = field(default_factory=lambda: {
        # name: (probability, SNR range in dB re the speech level)
        "room_tone": (0.9, (25.0, 55.0)), "fan": (0.25, (12.0, 40.0)),
        "keyboard": (0.15, (10.0, 30.0)), "music_bed": (0.15, (12.0, 30.0)),
        "mains_hum": (0.2, (20.0, 50.0))})
    p_laptop_mic: float = 0.4
    level_dbfs: tuple[float, float] = (-40.0, -10.0)
    p_agc: float = 0.35
    p_codec: float = 0.35
    codec_kbps: tuple[int, ...] = (8, 12, 16, 24)


@dataclass
class Rendering:
    """A degraded utterance: what the model hears, the engine speech on the same timeline,
    the phones of that timeline, and what was done."""

    audio: np.ndarray
    dry: np.ndarray
    phones: list[PhoneSegment]
    steps: list[str]


def insert_silences(audio: np.ndarray, phones: list[PhoneSegment],
                    insertions: list[tuple[int, int]]) -> tuple[np.ndarray, list[PhoneSegment]]:
    """Insert `n` zero samples at sample `pos` for each (pos, n); phones at or after `pos`
    move by n samples, so an insertion inside a pause lengthens that pause and one at 0 adds
    a leading pause."""
    insertions = sorted(insertions)
    pieces, last = [], 0
    for pos, n in insertions:
        pieces += [audio[last:pos], np.zeros(n, audio.dtype)]
        last = pos
    pieces.append(audio[last:])
    out = np.concatenate(pieces)

    def moved(t: float) -> float:
        sample = int(round(t * SAMPLE_RATE))
        return t + sum(n for pos, n in insertions if pos <= sample) / SAMPLE_RATE

    shifted = [PhoneSegment(moved(s.start), moved(s.end), s.phone) for s in phones]
    return out, pad_to_duration(merge_silences(shifted), len(out) / SAMPLE_RATE)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _edit_timeline(audio: np.ndarray, phones: list[PhoneSegment], rng: np.random.Generator,
                   cfg: RobustConfig, steps: list[str]) -> tuple[np.ndarray, list[PhoneSegment]]:
    before = len(audio)
    insertions = []
    if rng.random() < cfg.p_lead_in:
        insertions.append((0, int(rng.uniform(*cfg.lead_in_s) * SAMPLE_RATE)))
    for i, seg in enumerate(phones[1:-1], 1):
        if seg.phone == SILENCE and seg.end - seg.start >= 0.04 and rng.random() < cfg.p_stretch_pause:
            insertions.append((int(round(seg.mid * SAMPLE_RATE)),
                               int(rng.uniform(*cfg.stretch_s) * SAMPLE_RATE)))
    audio, phones = insert_silences(audio, phones, insertions)
    if rng.random() < cfg.p_tail:
        tail = int(rng.uniform(*cfg.tail_s) * SAMPLE_RATE)
        audio = np.concatenate([audio, np.zeros(tail, audio.dtype)])
        phones = pad_to_duration(phones, len(audio) / SAMPLE_RATE)
    if len(audio) > before:
        steps.append(f"pauses(+{(len(audio) - before) / SAMPLE_RATE:.2f}s)")
    return audio, phones


def _place(signal: np.ndarray, sound: np.ndarray, end: int, gain: float) -> None:
    start = max(0, end - len(sound))
    signal[start:end] += gain * sound[len(sound) - (end - start):]


def _talker_noises(dry: np.ndarray, phones: list[PhoneSegment], rng: np.random.Generator,
                   cfg: RobustConfig, speech_rms: float, steps: list[str]) -> np.ndarray:
    """Inhales and lip smacks in the pauses before phrase onsets (never within 50 ms of speech)."""
    out = dry.astype(np.float64).copy()
    breaths = smacks = 0
    for prev, onset in zip(phones, phones[1:]):
        if prev.phone != SILENCE or onset.phone == SILENCE:
            continue
        room = onset.start - prev.start - (0.05 if prev.start > 0 else 0.0)
        if room >= 0.35 and rng.random() < cfg.p_breath:
            gap = rng.uniform(0.05, 0.15)
            length = min(rng.uniform(0.25, 0.7), room - gap - 0.02)
            gain = speech_rms * 10 ** (rng.uniform(*cfg.breath_db) / 20)
            _place(out, noises.breath(rng, length), int((onset.start - gap) * SAMPLE_RATE), gain)
            breaths += 1
        if room >= 0.12 and rng.random() < cfg.p_smack:
            lead = rng.uniform(0.05, min(0.25, room - 0.05))
            gain = speech_rms * 10 ** (rng.uniform(*cfg.smack_db) / 20)
            smack = noises.lip_smack(rng)
            _place(out, smack, int((onset.start - lead) * SAMPLE_RATE) + len(smack) // 2, gain)
            smacks += 1
    if breaths or smacks:
        steps.append(f"talker(breaths={breaths},smacks={smacks})")
    return out


def robust_augment(clean: np.ndarray, phones: list[PhoneSegment], rng: np.random.Generator,
                   cfg: RobustConfig = RobustConfig()) -> Rendering:
    """Render `clean` (engine speech) with `phones` through the robust chain."""
    clean = np.asarray(clean, np.float32)
    if rng.random() < cfg.p_standard:
        heard, info = augment(clean, rng)
        return Rendering(heard, clean, list(phones), ["standard"] + info.steps)
    steps: list[str] = []
    dry, phones = _edit_timeline(clean, list(phones), rng, cfg, steps)
    speech_rms = 10 ** (channel.speech_level_db(dry) / 20)
    wet = _talker_noises(dry, phones, rng, cfg, speech_rms, steps)
    if rng.random() < cfg.p_reverb:
        rt60 = _log_uniform(rng, *cfg.rt60_s)
        drr = float(rng.uniform(*cfg.drr_db))
        wet = fftconvolve(wet, room_impulse_response(rng, rt60, drr))[: len(dry)]
        steps.append(f"reverb(rt60={rt60:.2f}s,drr={drr:.1f}dB)")
    speech_rms = 10 ** (channel.speech_level_db(wet) / 20)
    mix = wet.copy()
    for name, (p, snr_range) in cfg.backgrounds.items():
        if rng.random() < p:
            snr = float(rng.uniform(*snr_range))
            mix += getattr(noises, name)(rng, len(mix)) * speech_rms * 10 ** (-snr / 20)
            steps.append(f"{name}({snr:.0f}dB)")
    if rng.random() < cfg.p_laptop_mic:
        mix = channel.laptop_mic(mix, rng)
        steps.append("laptop_mic")
    level = float(rng.uniform(*cfg.level_dbfs))
    mix = mix * 10 ** ((level - 20 * np.log10(speech_rms + 1e-12)) / 20)
    steps.append(f"level({level:.0f}dBFS)")
    if rng.random() < cfg.p_agc:
        target, boost = float(rng.uniform(-26, -16)), float(rng.uniform(10, 30))
        attack, release = float(rng.uniform(0.005, 0.03)), float(rng.uniform(0.2, 1.5))
        mix = channel.agc(mix, target, boost, attack, release)
        steps.append(f"agc({target:.0f}dBFS,+{boost:.0f}dB,{release:.2f}s)")
    if rng.random() < cfg.p_codec:
        codec, kbps = str(rng.choice(list(channel.CODECS))), int(rng.choice(cfg.codec_kbps))
        mix = channel.codec_round_trip(np.asarray(mix, np.float32), codec, kbps)
        steps.append(f"{codec}({kbps}kbps)")
    return Rendering(np.clip(mix, -1.0, 1.0).astype(np.float32), dry, phones, steps)
