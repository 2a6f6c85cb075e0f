"""Gates that decide which microphone audio may move the avatar.

Why a gate at all: the regressor answers any sound, so room noise, fans and keyboard clicks make
the mouth twitch. Two gates, one interface:
- `EnergyGate`: a classic noise gate (RMS level with open/close hysteresis and a hold time).
  Cheap and predictable, but it opens for any loud noise.
- `VoiceGate`: the Silero VAD model shipped inside the `silero-vad` wheel (2 MB TorchScript, no
  download, ~1 ms per 32 ms window on one CPU thread with torch 2.13). It opens for speech and
  stays closed for loud non-speech, which is what a live demo in a noisy room needs.
Closed-gate audio is replaced by silence (not dropped) so stream time keeps running.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from driver.audio import SAMPLE_RATE
from splat.errors import UserInputError

GATE_MODES = ("off", "noise", "voice")


class AudioGate(Protocol):
    """What the live driver and `render --gate` need from a gate."""

    @property
    def pending(self) -> int:
        """Input samples held back for the next call (the output's lag)."""

    def process(self, block: np.ndarray) -> np.ndarray: ...


class EnergyGate:
    """Noise gate: opens above `open_db`, closes `hysteresis_db` lower after `hold_s` of quiet."""

    def __init__(self, open_db: float = -45.0, hysteresis_db: float = 6.0, hold_s: float = 0.25,
                 window: int = 320) -> None:
        self.open_db = open_db
        self.close_db = open_db - hysteresis_db
        self.hold = int(hold_s * SAMPLE_RATE)
        self.window = window
        self.pending = 0  # samples held back for the next call (never, for this gate)
        self.is_open = False
        self._quiet = 0  # samples spent below the close threshold while open

    def process(self, block: np.ndarray) -> np.ndarray:
        """Return the block with closed-gate windows zeroed (decided per 20 ms window)."""
        out = block.copy()
        for i in range(0, len(block), self.window):
            w = block[i:i + self.window]
            db = 20 * np.log10(max(float(np.sqrt(np.mean(w * w))), 1e-6))
            if db >= self.open_db:
                self.is_open, self._quiet = True, 0
            elif self.is_open and db < self.close_db:
                self._quiet += len(w)
                if self._quiet >= self.hold:
                    self.is_open = False
            if not self.is_open:
                out[i:i + self.window] = 0.0
        return out


class VoiceGate:
    """Silero VAD speech gate with the same hysteresis and hold as the noise gate.

    Silero scores fixed 512-sample windows (32 ms at 16 kHz) with a recurrent state, so input is
    buffered to window boundaries; the output lags the input by less than one window.
    """

    WINDOW = 512

    def __init__(self, threshold: float = 0.5, hold_s: float = 0.3) -> None:
        try:
            import torch
            from silero_vad import load_silero_vad
        except ImportError as exc:
            raise UserInputError("voice gate needs the 'silero-vad' package "
                                 "(pip install silero-vad); use the noise gate instead") from exc
        self._torch = torch
        self._model = load_silero_vad()  # TorchScript file inside the wheel: works offline
        self.set_threshold(threshold)
        self.hold = int(hold_s * SAMPLE_RATE)
        self.is_open = False
        self.probability = 0.0
        self._quiet = 0
        self._pending = np.zeros(0, np.float32)

    @property
    def pending(self) -> int:
        """Input samples held back until a window completes (the output's lag)."""
        return len(self._pending)

    def set_threshold(self, threshold: float) -> None:
        """Speech probability that opens the gate; it closes 0.15 lower (hysteresis)."""
        self.threshold = float(threshold)
        self.close_threshold = max(self.threshold - 0.15, 0.05)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Return gated audio for every complete 512-sample window seen so far."""
        buf = np.concatenate([self._pending, block.astype(np.float32, copy=False)])
        n = (len(buf) // self.WINDOW) * self.WINDOW
        self._pending = buf[n:]
        out = buf[:n].copy()
        with self._torch.inference_mode():
            for i in range(0, n, self.WINDOW):
                w = self._torch.from_numpy(np.ascontiguousarray(out[i:i + self.WINDOW]))
                self.probability = float(self._model(w, SAMPLE_RATE))
                if self.probability >= self.threshold:
                    self.is_open, self._quiet = True, 0
                elif self.is_open and self.probability < self.close_threshold:
                    self._quiet += self.WINDOW
                    if self._quiet >= self.hold:
                        self.is_open = False
                if not self.is_open:
                    out[i:i + self.WINDOW] = 0.0
        return out


def make_gate(mode: str, threshold_db: float = -45.0,
              voice_threshold: float = 0.5) -> EnergyGate | VoiceGate | None:
    """The gate for a GUI/settings mode name; None means audio passes untouched.
    `threshold_db` is the noise gate's opening level, `voice_threshold` the voice gate's
    speech probability (each mode has its own knob, so the window's slider always acts)."""
    if mode == "off":
        return None
    if mode == "noise":
        return EnergyGate(open_db=threshold_db)
    if mode == "voice":
        return VoiceGate(threshold=voice_threshold)
    raise UserInputError(f"unknown gate mode '{mode}' (choose from {', '.join(GATE_MODES)})")


def gate_clip(gate: AudioGate, audio: np.ndarray) -> np.ndarray:
    """A whole clip through `gate`, sample-aligned with the input: the tail the gate still
    holds back (under one VAD window) counts as closed, as it would live until more audio came."""
    out = gate.process(np.asarray(audio, np.float32))
    return np.concatenate([out, np.zeros(len(audio) - len(out), np.float32)])
