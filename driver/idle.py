"""Idle motion layered over speech motion: blinks, gaze shifts, head sway, speech-following nods.

A face that only moves its mouth looks dead. Each layer has a strength and an on/off switch and
is a function of stream time and the seed: blink and saccade schedules are drawn from a seeded
generator (extended lazily as time advances), sway is a sum of seeded slow sinusoids. Only the
speech-following layer has state (a smoothed energy envelope), updated once per applied frame.
So the same seed and the same frames give the same motion, regardless of wall-clock timing.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

import numpy as np

from driver.audio import MOTION_FPS, SAMPLE_RATE
from driver.motion import MotionFrame

BLINK_INTERVAL_S = (2.0, 6.0)
BLINK_DURATION_S = (0.10, 0.15)
GAZE_INTERVAL_S = (0.6, 3.0)
GAZE_MOVE_S = 0.05              # a saccade is fast
GAZE_MAX_RAD = 0.12             # eye yaw range at strength 1 (pitch is 60% of it)
SWAY_MAX_RAD = 0.035            # neck sway amplitude at strength 1
NOD_MAX_RAD = 0.06              # extra head pitch at full speech energy, strength 1
ENERGY_SMOOTH_S = 0.25          # envelope time constant for speech following
ENERGY_WINDOW_S = 0.1           # loudness window, centred on the frame time


def rms_energy(audio: np.ndarray, t: float, sample_rate: int = SAMPLE_RATE,
               window_s: float = ENERGY_WINDOW_S) -> float:
    """Loudness around time t mapped to 0..1 (-60 dBFS -> 0, -10 dBFS -> 1): the one speech
    energy `IdleMotion.apply` takes, offline (`render`) and live (through `StreamEnergy`)."""
    c = int(round(t * sample_rate))
    half = int(window_s * sample_rate / 2)
    seg = audio[max(c - half, 0):max(c + half, 0)]
    if seg.size == 0:
        return 0.0
    db = 20.0 * math.log10(float(np.sqrt(np.mean(np.square(seg, dtype=np.float64)))) + 1e-9)
    return float(np.clip((db + 60.0) / 50.0, 0.0, 1.0))


class StreamEnergy:
    """`rms_energy` of a stream whose audio arrives in blocks: the newest `seconds` are kept and
    looked up by stream time, so a live frame gets the value `render` computes on the whole
    clip at the same time. The window is centred on the frame: a frame is `ready` once the
    audio after it has arrived (the default model's 82.5 ms look-ahead covers it already)."""

    def __init__(self, seconds: float = 1.0, sample_rate: int = SAMPLE_RATE) -> None:
        self.sample_rate = sample_rate
        self.keep = int(seconds * sample_rate)
        self.reset()

    def reset(self) -> None:
        self._audio = np.zeros(0, np.float32)
        self._start = 0            # stream sample index of self._audio[0]

    def push(self, samples: np.ndarray) -> None:
        """Append the next block (stream time runs on from the previous one)."""
        audio = np.concatenate([self._audio, np.asarray(samples, np.float32)])
        drop = max(audio.size - self.keep, 0)
        self._audio, self._start = audio[drop:], self._start + drop

    def ready(self, t: float) -> bool:
        """Whether the audio of the whole window around stream time `t` has arrived."""
        end = (self._start + self._audio.size) / self.sample_rate
        return end >= t + ENERGY_WINDOW_S / 2

    def at(self, t: float) -> float:
        """`rms_energy` at stream time `t` (seconds since the first pushed sample)."""
        return rms_energy(self._audio, t - self._start / self.sample_rate, self.sample_rate)


class _Schedule:
    """Event start times on [0, inf) with seeded random gaps, generated on demand."""

    def __init__(self, rng: np.random.Generator, gap: tuple[float, float],
                 first: float) -> None:
        self.rng, self.gap = rng, gap
        self.starts = [first]
        self.values: list[np.ndarray] = []

    def extend_to(self, t: float, draw_value) -> None:
        while self.starts[-1] <= t:
            self.values.append(draw_value())
            self.starts.append(self.starts[-1] + self.rng.uniform(*self.gap))

    def last_before(self, t: float) -> int:
        """Index of the last event starting at or before t (-1 if none)."""
        lo, hi = 0, len(self.starts)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.starts[mid] <= t:
                lo = mid + 1
            else:
                hi = mid
        return lo - 1


class IdleMotion:
    """Adds idle and speech-following motion to MotionFrames.

    Strengths scale each layer (1.0 = natural); `*_on` switch a layer without losing its
    strength. `expr_names` lets blinks find `blink_L`/`blink_R` (no blinks if the rig lacks
    them: FLAME has no named eyelid blendshapes).
    """

    def __init__(self, seed: int = 0, expr_names: Sequence[str] = (), blink: float = 1.0,
                 gaze: float = 1.0, sway: float = 1.0, speech_follow: float = 1.0,
                 blink_on: bool = True, gaze_on: bool = True, sway_on: bool = True,
                 speech_follow_on: bool = True) -> None:
        self.blink, self.gaze, self.sway, self.speech_follow = blink, gaze, sway, speech_follow
        self.blink_on, self.gaze_on = blink_on, gaze_on
        self.sway_on, self.speech_follow_on = sway_on, speech_follow_on
        names = list(expr_names)
        self.blink_idx = [names.index(n) for n in ("blink_L", "blink_R") if n in names]
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        """Restart from the seed (a new stream)."""
        root = np.random.SeedSequence(self.seed)
        r_blink, r_gaze, r_sway = (np.random.default_rng(s) for s in root.spawn(3))
        self._blinks = _Schedule(r_blink, BLINK_INTERVAL_S, r_blink.uniform(0.5, 2.5))
        self._blink_rng = r_blink
        self._gaze = _Schedule(r_gaze, GAZE_INTERVAL_S, r_gaze.uniform(0.3, 1.5))
        self._gaze_rng = r_gaze
        # Three incommensurate slow sinusoids per axis (pitch, yaw, roll), 0.05-0.3 Hz.
        self._sway_freq = r_sway.uniform(0.05, 0.3, size=(3, 3))
        self._sway_phase = r_sway.uniform(0, 2 * math.pi, size=(3, 3))
        self._sway_amp = r_sway.uniform(0.5, 1.0, size=(3, 3)) * np.array([[1.0], [1.2], [0.4]])
        self._energy = 0.0
        self._last_t: float | None = None

    def apply(self, frame: MotionFrame, energy: float = 0.0) -> MotionFrame:
        """Return a copy of `frame` with idle motion added at its time `frame.t`."""
        t = frame.t
        expr = frame.expr.astype(np.float32, copy=True)
        neck = frame.neck_pose.astype(np.float32, copy=True)
        eyes = frame.eyes_pose.astype(np.float32, copy=True)
        if self.blink_on and self.blink > 0 and self.blink_idx:
            v = self._blink_value(t) * min(self.blink, 1.0)
            for i in self.blink_idx:
                expr[i] = max(expr[i], v)
        if self.gaze_on and self.gaze > 0:
            pitch, yaw = self._gaze_value(t) * self.gaze
            eyes[[0, 3]] += pitch
            eyes[[1, 4]] += yaw
        if self.sway_on and self.sway > 0:
            s = np.sum(self._sway_amp * np.sin(2 * math.pi * self._sway_freq * t
                                               + self._sway_phase), axis=1) / 3.0
            neck += (SWAY_MAX_RAD * self.sway * s).astype(np.float32)
        self._update_energy(t, energy)
        if self.speech_follow_on and self.speech_follow > 0:
            e = self._energy
            # A downward nod with loudness plus a small bob at a speech-like 2-3 Hz.
            neck[0] += NOD_MAX_RAD * self.speech_follow * e * (0.6 + 0.4 * math.sin(2 * math.pi
                                                                                    * 2.5 * t))
            neck[1] += 0.3 * NOD_MAX_RAD * self.speech_follow * e * math.sin(2 * math.pi * 0.7 * t)
        return replace(frame, expr=expr, neck_pose=neck, eyes_pose=eyes)

    def _update_energy(self, t: float, energy: float) -> None:
        dt = 1.0 / MOTION_FPS if self._last_t is None else max(t - self._last_t, 0.0)
        a = 1.0 - math.exp(-dt / ENERGY_SMOOTH_S)
        self._energy += a * (float(np.clip(energy, 0.0, 1.0)) - self._energy)
        self._last_t = t

    def _blink_value(self, t: float) -> float:
        """Eyelid closure 0..1: a smooth 100-150 ms close-and-open at each scheduled blink."""
        self._blinks.extend_to(t, lambda: self._blink_rng.uniform(*BLINK_DURATION_S))
        i = self._blinks.last_before(t)
        if i < 0:
            return 0.0
        u = (t - self._blinks.starts[i]) / float(self._blinks.values[i])
        return 0.5 * (1.0 - math.cos(2 * math.pi * u)) if 0.0 <= u <= 1.0 else 0.0

    def _gaze_value(self, t: float) -> np.ndarray:
        """(pitch, yaw) in radians: fixation targets joined by fast eased saccades."""
        self._gaze.extend_to(t, lambda: self._gaze_rng.uniform(-1, 1, size=2)
                             * np.array([0.6 * GAZE_MAX_RAD, GAZE_MAX_RAD]))
        i = self._gaze.last_before(t)
        if i < 0:
            return np.zeros(2)
        prev = self._gaze.values[i - 1] if i > 0 else np.zeros(2)
        u = min((t - self._gaze.starts[i]) / GAZE_MOVE_S, 1.0)
        w = u * u * (3 - 2 * u)
        return prev + (self._gaze.values[i] - prev) * w
