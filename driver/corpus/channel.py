"""What happens to sound between the room and the model: microphone, gain control, codec.

Each stage keeps every sample in place (zero-phase filters, a delay-compensated codec) so the
engine's phone times stay exact:
- laptop microphone: band-pass 200 Hz–7 kHz with a few resonant peaks of the capsule and case;
- automatic gain control / compressor: a level follower with attack and release drives the
  gain towards a target, up to a maximum boost, so in pauses it slowly lifts the room tone
  (the "pumping" that makes a pause sound like breathing noise);
- a low-bitrate Opus or AAC round trip through PyAV (libopus and FFmpeg's native AAC encoder
  ship in PyAV's wheel), as in video calls and recorded streams;
- the talker's level: far-field speech sits at −40..−10 dBFS.
"""
from __future__ import annotations

import io
from functools import lru_cache

import av
import numpy as np
from scipy.signal import butter, iirpeak, sosfiltfilt, filtfilt

from driver.audio import SAMPLE_RATE

CODECS = {"opus": ("libopus", "ogg"), "aac": ("aac", "adts")}


def laptop_mic(audio: np.ndarray, rng: np.random.Generator, low_hz: float = 200.0,
               high_hz: float = 7000.0) -> np.ndarray:
    """Band-pass `low_hz`–`high_hz` plus 1–3 resonances (+3..+10 dB at 1.5–6 kHz)."""
    out = sosfiltfilt(butter(2, [low_hz, high_hz], btype="band", fs=SAMPLE_RATE, output="sos"),
                      audio)
    for _ in range(int(rng.integers(1, 4))):
        b, a = iirpeak(rng.uniform(1500, 6000), rng.uniform(2, 6), fs=SAMPLE_RATE)
        out = out + (10 ** (rng.uniform(3, 10) / 20) - 1) * filtfilt(b, a, out)
    return out.astype(np.float32)


def speech_level_db(audio: np.ndarray) -> float:
    """RMS (dBFS) over the loudest 30 % of 20 ms frames: the level of the speech itself."""
    n = SAMPLE_RATE // 50
    frames = audio[: len(audio) // n * n].reshape(-1, n)
    if len(frames) == 0:
        return -120.0
    power = np.sort(np.mean(frames.astype(np.float64) ** 2, axis=1))
    loud = power[int(len(power) * 0.7):]
    return float(10 * np.log10(np.mean(loud) + 1e-12))


def set_level(audio: np.ndarray, target_db: float) -> np.ndarray:
    """Scale so that `speech_level_db` is `target_db`."""
    return (audio * 10 ** ((target_db - speech_level_db(audio)) / 20)).astype(np.float32)


def agc(audio: np.ndarray, target_db: float, max_gain_db: float, attack_s: float,
        release_s: float, block: int = 16) -> np.ndarray:
    """Automatic gain control: the gain that brings the followed level to `target_db`, at most
    `max_gain_db`; the follower rises with `attack_s` and falls with `release_s`, so after
    a phrase the gain creeps up and the room tone with it."""
    n_blocks = int(np.ceil(len(audio) / block))
    padded = np.zeros(n_blocks * block, np.float64)
    padded[: len(audio)] = audio
    power = np.mean(padded.reshape(n_blocks, block) ** 2, axis=1)
    rise = np.exp(-block / (attack_s * SAMPLE_RATE))
    fall = np.exp(-block / (release_s * SAMPLE_RATE))
    level = np.empty(n_blocks)
    state = float(np.mean(power[: max(1, n_blocks // 20)]))
    for i, p in enumerate(power):
        coeff = rise if p > state else fall
        state = coeff * state + (1 - coeff) * p
        level[i] = state
    gain_db = np.minimum(target_db - 10 * np.log10(level + 1e-12), max_gain_db)
    gain = np.repeat(10 ** (gain_db / 20), block)[: len(audio)]
    return (audio * gain).astype(np.float32)


def _encode_decode(audio: np.ndarray, codec: str, kbps: int) -> np.ndarray:
    encoder, container = CODECS[codec]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(encoder, rate=SAMPLE_RATE, layout="mono")
        stream.bit_rate = kbps * 1000
        frame_size = stream.codec_context.frame_size or 960
        fmt = stream.codec_context.format.name
        resampler = av.AudioResampler(format=fmt, layout="mono", rate=SAMPLE_RATE)
        pcm = np.asarray(audio, np.float32)
        for start in range(0, len(pcm), frame_size):
            chunk = pcm[start:start + frame_size]
            if len(chunk) < frame_size:
                chunk = np.concatenate([chunk, np.zeros(frame_size - len(chunk), np.float32)])
            frame = av.AudioFrame.from_ndarray(chunk[None], format="flt", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            for converted in resampler.resample(frame):
                for packet in stream.encode(converted):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buffer.seek(0)
    decoded = []
    with av.open(buffer, "r") as inp:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for frame in inp.decode(audio=0):
            for converted in resampler.resample(frame):
                decoded.append(converted.to_ndarray().reshape(-1))
        for converted in resampler.resample(None):
            decoded.append(converted.to_ndarray().reshape(-1))
    return np.concatenate(decoded) if decoded else np.zeros(0, np.float32)


@lru_cache(maxsize=None)
def codec_delay(codec: str, kbps: int) -> int:
    """Samples the decoded stream lags the input (encoder look-ahead and priming), measured
    once per codec and bitrate on a probe of clicks by cross-correlation."""
    probe = np.zeros(SAMPLE_RATE, np.float32)
    rng = np.random.default_rng(0)
    for at in (2000, 6000, 11000):
        probe[at:at + 400] = rng.standard_normal(400) * np.hanning(400) * 0.5
    decoded = _encode_decode(probe, codec, kbps)[: len(probe) + 4096]
    corr = np.correlate(np.pad(decoded, (0, max(0, len(probe) + 4096 - len(decoded)))),
                        probe, mode="valid")
    return int(np.argmax(corr))


def codec_round_trip(audio: np.ndarray, codec: str, kbps: int) -> np.ndarray:
    """Encode at `kbps` kbit/s and decode, with the codec's delay removed: same length, same
    16 kHz rate, same timing."""
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}")
    delay = codec_delay(codec, kbps)
    decoded = _encode_decode(audio, codec, kbps)[delay:delay + len(audio)]
    out = np.zeros(len(audio), np.float32)
    out[: len(decoded)] = decoded
    return out
