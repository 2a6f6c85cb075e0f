"""Microphone-like degradations of clean TTS audio that keep every sample in place.

Every operation is length-preserving and causal with zero delay on the direct path (the room
impulse response starts with its direct tap at lag 0, filters are zero-phase), so the engine's
phone times stay exact for the degraded audio.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import butter, fftconvolve, resample_poly, sosfiltfilt

from driver.audio import SAMPLE_RATE


@dataclass
class Augmentation:
    """What was applied (stored in the corpus manifest so any sample can be reproduced)."""

    steps: list[str] = field(default_factory=list)


def coloured_noise(rng: np.random.Generator, n: int, colour: str) -> np.ndarray:
    """White, pink (1/f) or brown (1/f²) noise with unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    if colour == "pink":
        spectrum /= np.sqrt(freqs)
    elif colour == "brown":
        spectrum /= freqs
    noise = np.fft.irfft(spectrum, n)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def add_noise(audio: np.ndarray, rng: np.random.Generator, snr_db: float, colour: str) -> np.ndarray:
    """Noise at `snr_db` relative to the speech power (measured over the louder half of samples)."""
    loud = np.sort(np.abs(audio))[len(audio) // 2:]
    power = float(np.mean(loud**2)) + 1e-10
    return audio + coloured_noise(rng, len(audio), colour) * np.sqrt(power / 10 ** (snr_db / 10))


def room_impulse(rng: np.random.Generator, rt60: float, direct_to_reverb_db: float) -> np.ndarray:
    """Synthetic RIR: unit direct tap at lag 0, sparse early reflections, exponential tail."""
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # −60 dB at rt60
    tail[: int(0.003 * SAMPLE_RATE)] = 0.0  # first reflections arrive after a few ms
    for _ in range(6):
        lag = rng.integers(int(0.003 * SAMPLE_RATE), int(0.03 * SAMPLE_RATE))
        tail[lag] += rng.uniform(-0.5, 0.5)
    tail *= 10 ** (-direct_to_reverb_db / 20) / (np.sqrt(np.sum(tail**2)) + 1e-12)
    tail[0] = 1.0
    return tail.astype(np.float32)


def band_limit(audio: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """Zero-phase band-pass, as a cheap microphone/telephone channel."""
    sos = butter(4, [low_hz, high_hz], btype="band", fs=SAMPLE_RATE, output="sos")
    return sosfiltfilt(sos, audio).astype(np.float32)


def resample_round_trip(audio: np.ndarray, rate: int) -> np.ndarray:
    """Down to `rate` and back to 16 kHz (loses the band above rate/2, keeps the length)."""
    down = resample_poly(audio, rate // 1000, SAMPLE_RATE // 1000)
    up = resample_poly(down, SAMPLE_RATE // 1000, rate // 1000)
    out = np.zeros_like(audio)
    out[: min(len(up), len(audio))] = up[: len(audio)]
    return out


def augment(audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Augmentation]:
    """A random chain of degradations; returns audio of the same length and what was done."""
    out = np.asarray(audio, np.float32).copy()
    info = Augmentation()
    if rng.random() < 0.5:
        rt60 = float(rng.uniform(0.15, 0.6))
        drr = float(rng.uniform(0.0, 12.0))
        out = fftconvolve(out, room_impulse(rng, rt60, drr))[: len(out)].astype(np.float32)
        info.steps.append(f"reverb(rt60={rt60:.2f},drr={drr:.1f}dB)")
    if rng.random() < 0.4:
        low, high = float(rng.uniform(60, 300)), float(rng.uniform(3400, 7600))
        out = band_limit(out, low, high)
        info.steps.append(f"band({low:.0f}-{high:.0f}Hz)")
    if rng.random() < 0.3:
        rate = int(rng.choice([8000, 11000, 12000]))
        out = resample_round_trip(out, rate)
        info.steps.append(f"resample({rate})")
    if rng.random() < 0.7:
        snr = float(rng.choice([5.0, 10.0, 15.0, 20.0, 30.0, 40.0]))
        colour = str(rng.choice(["white", "pink", "brown"]))
        out = add_noise(out, rng, snr, colour)
        info.steps.append(f"noise({colour},{snr:.0f}dB)")
    gain_db = float(rng.uniform(-18.0, 6.0))
    out = out * 10 ** (gain_db / 20)
    info.steps.append(f"gain({gain_db:+.1f}dB)")
    if rng.random() < 0.15:
        level = float(rng.uniform(0.3, 0.8)) * float(np.max(np.abs(out)) + 1e-9)
        out = np.clip(out, -level, level)
        info.steps.append("clip")
    return np.clip(out, -1.0, 1.0).astype(np.float32), info


def vocal_tract_warp(audio: np.ndarray, alpha: float, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Vocal tract length perturbation: stretch the spectral envelope by `alpha` (> 1 raises
    formants, as a shorter vocal tract does) frame by frame, keeping every frame in place.

    Magnitudes are resampled along frequency and recombined with the original phases; the
    phase mismatch is audible but the log-mel features a model hears follow the warp, and
    timing is untouched, so phone-locked motion targets stay valid. It imitates speakers (and
    voices) whose formants differ from the few TTS voices of the training set.
    """
    from scipy.signal import istft, stft

    _, _, spec = stft(audio, nperseg=n_fft, noverlap=n_fft - hop)
    bins = np.arange(spec.shape[0], dtype=np.float64)
    source = np.clip(bins / alpha, 0, spec.shape[0] - 1)
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, spec.shape[0] - 1)
    frac = (source - lo)[:, None]
    mag = np.abs(spec)
    warped = (mag[lo] * (1 - frac) + mag[hi] * frac) * np.exp(1j * np.angle(spec))
    _, out = istft(warped, nperseg=n_fft, noverlap=n_fft - hop)
    result = np.zeros_like(audio)
    n = min(len(out), len(audio))
    result[:n] = out[:n]
    return result.astype(np.float32)
