"""Audio files and arrays -> float32 mono 16 kHz, the one audio format inside driver/.

soundfile reads the lossless/Vorbis formats it knows (wav, flac, ogg); everything else (mp3, m4a,
aac, opus in mp4/webm...) goes through PyAV's FFmpeg decoders. Resampling uses a polyphase
filter with the exact rational ratio (scipy's resample_poly), so 44.1 kHz -> 16 kHz is neither
aliased nor drifting in time.

Non-finite samples: a file where *every* sample is NaN/inf is refused; isolated NaN/inf samples
(a broken encoder, a glitchy capture) are set to 0 with a warning, because dropping the whole
file for a few bad samples helps nobody and zeros are the least audible repair.
"""
from __future__ import annotations

import math
import os
import stat
import warnings
from pathlib import Path

import numpy as np

from splat.errors import UserInputError

SAMPLE_RATE = 16000     # every sample inside driver/ and the live app
MOTION_FPS = 30         # motion frames per second of audio: features, motion, corpus
MIN_RATE, MAX_RATE = 8000, 96000
MIN_SAMPLES = math.ceil(SAMPLE_RATE / MOTION_FPS)   # one motion frame of audio
SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif"}


class AudioError(UserInputError):
    """An audio file or array we cannot turn into speech samples (message shown as-is)."""


def load_audio(path: str | Path) -> np.ndarray:
    """Read any common audio file as float32 mono 16 kHz; raises AudioError on bad input."""
    samples, rate = read_audio_source(path)
    return to_mono_16k(samples, rate, name=str(path))


def read_audio_source(path: str | Path) -> tuple[np.ndarray, int]:
    """The file as decoded: float (samples, channels) at its own rate, for writers that keep
    the source's sound (`render`'s sound track); `to_mono_16k` makes the model's input of it."""
    path = Path(path)
    check_audio_file(path)
    samples, rate = None, 0
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        samples, rate = _read_soundfile(path)
    if samples is None:
        samples, rate = _read_pyav(path)
    return samples, rate


def check_audio_file(path: Path) -> None:
    """Refuse what cannot be an audio file, saying what it is instead (before opening it: a
    FIFO would block the reader until someone writes to it)."""
    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        raise AudioError(f"{path} is a folder, not an audio file")
    if stat.S_ISFIFO(mode):
        raise AudioError(f"{path} is a named pipe (FIFO); give a regular audio file")
    if not stat.S_ISREG(mode):
        raise AudioError(f"{path} is a device or socket, not a regular audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty")
    if not os.access(path, os.R_OK):
        raise AudioError(f"{path}: permission denied")


def to_mono_16k(samples: np.ndarray, rate: int, name: str = "audio") -> np.ndarray:
    """(n,) or (n, channels) samples at `rate` Hz -> float32 mono 16 kHz, validated."""
    x = np.asarray(samples)
    if x.ndim == 2:
        if x.shape[1] == 0:
            raise AudioError(f"{name}: audio has no channels")
        x = x.astype(np.float64).mean(axis=1)
    elif x.ndim != 1:
        raise AudioError(f"{name}: expected (samples,) or (samples, channels), got {x.shape}")
    if x.size == 0:
        raise AudioError(f"{name}: audio is empty (no samples)")
    if not MIN_RATE <= rate <= MAX_RATE or int(rate) != rate:
        raise AudioError(f"{name}: sample rate {rate} Hz is outside the supported "
                         f"{MIN_RATE}-{MAX_RATE} Hz")
    if np.issubdtype(x.dtype, np.integer):
        x = x / float(np.iinfo(x.dtype).max + 1)
    x = x.astype(np.float64)
    bad = ~np.isfinite(x)
    if bad.all():
        raise AudioError(f"{name}: every sample is NaN or infinite")
    if bad.any():
        warnings.warn(f"{name}: {int(bad.sum())} NaN/infinite samples set to 0", stacklevel=2)
        x[bad] = 0.0
    rate = int(rate)
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly
        g = math.gcd(rate, SAMPLE_RATE)
        x = resample_poly(x, SAMPLE_RATE // g, rate // g)
    if x.size < MIN_SAMPLES:
        raise AudioError(f"{name}: audio is too short ({x.size / SAMPLE_RATE * 1000:.0f} ms; "
                         f"at least one 1/30 s frame is needed)")
    return np.ascontiguousarray(x, dtype=np.float32)


def _read_soundfile(path: Path) -> tuple[np.ndarray | None, int]:
    """soundfile first for its formats; None lets PyAV try (e.g. a .wav that is really mp3)."""
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError):
        return None, 0
    return data, int(rate)


def _read_pyav(path: Path) -> tuple[np.ndarray, int]:
    """Decode the first audio stream with FFmpeg (through PyAV) as float (n, channels)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(f"{path}: no audio stream in this file")
            stream = container.streams.audio[0]
            rate = int(stream.codec_context.sample_rate or 0)
            # Planar float keeps the source rate and layout; resampling is done by us.
            converter = av.AudioResampler(format="fltp")
            chunks = []
            for frame in container.decode(stream):
                for out in converter.resample(frame):
                    chunks.append(out.to_ndarray())
            for out in converter.resample(None):
                chunks.append(out.to_ndarray())
    except AudioError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise AudioError(f"{path}: not a readable audio file ({exc})") from None
    if not chunks:
        raise AudioError(f"{path}: audio is empty (no samples decoded)")
    return np.concatenate(chunks, axis=1).T, rate
