"""Recording the live window: what is shown plus the audio that drove it, as one MP4."""
from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from avatar_app.audio_in import AudioChunk
from avatar_app.live_render import RenderedFrame
from avatar_app.mp4_writer import Mp4WriteError, Mp4Writer
from driver.audio import MOTION_FPS, SAMPLE_RATE


class Recorder:
    """What is shown plus the microphone audio → MP4 (H.264 + AAC via Mp4Writer).

    Both streams are stamped on the capture clock relative to the start: a frame at the capture
    time of the audio it shows, audio at its capture time. The file is therefore lip-synced
    whatever the live display delay was. Audio is written only up to the newest video frame so
    the two streams end together, and the first frame is also stamped at 0 s (a slow first
    render under load would otherwise leave the file's first fraction of a second without a
    picture) so they start together. Called from the render worker (frames), the driver worker
    (audio) and the GUI thread or a signal handler (close), hence the lock.

    A write error (disk full) must not kill the render worker: the writer keeps what is
    complete, the recorder closes itself and `error` holds the message for the window.
    """

    def __init__(self, path: str, size: int, fps: int = MOTION_FPS) -> None:
        self.path = path
        self.size = size
        self.t_start = time.monotonic()
        self._writer = Mp4Writer(path, size, size, fps, sample_rate=SAMPLE_RATE)
        self._lock = threading.Lock()
        self._audio: deque[AudioChunk] = deque()
        self._last_video = -1.0
        self.frames = 0
        self.closed = False
        self.error = ""
        self.padded_s = 0.0  # silence added at close where the audio had not caught up

    def add_audio(self, chunk: AudioChunk) -> None:
        with self._lock:
            if not self.closed:
                self._audio.append(chunk)

    def add_frame(self, frame: RenderedFrame) -> None:
        t = (frame.t_capture if frame.t_capture is not None else frame.t_ready) - self.t_start
        with self._lock:
            if self.closed or t < 0 or t <= self._last_video + 1e-3:
                return
            rgb = frame.rgba[..., :3]
            if rgb.shape[0] != self.size:
                import cv2

                rgb = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA)
            image = (rgb * 255.0 + 0.5).astype(np.uint8)
            try:
                if self.frames == 0 and t > 0:   # a picture from 0 s, where the audio starts
                    self._writer.write_frame(image, 0.0)
                    self.frames += 1
                self._writer.write_frame(image, t)
                self._last_video = t
                self.frames += 1
                self._flush_audio(self._last_video + 1.0 / MOTION_FPS)
            except Mp4WriteError as exc:
                self.error, self.closed = str(exc), True

    def _flush_audio(self, until: float) -> None:
        while self._audio:
            chunk = self._audio[0]
            t0 = chunk.t_capture - self.t_start
            if t0 >= until:
                return
            self._audio.popleft()
            samples = chunk.samples
            if t0 < 0:  # captured before the start: keep only the part after it
                samples = samples[int(round(-t0 * SAMPLE_RATE)):]
                t0 = 0.0
            keep = int(round((until - t0) * SAMPLE_RATE))
            if keep <= 0:  # under half a sample before `until`: it belongs to the next frame
                self._audio.appendleft(AudioChunk(samples, self.t_start + t0))
                return
            if keep < len(samples):  # the rest waits for the next frame
                self._audio.appendleft(AudioChunk(samples[keep:], self.t_start + t0 + keep / SAMPLE_RATE))
                samples = samples[:keep]
            if len(samples):
                self._writer.write_audio(samples, t0)

    def close(self) -> str:
        """Finalise the file (idempotent); returns its path (check `error` for a failure).

        Audio reaches the recorder through the driver worker, which under load runs a little
        behind the render worker: the audio of the newest pictures may not have arrived yet.
        The missing tail is filled with silence (`padded_s` says how much) so sound and
        picture end together; their timelines are both the capture clock, so nothing shifts.
        """
        with self._lock:
            if not self.closed:
                self.closed = True
                try:
                    if self.frames:
                        end = self._last_video + 1.0 / MOTION_FPS
                        self._flush_audio(end)
                        self.padded_s = max(end - self._writer.audio_end, 0.0)
                        self._writer.write_audio(np.zeros(0, np.float32), end)
                    self._writer.close()
                except Mp4WriteError as exc:
                    self.error = str(exc)
        return self.path

    @property
    def seconds(self) -> float:
        """Length of the recorded picture so far."""
        return max(self._last_video, 0.0) + (1.0 / MOTION_FPS if self.frames else 0.0)
