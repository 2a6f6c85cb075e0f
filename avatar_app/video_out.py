"""Video with an alpha channel, and the one choice of writer from an output path.

An avatar over a transparent background goes into an editor (Premiere, Resolve, Final Cut,
After Effects, Kdenlive, OBS) as one of the three things they all import with alpha:
- `.mov`: ProRes 4444 (FFmpeg's prores_ks, yuva444p10le) + 16-bit PCM at the source's rate;
- `.webm`: VP9 with alpha (libvpx-vp9, yuva420p) + Opus (48 kHz unless the source has a rate
  Opus stores); FFmpeg's own vp9 decoder drops the alpha plane, libvpx-vp9's keeps it;
- a folder: an RGBA PNG per frame (`000000.png`...) and `audio.wav` at the source's rate.
Alpha is straight (not premultiplied), as PNG and ProRes 4444 define it; `rgba_straight`
turns the renderer's composite over black (premultiplied colour) and its accumulated alpha
into that.

`open_video_writer(path, ...)` picks the writer from the path: `.mp4` is `Mp4Writer` (no alpha),
`.mov`/`.webm`/a folder the writers here. All take `write_frame(image, t)` (RGB or RGBA,
float in [0, 1] or uint8), `write_audio(samples, t0)` and `close()`, and work as context
managers.
"""
from __future__ import annotations

import math
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np

from avatar_app.mp4_writer import AudioTrack, Mp4Writer, supported_rate
from avatar_app.output_paths import check_output_file, check_output_folder
from splat.errors import UserInputError

ALPHA_VIDEO_SUFFIXES = {".mov": "ProRes 4444 with alpha + PCM audio",
                        ".webm": "VP9 with alpha + Opus audio"}
_CODECS = {".mov": ("prores_ks", "yuva444p10le", {"profile": "4444", "vendor": "apl0"},
                    "pcm_s16le"),
           ".webm": ("libvpx-vp9", "yuva420p", {"crf": "30", "b": "0", "deadline": "realtime",
                                                "cpu-used": "8", "auto-alt-ref": "0"},
                     "libopus")}
AUDIO_FILE = "audio.wav"


def rgba_straight(premultiplied: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(H,W,3) colour composited over black + (H,W) alpha -> (H,W,4) straight RGBA floats.

    Where alpha is 0 the colour is undefined and set to 0; elsewhere colour / alpha, clipped
    to [0, 1] (a pixel's accumulated colour never exceeds its alpha by more than rounding).
    """
    a = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)[..., None]
    rgb = np.where(a > 0, np.asarray(premultiplied, np.float32) / np.maximum(a, 1e-12), 0.0)
    return np.concatenate([np.clip(rgb, 0.0, 1.0), a], axis=2)


def to_uint8(image: np.ndarray, channels: int) -> np.ndarray:
    """(H,W,>=channels) float in [0, 1] or uint8 -> contiguous uint8 with `channels` channels."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] < channels:
        raise ValueError(f"expected an (H,W,{channels}) image, got {img.shape}")
    img = img[..., :channels]
    if img.dtype != np.uint8:
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(img)


class AlphaVideoWriter:
    """ProRes 4444 `.mov` or VP9 `.webm` with alpha, written incrementally through PyAV.

    Frames are stamped with their own times (like Mp4Writer); audio goes through the shared
    `AudioTrack`. A write error (disk full...) raises UserInputError naming the file.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float = 30.0,
                 sample_rate: int | None = None, channels: int = 1) -> None:
        import av

        self.path = check_output_file(path, ALPHA_VIDEO_SUFFIXES, option="output file")
        codec, pix_fmt, options, audio_codec = _CODECS[self.path.suffix.lower()]
        # 4:2:0 (VP9) needs even sizes; drop an odd last row/column rather than rescale.
        even = pix_fmt.startswith("yuva420")
        self.width = int(width) // 2 * 2 if even else int(width)
        self.height = int(height) // 2 * 2 if even else int(height)
        self._lock = threading.RLock()
        self._closed = False
        try:
            self._container = av.open(str(self.path), mode="w")
            fps_frac = Fraction(fps).limit_denominator(1001)
            self.time_base = Fraction(1, math.lcm(1000, fps_frac.numerator))
            self._video = self._container.add_stream(codec, rate=fps_frac)
            self._video.width, self._video.height = self.width, self.height
            self._video.pix_fmt = pix_fmt
            self._video.time_base = self.time_base
            self._video.codec_context.time_base = self.time_base
            self._video.options = dict(options)
            self._frame_ticks = round(1 / (float(fps_frac) * self.time_base))
            self._last_pts = -1
            self._audio: AudioTrack | None = None
            if sample_rate:
                self._audio = AudioTrack(self._container, audio_codec, int(sample_rate), channels)
        except (av.error.FFmpegError, OSError) as exc:
            raise UserInputError(f"cannot write {self.path}: {exc}") from None

    def write_frame(self, image: np.ndarray, t: float) -> bool:
        """Add a straight RGBA image (an RGB one is opaque) shown from time t (s); False when
        t does not advance past the previous frame."""
        import av

        pts = int(round(t / self.time_base))
        with self._lock:
            if self._closed or pts <= self._last_pts:
                return False
            rgba = _rgba(image)[:self.height, :self.width]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba")
            frame.pts, frame.time_base = pts, self.time_base
            frame.duration = self._frame_ticks
            self._guarded(lambda: self._mux(self._video.encode(frame)))
            self._last_pts = pts
            return True

    def write_audio(self, samples: np.ndarray, t0: float) -> None:
        """(n,) or (n, channels) float samples from t0 (s); see `AudioTrack.push`."""
        if self._audio is None:
            return
        with self._lock:
            if self._closed:
                return
            self._audio.push(samples, t0)
            self._guarded(self._audio.mux)

    def _mux(self, packets) -> None:
        for packet in packets:
            self._container.mux(packet)

    def _guarded(self, work) -> None:
        import av

        try:
            work()
        except (OSError, av.error.FFmpegError) as exc:
            self._closed = True
            try:
                self._container.close()
            except (OSError, av.error.FFmpegError):
                pass
            raise UserInputError(f"writing {self.path} failed ({exc})") from None

    def close(self) -> None:
        """Flush the encoders and finish the file; idempotent."""
        with self._lock:
            if self._closed:
                return
            if self._audio is not None:
                self._guarded(lambda: self._audio.mux(final=True))
            self._guarded(lambda: self._mux(self._video.encode(None)))
            self._guarded(self._container.close)
            self._closed = True

    def __enter__(self) -> "AlphaVideoWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PngSequenceWriter:
    """RGBA PNG frames into a folder, named by frame number at `fps`, plus `audio.wav`."""

    def __init__(self, folder: str | Path, width: int, height: int, fps: float = 30.0,
                 sample_rate: int | None = None, channels: int = 1) -> None:
        self.folder = check_output_folder(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self._last = -1
        self._closed = False
        self._sound = None
        if sample_rate:
            import soundfile

            self.channels, self.sample_rate = int(channels), int(sample_rate)
            self._sound = soundfile.SoundFile(str(self.folder / AUDIO_FILE), "w",
                                              samplerate=self.sample_rate,
                                              channels=self.channels, subtype="PCM_16")
            self._written = 0

    def write_frame(self, image: np.ndarray, t: float) -> bool:
        """Write frame round(t * fps) as `NNNNNN.png`; False when it is not a new frame."""
        import cv2

        index = int(round(t * self.fps))
        if self._closed or index <= self._last:
            return False
        rgba = _rgba(image)[:self.height, :self.width]
        name = self.folder / f"{index:06d}.png"
        if not cv2.imwrite(str(name), np.ascontiguousarray(rgba[..., [2, 1, 0, 3]])):
            raise UserInputError(f"could not write {name}")
        self._last = index
        return True

    def write_audio(self, samples: np.ndarray, t0: float) -> None:
        """Samples from t0 (s) into audio.wav; a gap becomes silence, an overlap is dropped."""
        if self._sound is None or self._closed:
            return
        x = np.asarray(samples, np.float32)
        x = np.repeat(x[:, None], self.channels, axis=1) if x.ndim == 1 else x
        start = int(round(t0 * self.sample_rate))
        if start > self._written:
            x = np.concatenate([np.zeros((start - self._written, self.channels), np.float32), x])
        elif start < self._written:
            x = x[self._written - start:]
        try:
            self._sound.write(np.clip(np.nan_to_num(x), -1.0, 1.0))
        except (OSError, RuntimeError) as exc:
            raise UserInputError(f"writing {self.folder / AUDIO_FILE} failed ({exc})") from None
        self._written += len(x)

    def close(self) -> None:
        if not self._closed and self._sound is not None:
            self._sound.close()
        self._closed = True

    def __enter__(self) -> "PngSequenceWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rgba(image: np.ndarray) -> np.ndarray:
    """uint8 RGBA from an RGBA or (opaque) RGB image."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 3:
        opaque = np.full(img.shape[:2] + (1,), 255 if img.dtype == np.uint8 else 1.0, img.dtype)
        img = np.concatenate([img, opaque], axis=2)
    return to_uint8(img, 4)


def is_frame_folder(path: str | Path) -> bool:
    """A path meant as a PNG-sequence folder: an existing folder, or a name without extension."""
    path = Path(path)
    return path.is_dir() or path.suffix == ""


def check_video_path(path: str | Path, alpha: bool, option: str = "--out") -> Path:
    """Refuse a video output path before any work: `.mp4` without alpha; `.mov`, `.webm` or a
    folder with it (H.264 MP4 has no alpha channel)."""
    from avatar_app.output_paths import VIDEO_SUFFIXES

    path = Path(path)
    suffix = path.suffix.lower()
    if not alpha:
        if suffix in ALPHA_VIDEO_SUFFIXES or is_frame_folder(path):
            raise UserInputError(f"{option} {path}: .mov, .webm and PNG-frame folders are for "
                                 "--transparent; without it name the file .mp4")
        return check_output_file(path, VIDEO_SUFFIXES, option)
    if is_frame_folder(path):
        if path.is_dir() and next(path.glob("[0-9]*.png"), None) is not None:
            raise UserInputError(f"{option} {path} already holds PNG frames; give an empty or "
                                 "new folder so no old frame stays in the sequence")
        return check_output_folder(path, option)
    if suffix in VIDEO_SUFFIXES:
        raise UserInputError(f"{option} {path}: an H.264 MP4 has no alpha channel; with "
                             "--transparent name a .mov (ProRes 4444), a .webm (VP9) or a "
                             "folder (RGBA PNG frames)")
    return check_output_file(path, ALPHA_VIDEO_SUFFIXES, option)


def audio_rate_for(path: str | Path, rate: int) -> int:
    """The sample rate the writer for `path` stores a `rate` Hz source at (AAC and Opus store
    a fixed set of rates; PCM and WAV any)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mp4":
        return supported_rate("aac", rate)
    if suffix in ALPHA_VIDEO_SUFFIXES:
        return supported_rate(_CODECS[suffix][3], rate)
    return int(rate)


def open_video_writer(path: str | Path, width: int, height: int, fps: float = 30.0,
                      sample_rate: int | None = None, channels: int = 1,
                      alpha: bool = False) -> Mp4Writer | AlphaVideoWriter | PngSequenceWriter:
    """The writer for `path` (checked with `check_video_path`): Mp4Writer for `.mp4`,
    AlphaVideoWriter for `.mov`/`.webm`, PngSequenceWriter for a folder. `sample_rate` must be
    one the format stores (`audio_rate_for`)."""
    path = check_video_path(path, alpha, option="output")
    if is_frame_folder(path):
        return PngSequenceWriter(path, width, height, fps, sample_rate, channels)
    if path.suffix.lower() in ALPHA_VIDEO_SUFFIXES:
        return AlphaVideoWriter(path, width, height, fps, sample_rate, channels)
    return Mp4Writer(path, width, height, fps, sample_rate, channels=channels)
