"""Speech with exact phone timings from the TTS engines installed on the machine.

Each engine reports the phone boundaries it used for synthesis itself, so timings are exact:
- flite (`-psdur` prints `phone:end` for every segment),
- festival (the utterance's Segment relation, dumped by a small Scheme script),
- espeak-ng (its C library's phoneme events carry the sample position where each phoneme
  starts; loaded through ctypes because the command line has no timing output without MBROLA,
  and no MBROLA voices are installed).
All audio is returned as float32 mono at 16 kHz; phone times refer to that audio.
"""
from __future__ import annotations

import ctypes
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from driver.audio import SAMPLE_RATE
from driver.corpus.phones import SILENCE, PhoneSegment, merge_silences, normalise_phone, \
    pad_to_duration, parse_end_times, parse_flite_psdur


@dataclass(frozen=True)
class Voice:
    """One speaking voice: `engine` ("flite", "festival", "espeak") and the engine's voice name."""

    engine: str
    name: str

    @property
    def id(self) -> str:
        return f"{self.engine}-{self.name}".replace("+", "_")


@dataclass
class Speech:
    """Synthesised audio (float32, 16 kHz mono) and the phones the engine placed in it."""

    audio: np.ndarray
    phones: list[PhoneSegment]


def to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    """Polyphase resampling to 16 kHz (exact length ratio, so phone times stay valid)."""
    audio = np.asarray(audio, np.float32)
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if rate == SAMPLE_RATE:
        return audio
    g = gcd(rate, SAMPLE_RATE)
    return resample_poly(audio, SAMPLE_RATE // g, rate // g).astype(np.float32)


def _finish(audio: np.ndarray, phones: list[PhoneSegment]) -> Speech:
    return Speech(audio, pad_to_duration(phones, len(audio) / SAMPLE_RATE))


# --- flite -------------------------------------------------------------------------------------
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
# Rough mean F0 (Hz) of each flite voice, used to turn a relative pitch factor into flite's
# absolute int_f0_target_mean.
_FLITE_F0 = {"kal": 105.0, "kal16": 105.0, "awb": 110.0, "rms": 100.0, "slt": 170.0}
# flite voices that ignore int_f0_target_mean (measured: rms stays at ~100 Hz when asked for 220).
FIXED_F0_VOICES = frozenset({"rms"})


def flite_speak(voice: str, text: str, rate: float, pitch: float) -> Speech:
    """flite with duration stretch 1/rate and mean F0 scaled by `pitch`."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        result = subprocess.run(
            ["flite", "-voice", voice, "--setf", f"duration_stretch={1.0 / rate:.3f}",
             "--setf", f"int_f0_target_mean={_FLITE_F0[voice] * pitch:.1f}", "-psdur",
             "-t", text, "-o", str(wav)], capture_output=True, text=True, check=True)
        audio, sr = sf.read(wav, dtype="float32")
    return _finish(to_16k(audio, sr), parse_flite_psdur(result.stdout))


# --- festival ----------------------------------------------------------------------------------
def festival_voices() -> list[str]:
    """Installed festival voice names (folders under the festival voices directory)."""
    root = Path("/usr/share/festival/voices")
    if not shutil.which("festival") or not root.is_dir():
        return []
    return sorted(p.name for lang in root.iterdir() if lang.is_dir() for p in lang.iterdir()
                  if p.is_dir())


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", " ").replace('"', " ") + '"'


def festival_speak(voice: str, text: str, rate: float, pitch: float) -> Speech:
    """festival: synthesise, save the wave, print each Segment's name and end time."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        script = Path(tmp) / "say.scm"
        script.write_text(
            f"(voice_{voice})\n"
            f"(Parameter.set 'Duration_Stretch {1.0 / rate:.3f})\n"
            f"(set! int_lr_params (list (list 'target_f0_mean {105.0 * pitch:.1f}) "
            "(list 'target_f0_std 18) (list 'model_f0_mean 170) (list 'model_f0_std 34)))\n"
            f"(set! utt (Utterance Text {_scheme_string(text)}))\n(utt.synth utt)\n"
            f"(utt.save.wave utt \"{wav}\" 'riff)\n"
            "(mapcar (lambda (s) (format t \"SEG %s %f\\n\" (item.name s) (item.feat s \"end\")))"
            " (utt.relation.items utt 'Segment))\n")
        result = subprocess.run(["festival", "--batch", str(script)], capture_output=True,
                                text=True, check=True)
        audio, sr = sf.read(wav, dtype="float32")
    lines = [line[4:] for line in result.stdout.splitlines() if line.startswith("SEG ")]
    return _finish(to_16k(audio, sr), parse_end_times(lines))


# --- espeak-ng ---------------------------------------------------------------------------------
ESPEAK_VOICES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                 "en-gb-x-gbcwmd", "en-029", "en-us-nyc")

# Timbre variants espeak-ng applies on top of any voice (`en-us+f2`); picked per utterance.
ESPEAK_VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")

# espeak-ng's English phoneme mnemonics → ARPAbet (the mouth shape is what matters here).
_ESPEAK_TO_ARPABET = {
    "@": "ah", "@2": "ah", "@5": "ah", "@L": "l", "3": "er", "3:": "er", "3:r": "er", "a": "ae",
    "a#": "ah", "A:": "aa", "A@": "aa", "A:r": "aa", "aa": "ae", "aI": "ay", "aI@": "ay",
    "aI3": "ay", "aU": "aw", "aU@": "aw", "e": "eh", "e@": "eh", "E": "eh", "E2": "eh",
    "E3": "eh", "eI": "ey", "i": "iy", "i:": "iy", "i@": "iy", "i@3": "iy", "I": "ih", "I2": "ih",
    "I#": "ih", "0": "aa", "O": "ao", "O:": "ao", "O@": "ao", "o@": "ao", "OI": "oy", "oU": "ow",
    "@U": "ow", "o": "ow", "u:": "uw", "U": "uh", "U@": "uh", "u": "uw", "V": "ah", "aI2": "ay",
    "b": "b", "d": "d", "D": "dh", "f": "f", "g": "g", "h": "hh", "j": "y", "k": "k", "l": "l",
    "m": "m", "n": "n", "N": "ng", "p": "p", "r": "r", "r-": "r", "s": "s", "S": "sh", "t": "t",
    "T": "th", "v": "v", "w": "w", "z": "z", "Z": "zh", "tS": "ch", "dZ": "jh", "x": "k",
    "t#": "t", "?": "t", "n-": "n", "m-": "m", "l/": "l", "l/2": "l", "z/2": "z", "W": "w",
    "_": SILENCE, "_:": SILENCE, "_!": SILENCE, "_|": SILENCE, "_^_": SILENCE, "#": SILENCE,
}


def espeak_phone(mnemonic: str) -> str | None:
    """ARPAbet for an espeak-ng mnemonic; None for bare modifier events (";" palatalisation),
    which belong to the phone before them."""
    name = mnemonic.strip().lstrip("',%=")
    if name and not any(ch.isalnum() or ch in "@_#?" for ch in name):
        return None
    if name in _ESPEAK_TO_ARPABET:
        return _ESPEAK_TO_ARPABET[name]
    for cut in range(len(name) - 1, 0, -1):  # e.g. "aI@3" → "aI@"; "r/" → "r"
        if name[:cut] in _ESPEAK_TO_ARPABET:
            return _ESPEAK_TO_ARPABET[name[:cut]]
    return normalise_phone(name)


class _EspeakEventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _EspeakEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EspeakEventId)]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                   ctypes.POINTER(_EspeakEvent))
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_AUDIO_OUTPUT_SYNCHRONOUS, _INITIALIZE_PHONEME_EVENTS = 2, 1
_PARAM_RATE, _PARAM_PITCH = 1, 3


class Espeak:
    """The espeak-ng library in synchronous mode with phoneme events (one per process)."""

    def __init__(self) -> None:
        self.lib = ctypes.CDLL("libespeak-ng.so.1")
        self.rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
                                               _INITIALIZE_PHONEME_EVENTS)
        if self.rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise")
        self._samples: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []
        self._callback = _SYNTH_CALLBACK(self._on_synth)  # kept alive as long as self
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, count, events) -> int:
        if wav and count > 0:
            self._samples.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_PHONEME:
                self._events.append((events[i].sample, events[i].id.string.decode("ascii", "replace")))
            i += 1
        return 0

    def speak(self, voice: str, text: str, rate: float, pitch: float) -> Speech:
        """Speak at 175·rate words/min and pitch 50·pitch (espeak's 0–100 scale)."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {voice!r}")
        self.lib.espeak_SetParameter(_PARAM_RATE, int(175 * rate), 0)
        self.lib.espeak_SetParameter(_PARAM_PITCH, int(np.clip(50 * pitch, 0, 100)), 0)
        self._samples, self._events = [], []
        data = text.encode("utf-8")
        self.lib.espeak_Synth(ctypes.c_char_p(data), len(data) + 1, 0, 0, 0, 0, None, None)
        self.lib.espeak_Synchronize()
        raw = np.concatenate(self._samples).astype(np.float32) / 32768.0
        duration = len(raw) / self.rate
        starts = [(sample / self.rate, phone) for sample, name in self._events
                  if (phone := espeak_phone(name)) is not None]
        segments = [PhoneSegment(t, starts[i + 1][0] if i + 1 < len(starts) else duration, p)
                    for i, (t, p) in enumerate(starts)]
        return _finish(to_16k(raw, self.rate), merge_silences(segments))


def available_voices() -> list[Voice]:
    """Every voice of every engine found on this machine (English only)."""
    voices: list[Voice] = []
    if shutil.which("flite"):
        listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout
        voices += [Voice("flite", v) for v in FLITE_VOICES if v in listed.split()]
    voices += [Voice("festival", v) for v in festival_voices()]
    try:
        Espeak()
        voices += [Voice("espeak", v) for v in ESPEAK_VOICES]
    except OSError:
        pass
    return voices


class Synthesiser:
    """Dispatch to the right engine; owns the (process-wide) espeak-ng library handle."""

    def __init__(self) -> None:
        self._espeak: Espeak | None = None

    def speak(self, voice: Voice, text: str, rate: float = 1.0, pitch: float = 1.0) -> Speech:
        if voice.engine == "flite":
            return flite_speak(voice.name, text, rate, pitch)
        if voice.engine == "festival":
            return festival_speak(voice.name, text, rate, pitch)
        if voice.engine == "espeak":
            if self._espeak is None:
                self._espeak = Espeak()
            return self._espeak.speak(voice.name, text, rate, pitch)
        raise ValueError(f"unknown engine {voice.engine}")
