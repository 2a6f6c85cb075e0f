"""Synthetic non-speech sounds a laptop microphone picks up around a talker.

Each generator returns float32 audio at 16 kHz with unit RMS over its active part, so the
caller sets levels relative to speech. They are synthetic because no installable package
offers permissively licensed recordings of these sounds (Debian's sound packages hold desktop
notification themes and instrument samples); what a model must learn from them is that such
sound is not speech, and that needs variety more than fidelity: every parameter is drawn per
call. Sounds made by the talker (breaths, lip smacks) are placed by the caller inside pauses;
background sounds (room tone, fan, keyboard, music, mains hum) run over the whole clip.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.fft import next_fast_len
from scipy.signal import butter, iirpeak, lfilter, sosfilt

from driver.audio import SAMPLE_RATE
from driver.corpus import augment


def coloured_noise(rng: np.random.Generator, n: int, colour: str) -> np.ndarray:
    """`augment.coloured_noise` at an FFT-friendly length, cut to n (a clip's length can be
    a large prime, which makes the FFT a hundred times slower)."""
    return augment.coloured_noise(rng, next_fast_len(n, real=True), colour)[:n]


def _unit(x: np.ndarray) -> np.ndarray:
    active = np.abs(x) > 1e-3 * (np.max(np.abs(x)) + 1e-12)
    rms = np.sqrt(np.mean(x[active] ** 2)) if np.any(active) else 1.0
    return (x / (rms + 1e-12)).astype(np.float32)


@lru_cache(maxsize=64)
def _band_sos(low: float, high: float, order: int) -> np.ndarray:
    return butter(order, [low, high], btype="band", fs=SAMPLE_RATE, output="sos")


def _band(x: np.ndarray, low: float, high: float, order: int = 2) -> np.ndarray:
    return sosfilt(_band_sos(low, high, order), x)


def _resonate(x: np.ndarray, freq: float, q: float, gain: float) -> np.ndarray:
    b, a = iirpeak(freq, q, fs=SAMPLE_RATE)
    return x + gain * lfilter(b, a, x)


def breath(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """An inhale: turbulent noise through a vocal tract shaped like a relaxed open mouth or
    the nose, swelling and fading over `seconds` (0.2–0.8 s between phrases)."""
    n = max(16, int(seconds * SAMPLE_RATE))
    nasal = rng.random() < 0.4
    x = _band(rng.standard_normal(n), 150.0 if nasal else 300.0, 2500.0 if nasal else 5500.0)
    for _ in range(2):
        x = _resonate(x, rng.uniform(500, 1200) if nasal else rng.uniform(900, 3200),
                      rng.uniform(3, 8), rng.uniform(1.0, 4.0))
    t = np.linspace(0.0, 1.0, n)
    peak = rng.uniform(0.35, 0.7)
    envelope = np.where(t < peak, np.sin(0.5 * np.pi * t / peak) ** 2,
                        np.cos(0.5 * np.pi * np.clip((t - peak) / (1 - peak), 0, 1)) ** 1.5)
    flutter = 1.0 + 0.15 * np.sin(2 * np.pi * rng.uniform(3, 9) * t * seconds + rng.uniform(0, 6))
    return _unit(x * envelope * flutter)


def lip_smack(rng: np.random.Generator) -> np.ndarray:
    """A lip or tongue click (lips unsticking before a phrase): one or two damped transients
    of 5–30 ms."""
    n = int(rng.uniform(0.005, 0.03) * SAMPLE_RATE)
    out = np.zeros(n + SAMPLE_RATE // 20)
    for _ in range(int(rng.integers(1, 3))):
        start = int(rng.integers(0, SAMPLE_RATE // 25))
        t = np.arange(n) / SAMPLE_RATE
        ring = np.sin(2 * np.pi * rng.uniform(1200, 4500) * t + rng.uniform(0, 6.3))
        burst = (ring + 0.7 * rng.standard_normal(n)) * np.exp(-t / rng.uniform(0.001, 0.006))
        out[start:start + n] += burst * rng.uniform(0.5, 1.0)
    return _unit(_band(out, 400.0, 7000.0))


def room_tone(rng: np.random.Generator, n: int) -> np.ndarray:
    """The hiss and rumble of a quiet room: pink-to-brown noise rolled off above 1–5 kHz."""
    x = coloured_noise(rng, n, str(rng.choice(["pink", "brown"])))
    x = sosfilt(butter(2, rng.uniform(1000, 5000), fs=SAMPLE_RATE, output="sos"), x)
    x = x + 0.2 * coloured_noise(rng, n, "white")           # microphone self-noise
    return _unit(x)


def fan(rng: np.random.Generator, n: int) -> np.ndarray:
    """A laptop or desk fan: low-passed broadband whoosh plus a slightly wobbling blade-pass
    hum (60–250 Hz with harmonics)."""
    t = np.arange(n) / SAMPLE_RATE
    whoosh = sosfilt(butter(2, rng.uniform(400, 2000), fs=SAMPLE_RATE, output="sos"),
                     coloured_noise(rng, n, "pink"))
    f0 = rng.uniform(60, 250)
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(0.1, 0.7) * t)))
    phase /= SAMPLE_RATE
    hum = sum(rng.uniform(0.2, 1.0) / k * np.sin(k * phase + rng.uniform(0, 6.3)) for k in (1, 2, 3))
    return _unit(_unit(whoosh) + rng.uniform(0.2, 0.8) * _unit(hum))


def keyboard(rng: np.random.Generator, n: int) -> np.ndarray:
    """Typing: bursts of key presses (Poisson, 3–9 keys/s while typing), each a click with a
    low thump and a softer release click 50–120 ms later."""
    out = np.zeros(n + SAMPLE_RATE // 4)
    rate = rng.uniform(3, 9)
    t = rng.exponential(1 / rate)
    typing = True
    while t < n / SAMPLE_RATE:
        if typing:
            for delay, level in ((0.0, 1.0), (rng.uniform(0.05, 0.12), rng.uniform(0.2, 0.6))):
                m = int(rng.uniform(0.004, 0.015) * SAMPLE_RATE)
                tt = np.arange(m) / SAMPLE_RATE
                click = _band(rng.standard_normal(m), 1000.0, 7000.0) * np.exp(-tt / 0.002)
                click += 0.5 * np.sin(2 * np.pi * rng.uniform(100, 300) * tt) * np.exp(-tt / 0.004)
                start = int((t + delay) * SAMPLE_RATE)
                out[start:start + m] += level * rng.uniform(0.4, 1.0) * click
        if rng.random() < 0.08:
            typing = not typing
        t += rng.exponential(1 / rate)
    return _unit(out[:n]) if np.any(out[:n]) else out[:n].astype(np.float32)


def music_bed(rng: np.random.Generator, n: int) -> np.ndarray:
    """Background music: a chord progression of plucked or sustained harmonic tones over a
    kick/snare/hi-hat pattern, at a random key and tempo."""
    t = np.arange(n) / SAMPLE_RATE
    beat = 60.0 / rng.uniform(70, 140)
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    minor = rng.random() < 0.5
    degrees = [0, 5, 7, 9] if not minor else [0, 3, 8, 10]
    plucked = rng.random() < 0.5
    music = np.zeros(n)
    bar = 4 * beat
    for k in range(int(np.ceil(n / SAMPLE_RATE / bar)) + 1):
        chord_root = root * 2 ** (rng.choice(degrees) / 12)
        third = 3 if minor else 4
        start, end = k * bar, (k + 1) * bar
        inside = (t >= start) & (t < end)
        local = t[inside] - start
        env = np.exp(-local / rng.uniform(0.3, 1.0)) if plucked else np.minimum(1, local / 0.1)
        for semis in (0, third, 7, 12):
            f = chord_root * 2 ** (semis / 12)
            music[inside] += env * sum(np.sin(2 * np.pi * f * h * local) / h**1.5 for h in (1, 2, 3, 4))
    drums = np.zeros(n + SAMPLE_RATE)
    m = int(0.15 * SAMPLE_RATE)
    tt = np.arange(m) / SAMPLE_RATE
    kick = np.sin(2 * np.pi * (50 * tt + 70 * 0.03 * (1 - np.exp(-tt / 0.03)))) * np.exp(-tt / 0.06)
    snare = (0.6 * rng.standard_normal(m) + 0.4 * np.sin(2 * np.pi * 190 * tt)) * np.exp(-tt / 0.04)
    hat = np.concatenate([_band(rng.standard_normal(m // 6), 5000.0, 7900.0), np.zeros(m - m // 6)])
    hat *= np.exp(-tt / 0.01)
    for i in range(int(n / SAMPLE_RATE / (beat / 2)) + 1):
        s = int(i * beat / 2 * SAMPLE_RATE)
        hit = hat * 0.3 + (kick if i % 4 == 0 else snare * 0.7 if i % 4 == 2 else 0.0)
        drums[s:s + m] += hit
    return _unit(_unit(music) + rng.uniform(0.0, 1.2) * _unit(drums[:n]))


def mains_hum(rng: np.random.Generator, n: int) -> np.ndarray:
    """Ground-loop hum: 50 or 60 Hz and its harmonics (odd ones stronger, as from a rectifier
    buzz), with a slight drift of the line frequency."""
    f0 = float(rng.choice([50.0, 60.0])) * (1 + rng.uniform(-0.003, 0.003))
    t = np.arange(n) / SAMPLE_RATE
    buzz = rng.uniform(0.0, 1.0)
    hum = sum((1.0 / k) * (1.0 if k % 2 else 1.0 - buzz) * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3))
              for k in range(1, 12))
    return _unit(hum)
