"""'Play file' mode: a speech file drives the avatar while it plays on the speakers.

The file becomes an audio source exactly like the microphone: the output callback copies the
next block to the speakers and into a CaptureRing stamped with the time the block reaches the
DAC, so the avatar's mouth, the recorder and the latency figures treat it like live capture.
Without an output device the same blocks are paced by a clock thread instead (the avatar still
animates; `silent_reason` says why nothing is heard). The same paced path feeds the headless
latency benchmark and the soak.

The file is streamed from disk, never held whole: a reader thread decodes it (soundfile blocks
for wav/flac/ogg, PyAV for the rest), mixes to mono, resamples to 16 kHz and keeps at most
`AHEAD_S` seconds queued, so memory stays flat however long the file (or a looped benchmark).
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from avatar_app.audio_in import RingSource, StreamResampler, _sd
from driver.audio import SAMPLE_RATE
from driver.audio import MIN_SAMPLES, SOUNDFILE_SUFFIXES, AudioError, check_audio_file

AHEAD_S = 1.0       # decoded audio queued ahead of playback
READ_S = 0.25       # seconds read from disk per step


def _soundfile_blocks(path: Path) -> Iterator[np.ndarray]:
    import soundfile

    with soundfile.SoundFile(str(path)) as fh:
        resampler = StreamResampler(fh.samplerate)
        for block in fh.blocks(blocksize=max(1, int(fh.samplerate * READ_S)), dtype="float32",
                               always_2d=True):
            out, _ = resampler.process(block.mean(axis=1))
            yield out


def _pyav_blocks(path: Path) -> Iterator[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1)


def probe_audio_file(path: Path) -> tuple[bool, float]:
    """Check the file opens as audio before playing: (read with soundfile?, seconds)."""
    import av
    import soundfile

    check_audio_file(path)
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            info = soundfile.info(str(path))
        except (soundfile.LibsndfileError, RuntimeError, ValueError):
            info = None
        if info is not None:
            if info.frames * SAMPLE_RATE / max(info.samplerate, 1) < MIN_SAMPLES:
                raise AudioError(f"{path}: audio is too short (at least one 1/30 s frame is needed)")
            return True, info.frames / info.samplerate
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(f"{path}: no audio stream in this file")
            stream = container.streams.audio[0]
            seconds = float(stream.duration * stream.time_base) if stream.duration else (
                container.duration / 1e6 if container.duration else 0.0)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise AudioError(f"{path}: not a readable audio file ({exc})") from None
    return False, seconds


class FilePlayer(RingSource):
    """Play a speech file once (or looped for `seconds`); `finished` turns true at the end."""

    def __init__(self, path: str | Path, speakers: bool = True, block_ms: float = 10.0,
                 seconds: float | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self._use_soundfile, self.file_seconds = probe_audio_file(self.path)
        self.speakers = speakers
        self.seconds = seconds   # None: play once; else loop the file for this long
        self.block = int(SAMPLE_RATE * block_ms / 1000)
        self.silent_reason = ""
        self.finished = False
        self.lost = False  # a file never disappears; kept for the shared source interface
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(
            maxsize=max(2, int(AHEAD_S * 1000 / block_ms)))
        self._stream = None
        self._thread: threading.Thread | None = None
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._played = 0      # samples handed out so far

    @classmethod
    def open(cls, path: str | Path, speakers: bool = True) -> "FilePlayer":
        """A player for `path`, refused with an AudioError when the file is not usable audio."""
        return cls(path, speakers=speakers)

    @property
    def duration(self) -> float:
        return self.seconds if self.seconds is not None else self.file_seconds

    @property
    def running(self) -> bool:
        return not self.finished and (self._stream is not None or self._thread is not None)

    def start(self) -> None:
        """Start on the default output device, or on the pacing clock if there is none."""
        self._attach(SAMPLE_RATE)
        self._reader = threading.Thread(target=self._read, name="file-reader", daemon=True)
        self._reader.start()
        if self.speakers:
            try:
                sd = _sd()
                stream = sd.OutputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32",
                                         blocksize=self.block, callback=self._callback)
                stream.start()
                self._stream = stream
                return
            except Exception as exc:  # UserInputError, PortAudioError: no usable output device
                self.silent_reason = f"no audio output ({exc}); animating without sound"
        else:
            self.silent_reason = "playing without speakers"
        self._thread = threading.Thread(target=self._pace, name="file-clock", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------------- reader thread
    def _read(self) -> None:
        """Decode into fixed blocks; None in the queue marks the end."""
        limit = None if self.seconds is None else int(self.seconds * SAMPLE_RATE)
        produced, carry = 0, np.zeros(0, np.float32)
        try:
            while not self._stop.is_set():
                looped = False
                blocks = _soundfile_blocks(self.path) if self._use_soundfile else _pyav_blocks(self.path)
                for piece in blocks:
                    carry = np.concatenate([carry, np.nan_to_num(piece.astype(np.float32))])
                    while len(carry) >= self.block:
                        block, carry = carry[:self.block], carry[self.block:]
                        if limit is not None:
                            block = block[:max(limit - produced, 0)]
                        if not len(block) or not self._put(block):
                            return
                        produced += len(block)
                    looped = True
                if limit is None or not looped:
                    break
            if len(carry) and limit is None:
                self._put(carry)
        except Exception as exc:  # a file damaged half-way: play what decoded, then stop
            self.error = f"{self.path.name}: playback stopped ({type(exc).__name__})"
        finally:
            self._put(None)

    def _put(self, block: np.ndarray | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(block, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _next_block(self, wait: float) -> np.ndarray | None:
        """The next block; an empty one on an underrun; None after the end."""
        if self.finished:
            return None
        try:
            block = self._queue.get(timeout=wait) if wait else self._queue.get_nowait()
        except queue.Empty:
            return np.zeros(0, np.float32)
        if block is None:
            self.finished = True
        return block

    # ------------------------------------------------------------------ output / clock
    def _callback(self, outdata, frames, time_info, status) -> None:
        # Real-time thread: take a decoded block, copy it to the speakers and the ring.
        block = self._next_block(0.0)
        n = 0 if block is None else len(block)
        outdata[:n, 0] = block[:n] if n else 0.0
        outdata[n:, 0] = 0.0
        if n:
            lead = time_info.outputBufferDacTime - time_info.currentTime
            self._ring.write(block, time.monotonic() + (lead if 0.0 <= lead < 0.5 else 0.0))

    def _pace(self) -> None:
        # Like a microphone, a block is delivered once its last sample is "captured" (its start
        # time plus its length), stamped with its first sample's time.
        t0 = time.monotonic()
        while not self._stop.is_set():
            block = self._next_block(0.5)
            if block is None:
                return
            if not len(block):   # the disk fell behind: restart the clock, like a stalled mic
                t0 = time.monotonic() - self._played / SAMPLE_RATE
                continue
            due = t0 + self._played / SAMPLE_RATE
            wait = due + len(block) / SAMPLE_RATE - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._ring.write(block, due)
            self._played += len(block)

    def stop(self) -> None:
        self._stop.set()
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # device vanished mid-playback: nothing left to close
                pass
        for thread in (self._thread, self._reader):
            if thread is not None:
                thread.join(timeout=1.0)
        self._thread = self._reader = None
