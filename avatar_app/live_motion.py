"""The live path's first half: audio source → gate → streaming regressor → MotionBuffer.

`DriverWorker` pulls audio from the source (microphone or file player), gates it, runs the
streaming engine and publishes MotionFrames stamped with the capture time of the audio they
show and that audio's speech energy (`driver.idle.StreamEnergy`, the value `render` computes),
so the head follows speech as strongly live as offline. A frame waits for the audio its energy
window needs only when the model's look-ahead is shorter than half that window.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from avatar_app.audio_in import AudioChunk
from avatar_app.latency_stages import FrameStamps
from avatar_app.vad import AudioGate
from driver.audio import MOTION_FPS, SAMPLE_RATE
from driver.idle import StreamEnergy
from driver.motion import MotionFrame
from driver.streaming import MotionEngine


class AudioSource(Protocol):
    """What both the microphone (AudioInput) and the file player (FilePlayer) offer."""

    lost: bool
    error: str

    def read(self, timeout: float = 0.02) -> AudioChunk | None: ...

    def level_db(self, seconds: float = 0.05) -> float: ...

    def stop(self) -> None: ...


@dataclass
class TimedFrame:
    """A motion frame, the capture time of the audio it shows, and that audio's speech energy
    (0..1, `driver.idle.rms_energy`); `stamps` say where its latency went so far."""

    frame: MotionFrame
    t_capture: float
    energy: float
    stamps: FrameStamps | None = None


class MotionBuffer:
    """Newest few seconds of motion, looked up by capture time (worker writes, renderer reads).

    The renderer sleeps on `wait_after` so it starts a frame as soon as newer motion is
    published, instead of on its own clock (which would add up to a render period)."""

    def __init__(self, seconds: float = 3.0) -> None:
        self._frames: deque[TimedFrame] = deque(maxlen=int(seconds * MOTION_FPS))
        self._lock = threading.Lock()
        self._pushed = threading.Condition(self._lock)
        self.last_push = 0.0  # monotonic time of the newest push

    def push(self, frames: list[TimedFrame]) -> None:
        if not frames:
            return
        now = time.monotonic()
        with self._lock:
            for tf in frames:
                if tf.stamps is not None:
                    tf.stamps.published = now
            self._frames.extend(frames)
            self.last_push = now
            self._pushed.notify_all()

    def wait_after(self, t_capture: float, timeout: float) -> TimedFrame | None:
        """The oldest frame captured after `t_capture` (the next one a renderer could show),
        waiting up to `timeout` for a push when there is none yet."""
        with self._lock:
            nxt = self._first_after(t_capture)
            if nxt is None and timeout > 0:
                self._pushed.wait(timeout)
                nxt = self._first_after(t_capture)
            return nxt

    def between(self, after: float, before: float) -> list[TimedFrame]:
        """Frames captured after `after` and before `before`, oldest first (what a renderer
        that jumped from one to the other skipped)."""
        with self._lock:
            return [tf for tf in self._frames if after < tf.t_capture < before]

    def _first_after(self, t_capture: float) -> TimedFrame | None:
        return next((tf for tf in self._frames if tf.t_capture > t_capture), None)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()

    def select(self, target: float) -> TimedFrame | None:
        """The newest frame captured at or before `target`; the oldest one if all are later."""
        with self._lock:
            if not self._frames:
                return None
            best = self._frames[0]
            for tf in reversed(self._frames):
                if tf.t_capture <= target:
                    best = tf
                    break
            return best


GateFactory = Callable[[], "AudioGate | None"]


class DriverWorker(threading.Thread):
    """Audio → gate → streaming regressor → MotionBuffer, plus the recorder's audio tap.

    Stream time (what the engine sees) counts gated samples from the session start; the map to
    capture time is re-anchored on every chunk, so dropped audio cannot skew the latency figures.
    """

    def __init__(self, source: AudioSource, engine: MotionEngine | None, motion: MotionBuffer,
                 gate_factory: GateFactory, on_audio: Callable[[AudioChunk], None]) -> None:
        super().__init__(name="driver-worker", daemon=True)
        self.source = source
        self.engine = engine
        self.motion = motion
        self.gate = gate_factory()
        self.on_audio = on_audio
        self.muted = False
        self.infer_ms = 0.0  # inference time per motion frame, last push
        self._stop_event = threading.Event()
        self._pushed = 0  # gated samples handed to the engine
        self._energy = StreamEnergy()  # the newest second of gated audio
        self._waiting: list[tuple[MotionFrame, float]] = []  # (frame, anchor) before its energy

    def set_gate(self, gate: AudioGate | None) -> None:
        self.gate = gate

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            chunk = self.source.read(timeout=0.02)
            if chunk is None:
                continue
            t_read = time.monotonic()
            if self.muted:
                chunk = chunk.silenced()
            self.on_audio(chunk)
            self.drive(chunk.samples, chunk.t_capture, chunk.t_arrived, t_read)

    def drive(self, samples: np.ndarray, t_capture: float, t_arrived: float | None = None,
              t_read: float | None = None) -> None:
        """One chunk captured at `t_capture` (delivered at `t_arrived`, read at `t_read`; now
        when not given): gate, energy, engine, buffer (the worker's body; public so a test can
        feed a clip without threads)."""
        gate = self.gate
        if gate is not None:
            # output starts with the samples the gate held back last time
            t_capture -= gate.pending / SAMPLE_RATE
            gated = gate.process(samples)
        else:
            gated = samples
        if len(gated) == 0:
            return
        t_stream = self._pushed / SAMPLE_RATE
        anchor = t_capture - t_stream  # capture time = anchor + stream time
        self._pushed += len(gated)
        self._energy.push(gated)
        if self.engine is None:
            return
        start = time.perf_counter()
        t_read = time.monotonic() if t_read is None else t_read
        frames = self.engine.push(gated, t_stream)
        computed = time.monotonic()
        if frames:
            self.infer_ms = (time.perf_counter() - start) * 1000 / len(frames)
        audio_end = anchor + (t_stream + (len(gated) - 1) / SAMPLE_RATE)
        arrived = computed if t_arrived is None else t_arrived
        self._waiting += [(f, FrameStamps(anchor + f.t, audio_end, arrived, t_read, computed))
                          for f in frames]
        n_ready = next((i for i, (f, _) in enumerate(self._waiting)
                        if not self._energy.ready(f.t)), len(self._waiting))
        ready, self._waiting = self._waiting[:n_ready], self._waiting[n_ready:]
        self.motion.push([TimedFrame(f, st.capture, self._energy.at(f.t), st) for f, st in ready])
