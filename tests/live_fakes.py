"""A stand-in renderer for live-path tests: draws the jaw opening as a dark mouth bar.

It costs microseconds (or `delay_s`, to play a slow renderer), so a test of the live path's
timing (stamps, queueing, recording) does not depend on how busy the machine's CPU is.
"""
from __future__ import annotations

import time

import numpy as np

from avatar_app.av_sync import MOUTH_BOX


class BarPipeline:
    """What `Scene` needs of an `AvatarPipeline`: `render`, `framing`, `rig_data`, `backend`."""

    rig_data = None
    backend = "fake"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.jaws: list[float] = []   # jaw opening of every rendered frame, in order

    def framing(self, preset: str) -> tuple[np.ndarray, float]:
        return np.zeros(3, np.float32), 1.0

    def render(self, params, camera, background, timings=None):
        jaw = float(np.asarray(params["jaw_pose"])[0])
        self.jaws.append(jaw)
        if self.delay_s:
            time.sleep(self.delay_s)
        h = w = camera.height
        image = np.ones((h, w, 3), np.float32)
        r0, r1, c0, c1 = (int(f * n) for f, n in zip(MOUTH_BOX, (h, h, w, w)))
        rows = int((r1 - r0) * min(jaw / 0.3, 1.0))
        image[r0:r0 + rows, c0:c1] = 0.1
        if timings is not None:
            timings["rig+bind"] = timings.get("rig+bind", 0.0)
        return image, np.ones((h, w), np.float32)
