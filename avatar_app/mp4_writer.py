"""MP4 recording: H.264 video + AAC audio through PyAV, written incrementally with real timestamps.

Frames are stamped with their own times (codec time base 1/lcm(1000, fps): exact for the fixed
frame rate of offline renders and millisecond-exact for live frames that arrive irregularly).
Audio goes through a sample FIFO into AAC's fixed 1024-sample frames, stamped by sample count; a
gap in the audio timeline is filled with silence so sound and picture stay in sync.

The file is a fragmented MP4 (a key frame, and so a self-contained fragment, every
`FRAGMENT_S` seconds; `delay_moov` keeps the edit lists, so sound and picture start together).
Whatever stops a recording, everything up to the last complete fragment stays playable:
- `close()` is idempotent, takes a re-entrant lock and is registered with atexit, so a signal
  handler, window-close callback or interpreter exit finishes the file;
- a write error (disk full, a vanished device, /dev/full) is caught at the first failed write:
  nothing more is encoded (FFmpeg crashes if a muxer is driven on after its output failed), the
  file is cut back to its last complete fragment and `Mp4WriteError` says how much was kept.
PyAV writes through a Python file object of ours so every OS error surfaces as a Python
exception at the write that caused it, instead of inside FFmpeg's own I/O.
"""
from __future__ import annotations

import atexit
import io
import math
import os
import stat
import struct
import sys
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from avatar_app.output_paths import VIDEO_SUFFIXES, check_output_file
from driver.audio import SAMPLE_RATE
from splat.errors import UserInputError

AAC_FRAME = 1024
FRAGMENT_S = 2.0


class Mp4WriteError(UserInputError):
    """Writing the file failed part-way (disk full, device gone); the message says what was kept."""


class _OutputFile(io.RawIOBase):
    """The real file, remembering the first OS error so every later write fails the same way."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._fh = open(path, "wb")
        self.error: OSError | None = None

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.error is not None:
            raise self.error
        try:
            return self._fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        try:
            if not self._fh.closed:
                try:
                    self._fh.close()   # flushes: may report the error only now
                except OSError as exc:
                    self.error = self.error or exc
        finally:
            super().close()


# Channel count -> FFmpeg's default layout of that many channels (what AAC and Opus encode).
AUDIO_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1",
                 8: "7.1"}


def supported_rate(codec: str, rate: int) -> int:
    """`rate` when the encoder takes it, else the lowest rate it takes above (or its highest):
    AAC stores 13 standard rates, Opus five; a 48 kHz source stays 48 kHz."""
    import av

    rates = av.Codec(codec, "w").audio_rates
    if not rates or rate in rates:
        return int(rate)
    above = [r for r in rates if r >= rate]
    return int(min(above) if above else max(rates))


class AudioTrack:
    """An audio stream of a container fed in time order: a sample FIFO cut into the encoder's
    frames, stamped by sample count; a gap in the timeline becomes silence and an overlap with
    what was already written is dropped, so sound and picture stay in sync. Shared by the MP4
    and the alpha-video writers."""

    def __init__(self, container, codec: str, sample_rate: int, channels: int = 1) -> None:
        if channels not in AUDIO_LAYOUTS:
            raise UserInputError(f"{channels} audio channels: the writer takes 1 to "
                                 f"{max(AUDIO_LAYOUTS)}")
        if supported_rate(codec, sample_rate) != sample_rate:
            raise ValueError(f"{codec} does not encode {sample_rate} Hz (resample to "
                             f"{supported_rate(codec, sample_rate)} Hz first)")
        self.sample_rate, self.channels = int(sample_rate), int(channels)
        self.layout = AUDIO_LAYOUTS[self.channels]
        self._container = container
        self.stream = container.add_stream(codec, rate=self.sample_rate, layout=self.layout)
        self.stream.time_base = Fraction(1, self.sample_rate)
        self.stream.codec_context.time_base = Fraction(1, self.sample_rate)
        self.frame_size = self.stream.codec_context.frame_size or AAC_FRAME   # PCM: any size
        self._pending = np.zeros((0, self.channels), np.float32)   # not yet in a full frame
        self._next = 0                                              # sample index of _pending[0]

    def push(self, samples: np.ndarray, t0: float) -> None:
        """Queue (n,) or (n, channels) float samples that start at t0 seconds."""
        x = np.asarray(samples, np.float32)
        if x.ndim == 1:
            x = np.repeat(x[:, None], self.channels, axis=1)
        if x.ndim != 2 or x.shape[1] != self.channels:
            raise ValueError(f"expected (n,) or (n, {self.channels}) samples, got {x.shape}")
        start = int(round(t0 * self.sample_rate))
        end = self.end_sample
        if start > end:
            x = np.concatenate([np.zeros((start - end, self.channels), np.float32), x])
        elif start < end:
            x = x[end - start:]
        self._pending = np.concatenate([self._pending, np.nan_to_num(x)])

    def frames(self, final: bool):
        """The queued samples as encoder frames (`final`: the short remainder too; FFmpeg's
        encoders accept one short last frame, so the file ends with the audio)."""
        import av

        n = len(self._pending)
        count = -(-n // self.frame_size) if final else n // self.frame_size
        for i in range(count):
            chunk = self._pending[i * self.frame_size:(i + 1) * self.frame_size]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk.T), format="fltp",
                                               layout=self.layout)
            frame.sample_rate = self.sample_rate
            frame.pts = self._next
            frame.time_base = Fraction(1, self.sample_rate)
            self._next += len(chunk)
            yield frame
        self._pending = self._pending[count * self.frame_size:]

    def mux(self, final: bool = False) -> None:
        """Encode the queued samples into the container (`final`: the remainder too, then the
        encoder's flush), so every writer that carries this track muxes it the same way."""
        for frame in self.frames(final):
            for packet in self.stream.encode(frame):
                self._container.mux(packet)
        if final:
            for packet in self.stream.encode(None):
                self._container.mux(packet)

    @property
    def end_sample(self) -> int:
        return self._next + len(self._pending)

    @property
    def end_s(self) -> float:
        """Seconds of audio handed over so far."""
        return self.end_sample / self.sample_rate


class Mp4Writer:
    """Incremental MP4 writer; call `write_frame`/`write_audio` in time order, then `close`."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float = 30.0,
                 sample_rate: int | None = SAMPLE_RATE, crf: int = 20, preset: str = "veryfast",
                 channels: int = 1) -> None:
        import av

        self.path = check_output_file(path, VIDEO_SUFFIXES, option="output file")
        # yuv420p needs even sizes: drop an odd last row/column rather than rescale.
        self.width, self.height = int(width) // 2 * 2, int(height) // 2 * 2
        if self.width < 2 or self.height < 2:
            raise UserInputError(f"video size {width}x{height} is too small")
        self._lock = threading.RLock()
        self._closed = False
        self.error: Mp4WriteError | None = None
        try:
            self._file = _OutputFile(self.path)
            self._container = av.open(self._file, mode="w", format="mp4", options={
                "movflags": "frag_keyframe+delay_moov"})
        except (av.error.FFmpegError, OSError) as exc:
            raise UserInputError(f"cannot write {self.path}: {exc}") from None
        fps_frac = Fraction(fps).limit_denominator(1001)
        self.time_base = Fraction(1, math.lcm(1000, fps_frac.numerator))
        self._video = self._container.add_stream("libx264", rate=fps_frac)
        self._video.width, self._video.height = self.width, self.height
        self._video.pix_fmt = "yuv420p"
        self._video.time_base = self.time_base
        self._video.codec_context.time_base = self.time_base
        keyint = max(1, round(FRAGMENT_S * float(fps_frac)))
        # No B-frames: packets stay in presentation order, so each sample's duration in the file
        # is the real interval to the next picture (live frames are irregular) and the last
        # picture lasts one frame; B-frame reordering would give durations of decode order.
        self._video.options = {"crf": str(crf), "preset": preset, "g": str(keyint), "bf": "0"}
        self._last_pts = -1
        self._frame_ticks = round(1 / (float(fps_frac) * self.time_base))
        self._audio: AudioTrack | None = None
        if sample_rate:
            self._audio = AudioTrack(self._container, "aac", int(sample_rate), channels)
            self.sample_rate = self._audio.sample_rate
        atexit.register(self._close_at_exit)

    # ------------------------------------------------------------------------------- video
    def write_frame(self, image: np.ndarray, t: float) -> bool:
        """Add an RGB image (H,W,3; float in [0,1] or uint8) shown from time t (s).

        Returns False (frame skipped) when t does not advance past the previous frame's stamp.
        Raises Mp4WriteError once the file cannot be written (the file is then already closed).
        """
        import av

        pts = int(round(t / self.time_base))
        with self._lock:
            self._raise_if_failed()
            if self._closed or pts <= self._last_pts:
                return False
            rgb = self._to_uint8(image)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = pts, self.time_base
            frame.duration = self._frame_ticks   # the last picture lasts one frame
            self._guarded(lambda: self._mux(self._video.encode(frame)))
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
        """Add float32 samples ((n,) or (n, channels); mono is copied to every channel)
        starting at time t0 (s); gaps become silence, overlaps with already-written audio are
        dropped. Raises Mp4WriteError like write_frame."""
        if self._audio is None:
            return
        with self._lock:
            self._raise_if_failed()
            if self._closed:
                return
            self._audio.push(samples, t0)
            self._guarded(self._audio.mux)

    # ------------------------------------------------------------------------ write errors
    def _mux(self, packets) -> None:
        for packet in packets:
            self._container.mux(packet)

    def _guarded(self, work) -> None:
        """Run encoder/muxer work; on the first write failure finish the file and raise."""
        import av

        try:
            work()
        except (OSError, av.error.FFmpegError) as exc:
            if self._file.error is None and not isinstance(exc, OSError):
                raise   # an encoder error, not an output one: a bug, let it show
            self._fail(self._file.error or exc)
            raise self.error from None

    def _fail(self, exc: OSError) -> None:
        """Stop at the first failed write: close without driving FFmpeg further, keep what is
        complete on disk."""
        import av

        self._closed = True
        atexit.unregister(self._close_at_exit)
        try:
            self._container.close()   # frees FFmpeg's state; its trailer write fails too
        except (OSError, av.error.FFmpegError):
            pass
        self._file.close()
        kept = trim_to_complete_fragments(self.path)
        reason = exc.strerror or str(exc)
        if kept is None:
            self.error = Mp4WriteError(f"writing {self.path} failed ({reason}); nothing playable "
                                       "could be kept")
        else:
            self.error = Mp4WriteError(f"writing {self.path} failed ({reason}); kept the first "
                                       f"{kept:.1f} s, a playable partial file")

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    # ------------------------------------------------------------------------------- close
    def close(self) -> None:
        """Flush encoders and finish the file; safe to call repeatedly and from any thread,
        signal handler or atexit. Raises Mp4WriteError when the final writes fail."""
        with self._lock:
            if self._closed:
                return
            try:
                if self._audio is not None:
                    self._guarded(lambda: self._audio.mux(final=True))
                self._guarded(lambda: self._mux(self._video.encode(None)))
                self._guarded(self._container.close)
                self._file.close()
                if self._file.error is not None:
                    self._fail(self._file.error)
                    raise self.error
            finally:
                self._closed = True
                atexit.unregister(self._close_at_exit)

    def _close_at_exit(self) -> None:
        """atexit's close: a failure is one line on stderr, not a traceback at exit."""
        try:
            self.close()
        except Mp4WriteError as exc:
            print(f"error: {exc}", file=sys.stderr)

    @property
    def audio_end(self) -> float:
        """Seconds of audio handed to the writer so far (0 without an audio stream)."""
        return 0.0 if self._audio is None else self._audio.end_s

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def trim_to_complete_fragments(path: Path) -> float | None:
    """Cut a fragmented MP4 back to its last complete fragment; seconds of video kept, or None
    (and the file removed) when not even the header and one fragment made it to disk.

    Only regular files are cut (a device like /dev/full has nothing to keep).
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
    except OSError:
        return None
    end, seen_moov, fragments = 0, False, 0
    with open(path, "rb") as fh:
        size_on_disk = os.fstat(fh.fileno()).st_size
        pos, pending_moof = 0, None
        while pos + 8 <= size_on_disk:
            fh.seek(pos)
            size, kind = struct.unpack(">I4s", fh.read(8))
            if size == 1:
                size = struct.unpack(">Q", fh.read(8))[0]
            if size < 8 or pos + size > size_on_disk:
                break
            if kind == b"moov":
                seen_moov = True
            if kind == b"moof":
                pending_moof = pos
            elif kind == b"mdat" and pending_moof is not None:
                pending_moof, fragments = None, fragments + 1
            pos += size
            if pending_moof is None:
                end = pos
    if not seen_moov or fragments == 0:
        os.unlink(path)
        return None
    os.truncate(path, end)
    return _video_seconds(path)


def _video_seconds(path: Path) -> float | None:
    """End of the kept picture, or None when the cut file does not read back."""
    import av

    try:
        return read_back(path).video_end
    except (av.error.FFmpegError, IndexError):
        return None


@dataclass
class RecordingEnds:
    """What a recording really holds, read to its last byte."""

    video_frames: int
    video_end: float    # end of the last picture (its pts + duration), seconds
    audio_end: float    # end of the last audio sample, seconds (0 without audio)
    video_codec: str
    audio_codec: str

    @property
    def drift(self) -> float:
        """Audio end minus picture end: the A/V offset a player shows at the end, seconds."""
        return self.audio_end - self.video_end


def read_back(path: str | Path) -> RecordingEnds:
    """Demux and decode every packet (raises av.error.* on a damaged file).

    Ends come from the packets' timestamps and durations, not the streams' `duration` fields:
    in a fragmented MP4 FFmpeg's demuxer counts the AAC encoder's 1024 priming samples into
    the audio duration although playback skips them, while the last AAC packet carries its
    true, shorter length.
    """
    import av

    with av.open(str(path)) as container:
        v = container.streams.video[0]
        a = container.streams.audio[0] if container.streams.audio else None
        vi = v.index
        names = v.codec_context.name, a.codec_context.name if a is not None else ""
        streams = [v] + ([a] if a is not None else [])
        ends = {s.index: 0.0 for s in streams}
        frames = 0
        for packet in container.demux(*streams):
            if packet.pts is not None and packet.duration:
                end = float((packet.pts + packet.duration) * packet.time_base)
                ends[packet.stream.index] = max(ends[packet.stream.index], end)
            for _frame in packet.decode():
                frames += packet.stream.index == vi
        audio_end = ends[a.index] if a is not None else 0.0
    return RecordingEnds(frames, ends[vi], audio_end, *names)
