"""Filling in the frames a live recording skipped, so the file shows every motion frame.

The window records what it shows. A renderer slower than the 30 fps motion (a busy CPU, a big
window) shows only the newest motion and skips the rest, so the recording holds each shown
picture until the next one: every picture is at the right time, but the mouth moves in steps
and can be up to one render period late for an instant (a lip closure between two shown
frames is missed). The render worker therefore hands the recorder the rig parameters, camera
and background of every motion frame it skipped (no pixels, nothing costly), and after Record
stops a `RecordingFill` renders those frames and writes the recording again with them in
place: the live file's pictures and sound (decoded and re-encoded in file order) with the
skipped frames between them. It works a frame at a time on the render worker's own thread
(the CPU renderer's thread pool takes calls from one thread only), in the time the live
preview leaves, and replaces the file only once the new one is complete: until then, and if
the app is closed first, the live recording stays as it was, a valid file.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avatar_app.mp4_writer import Mp4Writer
from splat.cameras import Camera
from splat.errors import UserInputError

RenderFn = Callable[["SkippedFrame"], np.ndarray]


@dataclass
class SkippedFrame:
    """Everything a skipped motion frame would have been rendered with; `t` is its time in
    the recording (s, the capture clock relative to the recording's start)."""

    t: float
    rig_params: dict[str, np.ndarray]
    camera: Camera
    background: tuple[float, float, float]
    pipeline: Any   # the scene's AvatarPipeline at the time (the avatar may change later)
    image: np.ndarray | None = None   # already rendered (a live picture that came too late)

    def render(self) -> np.ndarray:
        """The frame as the live preview would have drawn it: RGB float32 in [0, 1]."""
        if self.image is not None:
            return self.image
        image, _alpha = self.pipeline.render(self.rig_params, self.camera, self.background)
        return np.clip(np.asarray(image)[..., :3], 0.0, 1.0)


def fit_picture(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """A picture at the recording's size (the window's size may change while it records)."""
    if pixels.shape[:2] == (height, width):
        return pixels
    import cv2

    return cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)


def _decoded(path: Path) -> Iterator[tuple[str, np.ndarray, float]]:
    """("video", rgb uint8, t) and ("audio", (n, channels) float32, t) in file order."""
    import av

    with av.open(str(path)) as container:
        streams = [container.streams.video[0]] + list(container.streams.audio[:1])
        for packet in container.demux(*streams):
            for frame in packet.decode():
                if frame.time is None:
                    continue
                if packet.stream.type == "video":
                    yield "video", frame.to_ndarray(format="rgb24"), float(frame.time)
                else:
                    samples = frame.to_ndarray().astype(np.float32)
                    if samples.ndim == 2 and frame.format.is_planar:
                        samples = samples.T
                    else:
                        samples = samples.reshape(-1, len(frame.layout.channels))
                    yield "audio", samples, float(frame.time)


def _stream_info(path: Path) -> tuple[int, int, float, int, int]:
    """(width, height, fps, sample rate, channels) of a recording (rate 0: no sound)."""
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        fps = float(video.average_rate or video.guessed_rate or 30)
        audio = container.streams.audio[0] if container.streams.audio else None
        rate = audio.rate if audio is not None else 0
        channels = audio.channels if audio is not None else 1
        return video.width, video.height, fps, rate, channels


class RecordingFill:
    """Rewrites one finished recording with its skipped frames; `step()` does one frame's work."""

    def __init__(self, path: str | Path, skipped: list[SkippedFrame], fps: float) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(f"{self.path.stem}.filling{self.path.suffix}")
        self.pending = sorted(skipped, key=lambda s: s.t)
        self.total = len(self.pending)
        self.fps = fps
        self.filled = 0   # skipped frames written so far
        self.done = False
        self.error = ""
        self._items: Iterator[tuple[str, np.ndarray, float]] | None = None
        self._writer: Mp4Writer | None = None
        self._held: tuple[np.ndarray, float] | None = None   # a live picture not yet written

    def _open(self) -> None:
        width, height, _fps, rate, channels = _stream_info(self.path)
        self._writer = Mp4Writer(self.partial, width, height, self.fps,
                                 sample_rate=rate or None, channels=channels)
        self._items = _decoded(self.path)

    def step(self) -> bool:
        """Write the live file up to the next skipped frame, then render and write that frame;
        the last step finishes and swaps the file in. Returns False once there is nothing left
        (see `error`: a failure leaves the live recording as it was)."""
        if self.done:
            return False
        try:
            if self._writer is None:
                self._open()
            while True:
                if self._held is None:
                    self._held = self._next_live_picture()
                if self.pending and (self._held is None or self.pending[0].t < self._held[1]):
                    frame = self.pending.pop(0)
                    self._writer.write_frame(fit_picture(frame.render(), self._writer.width,
                                                         self._writer.height), frame.t)
                    self.filled += 1
                    return True
                if self._held is None:   # the live file and the skipped frames are all written
                    self._finish()
                    return False
                self._writer.write_frame(*self._held)
                self._held = None
        except Exception as exc:   # disk full, PyAV's many decode errors: never lose the file
            self.error = f"filling the skipped frames of {self.path.name} failed: {exc}"
            self.abandon()
            return False

    def _next_live_picture(self) -> tuple[np.ndarray, float] | None:
        """The next live picture; the sound decoded before it is written on the way."""
        for kind, data, t in self._items:
            if kind == "video":
                return data, t
            if t < 0:   # AAC priming before the start: keep the part from 0 s
                data, t = data[int(round(-t * self._writer.sample_rate)):], 0.0
            self._writer.write_audio(data, t)
        return None

    def _finish(self) -> None:
        self._writer.close()
        os.replace(self.partial, self.path)
        self.done = True

    def abandon(self) -> None:
        """Stop and delete the partial file; the live recording is untouched."""
        if self.done:
            return
        self.done = True
        self.pending = []
        if self._items is not None:
            self._items.close()
        if self._writer is not None:
            try:
                self._writer.close()
            except UserInputError:
                pass
        self.partial.unlink(missing_ok=True)
