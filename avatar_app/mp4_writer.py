"""MP4 recording: H.264 video + AAC audio through PyAV, written incrementally with real timestamps.

Frames are stamped with their own times (codec time base 1/lcm(1000, fps): exact for the fixed
frame rate of offline renders and millisecond-exact for live frames that arrive irregularly).
Audio goes through a sample FIFO into AAC's fixed 1024-sample frames, stamped by sample count; a
gap in the audio timeline is filled with silence so sound and picture stay in sync.

`close()` is idempotent, takes a re-entrant lock and is registered with atexit, so a signal
handler, window-close callback or interpreter exit can finish the file: the moov atom gets
written and the recording is a valid MP4 instead of a truncated one.
"""
from __future__ import annotations

import atexit
import math
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np

from splat.errors import UserInputError

AAC_FRAME = 1024


class Mp4Writer:
    """Incremental MP4 writer; call `write_frame`/`write_audio` in time order, then `close`."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float = 30.0,
                 sample_rate: int | None = 16000, crf: int = 20, preset: str = "veryfast") -> None:
        import av

        self.path = Path(path)
        if self.path.parent and not self.path.parent.is_dir():
            raise UserInputError(f"output folder does not exist: {self.path.parent}")
        # yuv420p needs even sizes: drop an odd last row/column rather than rescale.
        self.width, self.height = int(width) // 2 * 2, int(height) // 2 * 2
        if self.width < 2 or self.height < 2:
            raise UserInputError(f"video size {width}x{height} is too small")
        self._lock = threading.RLock()
        self._closed = False
        try:
            self._container = av.open(str(self.path), mode="w", format="mp4")
        except (av.error.FFmpegError, OSError) as exc:
            raise UserInputError(f"cannot write {self.path}: {exc}") from None
        fps_frac = Fraction(fps).limit_denominator(1001)
        self.time_base = Fraction(1, math.lcm(1000, fps_frac.numerator))
        self._video = self._container.add_stream("libx264", rate=fps_frac)
        self._video.width, self._video.height = self.width, self.height
        self._video.pix_fmt = "yuv420p"
        self._video.time_base = self.time_base
        self._video.codec_context.time_base = self.time_base
        self._video.options = {"crf": str(crf), "preset": preset}
        self._last_pts = -1
        self._audio = None
        if sample_rate:
            self.sample_rate = int(sample_rate)
            self._audio = self._container.add_stream("aac", rate=self.sample_rate, layout="mono")
            self._audio.time_base = Fraction(1, self.sample_rate)
            self._audio.codec_context.time_base = Fraction(1, self.sample_rate)
            self._pending = np.zeros(0, np.float32)   # samples not yet in a full AAC frame
            self._audio_next = 0                       # sample index of _pending[0]
        atexit.register(self.close)

    # ------------------------------------------------------------------------------- video
    def write_frame(self, image: np.ndarray, t: float) -> bool:
        """Add an RGB image (H,W,3; float in [0,1] or uint8) shown from time t (s).

        Returns False (frame skipped) when t does not advance past the previous frame's stamp.
        """
        import av

        pts = int(round(t / self.time_base))
        with self._lock:
            if self._closed:
                return False
            if pts <= self._last_pts:
                return False
            rgb = self._to_uint8(image)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = pts, self.time_base
            self._mux(self._video.encode(frame))
            self._last_pts = pts
            return True

    def _to_uint8(self, image: np.ndarray) -> np.ndarray:
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] < 3:
            raise ValueError(f"expected an (H,W,3) RGB image, got {img.shape}")
        if img.shape[0] < self.height or img.shape[1] < self.width:
            raise ValueError(f"image {img.shape[1]}x{img.shape[0]} is smaller than the video "
                             f"{self.width}x{self.height}")
        img = img[:self.height, :self.width, :3]
        if img.dtype != np.uint8:
            img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return np.ascontiguousarray(img)

    # ------------------------------------------------------------------------------- audio
    def write_audio(self, samples: np.ndarray, t0: float) -> None:
        """Add float32 mono samples starting at time t0 (s); gaps become silence, overlaps
        with already-written audio are dropped."""
        if self._audio is None:
            return
        x = np.asarray(samples, np.float32).reshape(-1)
        start = int(round(t0 * self.sample_rate))
        with self._lock:
            if self._closed:
                return
            end = self._audio_next + self._pending.size
            if start > end:
                x = np.concatenate([np.zeros(start - end, np.float32), x])
            elif start < end:
                x = x[end - start:]
            self._pending = np.concatenate([self._pending, np.nan_to_num(x)])
            self._encode_audio(final=False)

    def _encode_audio(self, final: bool) -> None:
        import av

        # FFmpeg's AAC encoder accepts one short last frame, so the file ends with the audio.
        n_full = -(-self._pending.size // AAC_FRAME) if final else self._pending.size // AAC_FRAME
        for i in range(n_full):
            chunk = self._pending[i * AAC_FRAME:(i + 1) * AAC_FRAME]
            frame = av.AudioFrame.from_ndarray(chunk[None], format="fltp", layout="mono")
            frame.sample_rate = self.sample_rate
            frame.pts = self._audio_next
            frame.time_base = Fraction(1, self.sample_rate)
            self._mux(self._audio.encode(frame))
            self._audio_next += chunk.size
        self._pending = self._pending[n_full * AAC_FRAME:]

    # ------------------------------------------------------------------------------- close
    def _mux(self, packets) -> None:
        for packet in packets:
            self._container.mux(packet)

    def close(self) -> None:
        """Flush encoders and finish the file; safe to call repeatedly and from any thread,
        signal handler or atexit."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._audio is not None:
                    self._encode_audio(final=True)
                    self._mux(self._audio.encode(None))
                self._mux(self._video.encode(None))
            finally:
                self._container.close()
                atexit.unregister(self.close)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
