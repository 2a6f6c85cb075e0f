"""Where the live path's audio-to-frame latency goes, stage by stage, per shown image.

Every image carries `FrameStamps`: the monotonic times its motion crossed each border of the
live path (audio captured, delivered by the device, read by the driver, out of the model,
published, render started/finished, taken by the window, uploaded). Consecutive stamps
telescope, so a frame's stages add up exactly to its audio-to-frame latency:

  look-ahead   the model's own audio look-ahead (read from the engine, not a constant)
  block        the rest of the wait for the chunk that completed the frame (block size,
               the gate's hold-back, the engine's frame grid)
  capture      ADC -> this process: host/server buffering, burst delivery, resampler pad
  queue        device callback -> driver worker read (ring, resampling)
  model        the streaming regressor's push
  energy       waiting for the audio of the speech-energy window (only when the look-ahead
               is shorter than half that window)
  wait render  published -> the render worker picked it up
  rig+bind, raster   the render itself
  to window    finished image waiting in the mailbox for the GUI thread
  upload       the GUI's texture upload (`set_value`)
`present` (the GUI frame after the upload: dearpygui draws and swaps) is reported beside the
sum, not in it: the latency figure ends when the window has the image.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

STAGES = ("look-ahead", "block", "capture", "queue", "model", "energy", "wait render",
          "rig+bind", "raster", "to window", "upload")
SHORT = {"look-ahead": "LA", "block": "blk", "capture": "cap", "queue": "q", "model": "model",
         "energy": "en", "wait render": "wait", "rig+bind": "rig", "raster": "rast",
         "to window": "win", "upload": "up"}


@dataclass
class FrameStamps:
    """Monotonic times (s) one frame's motion crossed the live path's borders."""

    capture: float            # capture time of the audio at the frame's own time
    audio_end: float          # capture time of the newest sample that completed the frame
    arrived: float            # that sample's block reached the process (device callback)
    read: float               # the driver worker read it
    computed: float           # the engine's push returned the frame
    published: float = 0.0    # into the MotionBuffer
    render_start: float = 0.0
    rig_bind_s: float = 0.0   # part of the render spent deforming and binding
    ready: float = 0.0        # image finished
    taken: float = 0.0        # the window took it from the mailbox

    def stages_ms(self, t_shown: float, lookahead_s: float) -> np.ndarray:
        """Milliseconds per `STAGES` entry; they sum to (t_shown - capture)."""
        render = self.ready - self.render_start
        s = [lookahead_s, self.audio_end - self.capture - lookahead_s,
             self.arrived - self.audio_end, self.read - self.arrived, self.computed - self.read,
             self.published - self.computed, self.render_start - self.published,
             self.rig_bind_s, render - self.rig_bind_s, self.taken - self.ready,
             t_shown - self.taken]
        return np.array(s, np.float64) * 1000.0


class LatencyBreakdown:
    """Rolling per-stage figures of the last `window` shown images (thread-safe)."""

    def __init__(self, window: int = 300) -> None:
        self._rows: deque[np.ndarray] = deque(maxlen=window)
        self._present: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()

    def add(self, stamps: FrameStamps, t_shown: float, lookahead_s: float) -> None:
        with self._lock:
            self._rows.append(stamps.stages_ms(t_shown, lookahead_s))

    def add_present(self, ms: float) -> None:
        with self._lock:
            self._present.append(ms)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self._present.clear()

    def medians(self) -> dict[str, float] | None:
        """Median ms per stage (+ "present" when the window reported it); None before the first
        frame. Medians of stages do not add up to the median total exactly."""
        with self._lock:
            if not self._rows:
                return None
            rows = np.array(self._rows)
            present = list(self._present)
        out = dict(zip(STAGES, (float(v) for v in np.median(rows, axis=0))))
        if present:
            out["present"] = float(np.median(present))
        return out

    def text(self) -> str:
        """The status line's compact form, e.g. "LA 82 blk 6 cap 9 ... up 1 (+present 3)"."""
        med = self.medians()
        if med is None:
            return "-"
        parts = " ".join(f"{SHORT[k]} {med[k]:.0f}" for k in STAGES)
        return parts + (f" (+present {med['present']:.0f})" if "present" in med else "")

    @staticmethod
    def format(medians: dict[str, float]) -> str:
        """Long form for `bench e2e`: "look-ahead 82.5 + block 6.1 + ... ms"."""
        body = " + ".join(f"{k} {medians[k]:.1f}" for k in STAGES)
        extra = f"; present {medians['present']:.1f}" if "present" in medians else ""
        return f"{body} = {sum(medians[k] for k in STAGES):.1f} ms{extra}"
