"""Lip-sync smoothing for the live window: a one-pole low-pass on the speech motion.

Why: a regressor answering a noisy microphone can make the mouth flutter from frame to frame;
VTube Studio / VSeeFace users expect a "smoothing" control that trades that flutter for a
little lag. The filter runs on the engine's own frame clock (30 fps, frame times `t`), so
its time constant means the same whatever the render rate. It is a `MotionEngine` wrapper
(like `driver.retarget.RetargetedStream`): the driver worker, the latency figures and the
recorder see smoothed frames, and a time constant of 0 passes frames through untouched.
Only what speech moves is filtered (expressions and jaw); head pose from idle motion is
layered later and keeps its own timing.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from driver.motion import MotionFrame
from driver.streaming import MotionEngine


class SmoothedEngine:
    """`engine`'s frames through y += a (x - y), a = 1 - exp(-dt / time_constant_s).

    `time_constant_s` may be changed at any time (the window's slider); 0 switches the filter
    off and forgets its state, so turning it on again starts from the next frame.
    """

    def __init__(self, engine: MotionEngine, time_constant_s: float = 0.0) -> None:
        self.engine = engine
        self.time_constant_s = float(time_constant_s)
        self._state: tuple[float, np.ndarray, np.ndarray] | None = None  # (t, expr, jaw)

    def push(self, block: np.ndarray, t0: float) -> list[MotionFrame]:
        return [self._smooth(f) for f in self.engine.push(block, t0)]

    def flush(self) -> list[MotionFrame]:
        return [self._smooth(f) for f in self.engine.flush()]

    def reset(self) -> None:
        self.engine.reset()
        self._state = None

    def _smooth(self, frame: MotionFrame) -> MotionFrame:
        tau = self.time_constant_s
        expr = np.asarray(frame.expr, np.float32)
        jaw = np.asarray(frame.jaw_pose, np.float32)
        if tau <= 0.0 or self._state is None or self._state[1].shape != expr.shape:
            self._state = (frame.t, expr.copy(), jaw.copy())
            return frame
        t_prev, y_expr, y_jaw = self._state
        a = 1.0 - math.exp(-max(frame.t - t_prev, 0.0) / tau)
        y_expr = y_expr + a * (expr - y_expr)
        y_jaw = y_jaw + a * (jaw - y_jaw)
        self._state = (frame.t, y_expr, y_jaw)
        return replace(frame, expr=y_expr.copy(), jaw_pose=y_jaw.copy())

    def __getattr__(self, name: str):
        # look-ahead, rig and other engine facts are the wrapped engine's
        if name == "engine":
            raise AttributeError(name)
        return getattr(self.engine, name)
