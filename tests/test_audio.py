"""Audio loading: formats, rates, channels -> float32 mono 16 kHz, and clear errors."""
import subprocess
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
import soundfile

from driver.audio import SAMPLE_RATE, AudioError, load_audio, to_mono_16k
from splat.errors import UserInputError


def dominant_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spec) * SAMPLE_RATE / x.size)


def tone(rate: int, seconds: float, hz: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    x = 0.5 * np.sin(2 * np.pi * hz * t)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


@pytest.mark.parametrize("rate,channels,ext", [(44100, 2, "wav"), (8000, 1, "flac"),
                                               (96000, 3, "wav"), (48000, 1, "ogg")])
def test_soundfile_formats_resample_to_16k_mono(tmp_path, rate, channels, ext):
    path = tmp_path / f"a.{ext}"
    soundfile.write(path, tone(rate, 1.0, 440.0, channels), rate)
    x = load_audio(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(x.size - SAMPLE_RATE) <= 2          # rational resampling: no drift
    assert abs(dominant_hz(x) - 440.0) < 3.0        # pitch preserved
    assert 0.3 < np.abs(x).max() < 0.6


def encode_with_pyav(path, samples: np.ndarray, rate: int, codec: str) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate, layout="stereo")
        s.codec_context.time_base = Fraction(1, rate)
        s.codec_context.format = "fltp"
        stereo = np.stack([samples, samples]).astype(np.float32)
        for i in range(0, stereo.shape[1], 1152):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo[:, i:i + 1152]),
                                               format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = rate, i
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


@pytest.mark.parametrize("ext,codec", [("mp3", "libmp3lame"), ("m4a", "aac")])
def test_compressed_formats_through_pyav(tmp_path, ext, codec):
    path = tmp_path / f"a.{ext}"
    encode_with_pyav(path, tone(44100, 1.0, 300.0), 44100, codec)
    x = load_audio(path)
    assert abs(x.size - SAMPLE_RATE) < 0.1 * SAMPLE_RATE   # codec padding only
    assert abs(dominant_hz(x) - 300.0) < 3.0


def test_real_speech_file(tmp_path):
    path = tmp_path / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "hello world"], check=True)
    x = load_audio(path)
    assert x.size > SAMPLE_RATE // 2 and np.abs(x).max() > 0.05


def test_errors_are_user_input_errors(tmp_path):
    assert issubclass(AudioError, UserInputError)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        load_audio(empty)
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"this is not audio at all" * 50)
    with pytest.raises(AudioError, match="not a readable audio file"):
        load_audio(junk)
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="NaN"):
        to_mono_16k(np.full(16000, np.nan), 16000)
    with pytest.raises(AudioError, match="too short"):
        to_mono_16k(np.zeros(100), 16000)
    with pytest.raises(AudioError, match="sample rate"):
        to_mono_16k(np.zeros(16000), 4000)
    with pytest.raises(AudioError, match="empty"):
        to_mono_16k(np.zeros(0), 16000)


def test_partial_nan_is_zeroed_with_warning_and_silence_is_valid():
    x = np.zeros(16000)
    x[100:110] = np.nan
    with pytest.warns(UserWarning, match="10 NaN"):
        y = to_mono_16k(x, 16000)
    assert np.isfinite(y).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not to_mono_16k(np.zeros(32000, np.int16), 32000).any()
