"""'Play file' mode: a speech file drives the avatar while it plays on the speakers.

The file becomes an audio source exactly like the microphone: the output callback copies the
next block to the speakers and into a CaptureRing stamped with the time the block reaches the
DAC, so the avatar's mouth, the recorder and the latency figures treat it like live capture.
Without an output device the same blocks are paced by a clock thread instead (the avatar still
animates; `silent_reason` says why nothing is heard). The same paced path feeds the headless
latency benchmark.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from avatar_app.audio_in import SAMPLE_RATE, RingSource, _sd


class FilePlayer(RingSource):
    """Play 16 kHz mono `samples` once; `finished` turns true after the last block."""

    def __init__(self, samples: np.ndarray, speakers: bool = True, block_ms: float = 10.0) -> None:
        super().__init__()
        self.samples = np.ascontiguousarray(samples, np.float32)
        self.speakers = speakers
        self.block = int(SAMPLE_RATE * block_ms / 1000)
        self.silent_reason = ""
        self.finished = False
        self.lost = False  # a file never disappears; kept for the shared source interface
        self._pos = 0
        self._stream = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def running(self) -> bool:
        return not self.finished and (self._stream is not None or self._thread is not None)

    def start(self) -> None:
        """Start on the default output device, or on the pacing clock if there is none."""
        self._attach(SAMPLE_RATE, seconds=max(10.0, self.duration + 1.0))
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

    def _next_block(self, n: int) -> np.ndarray:
        block = self.samples[self._pos:self._pos + n]
        self._pos += len(block)
        return block

    def _callback(self, outdata, frames, time_info, status) -> None:
        # Real-time thread: copy to the speakers and into the ring, nothing else.
        block = self._next_block(frames)
        outdata[:len(block), 0] = block
        outdata[len(block):, 0] = 0.0
        if len(block):
            lead = time_info.outputBufferDacTime - time_info.currentTime
            self._ring.write(block, time.monotonic() + (lead if 0.0 <= lead < 0.5 else 0.0))
        else:
            self.finished = True

    def _pace(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            due = t0 + self._pos / SAMPLE_RATE
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            block = self._next_block(self.block)
            if not len(block):
                self.finished = True
                return
            self._ring.write(block, due)

    def stop(self) -> None:
        self._stop.set()
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # device vanished mid-playback: nothing left to close
                pass
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None
