"""Playing a saved motion file in the window (the GaussianAvatars viewer's motion playback).

The file (`.npz` flame_param layout, `.csv`/`.json` curves: `driver.motion_files`) is read
once; its frames then go into the live path's MotionBuffer stamped on the monotonic clock
(start + frame time), a little ahead of when they are due, exactly as speech motion arrives.
So the render worker, idle motion, the lip-sync strength slider, the recorder and the virtual
camera treat a played file like live speech, and nothing else needs to know about it.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from avatar_app.live_motion import MotionBuffer, TimedFrame
from driver.motion import MotionFrame
from driver.motion_files import read_motion

AHEAD_S = 0.3   # frames handed to the buffer before they are due (several GUI frames' worth)


class MotionPlayback:
    """A motion file's frames on the clock from `start` (monotonic seconds)."""

    def __init__(self, path: str | Path, frames: list[MotionFrame], fps: float) -> None:
        self.path = Path(path)
        self.frames = frames
        self.fps = fps
        self.start: float | None = None
        self._next = 0

    @classmethod
    def open(cls, path: str | Path, expr_names: list[str],
             say: Callable[[str], None] = lambda _text: None) -> "MotionPlayback":
        """Read `path` for a rig with `expr_names`; a bad file is one UserInputError line."""
        frames, fps = read_motion(path, expr_names, say)
        return cls(path, frames, fps)

    @property
    def duration(self) -> float:
        return self.frames[-1].t + 1.0 / self.fps

    def feed(self, motion: MotionBuffer, now: float) -> None:
        """Push every frame due before `now + AHEAD_S` (called once per GUI frame)."""
        if self.start is None:
            self.start = now
        batch = []
        while self._next < len(self.frames) and self.start + self.frames[self._next].t < now + AHEAD_S:
            f = self.frames[self._next]
            batch.append(TimedFrame(f, self.start + f.t, 0.0))
            self._next += 1
        motion.push(batch)

    def finished(self, now: float) -> bool:
        return self.start is not None and now >= self.start + self.duration
