"""Synthetic room impulse responses with long, frequency-dependent reverberation.

Real rooms ring for 0.2 s (a furnished office) up to 2.5 s (a stairwell, a church), and the
ringing is what keeps a speech-driven mouth open after a phrase ends. A statistical model is
enough to hear like a room: a direct tap at lag 0 (so phone times stay exact), sparse early
reflections in the first 5–60 ms over a diffuse onset from 2–8 ms, and a diffuse tail of noise that decays exponentially in
each octave band at its own rate (air and furnishings absorb high frequencies faster). An
image-source simulator (pyroomacoustics) would cost seconds per long room for no gain in what
a model hears. `measure_rt60` is the standard Schroeder backward integration, used to check
the generator.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfilt, sosfiltfilt

from driver.audio import SAMPLE_RATE

# Octave bands (Hz) of the diffuse tail and each band's RT60 relative to the requested one,
# which is the mid-frequency (500 Hz / 1 kHz) value, as room acoustics reports it.
BANDS = ((None, 177.0), (177.0, 355.0), (355.0, 710.0), (710.0, 1420.0), (1420.0, 2840.0),
         (2840.0, 5680.0), (5680.0, None))
BAND_RT60 = (1.2, 1.1, 1.0, 1.0, 0.9, 0.75, 0.55)


def _band_sos(low: float | None, high: float | None) -> np.ndarray:
    if low is None:
        return butter(4, high, btype="low", fs=SAMPLE_RATE, output="sos")
    if high is None:
        return butter(4, low, btype="high", fs=SAMPLE_RATE, output="sos")
    return butter(3, [low, high], btype="band", fs=SAMPLE_RATE, output="sos")


def room_impulse_response(rng: np.random.Generator, rt60: float, direct_to_reverb_db: float,
                          early_reflections: int = 8) -> np.ndarray:
    """An impulse response whose mid-band reverberation time is `rt60` seconds.

    The direct tap is 1.0 at lag 0 and the reverberant energy (early reflections and tail) is
    `direct_to_reverb_db` below it (negative: a far talker, more room than voice). The tail runs
    to −60 dB of its slowest band.
    """
    n = int(rt60 * max(BAND_RT60) * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    white = rng.standard_normal(n)
    tail = np.zeros(n)
    for (low, high), factor in zip(BANDS, BAND_RT60):
        band = sosfilt(_band_sos(low, high), white)
        tail += band * np.exp(-6.9078 * t / (rt60 * factor))      # ln(1000): −60 dB at rt60
    onset = rng.uniform(0.002, 0.008)      # the diffuse field builds up after the first echoes
    tail *= np.clip((t - onset) / 0.005, 0.0, 1.0)
    for _ in range(early_reflections):
        lag = int(rng.uniform(0.005, 0.06) * SAMPLE_RATE)
        tail[lag] += rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.7) * np.exp(-lag / SAMPLE_RATE / rt60)
    tail *= 10 ** (-direct_to_reverb_db / 20) / (np.sqrt(np.sum(tail**2)) + 1e-12)
    tail[0] = 1.0
    return tail.astype(np.float32)


def measure_rt60(impulse: np.ndarray, band: tuple[float, float] | None = (355.0, 1420.0),
                 fit_db: tuple[float, float] = (-5.0, -35.0), skip_s: float = 0.005) -> float:
    """RT60 (s) from Schroeder's backward-integrated energy decay (a T30 fit, ×2 to −60 dB).

    `band` filters first (default: the 500 Hz and 1 kHz octaves); None measures broadband.
    The decay is taken from `skip_s` on, after the direct sound, so a loud direct path (a
    near talker) does not swallow the fitting range.
    """
    x = np.asarray(impulse, np.float64)
    if band is not None:
        x = sosfiltfilt(butter(3, band, btype="band", fs=SAMPLE_RATE, output="sos"), x)
    energy = np.cumsum((x[int(skip_s * SAMPLE_RATE):] ** 2)[::-1])[::-1]
    decay = 10 * np.log10(energy / energy[0] + 1e-30)
    upper, lower = fit_db
    idx = np.nonzero((decay <= upper) & (decay >= lower))[0]
    if len(idx) < 2:
        raise ValueError("impulse response too short to measure its decay")
    slope = np.polyfit(idx / SAMPLE_RATE, decay[idx], 1)[0]       # dB per second
    return float(-60.0 / slope)
