"""Microphone capture through PortAudio (sounddevice) into a time-stamped ring buffer.

The PortAudio callback runs on a real-time thread, so it only copies the block into a
preallocated ring together with the block's capture time (time.monotonic clock, corrected by
PortAudio's ADC time stamp when it is trustworthy). Everything else (resampling to 16 kHz,
levels, gating, inference) happens on the reader's side. Capture times travel with the samples
so the live session can measure audio-to-frame latency instead of guessing it.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, replace

import numpy as np
from scipy.signal import resample_poly

from driver.audio import SAMPLE_RATE
from splat.errors import UserInputError

CAPTURE_RATE = 48000   # the microphone's preferred rate (recordings keep it)


@dataclass
class AudioChunk:
    """Contiguous 16 kHz mono samples and the monotonic capture time of the first one.

    `t_arrived` is when the newest of them reached this process (the device callback), so the
    live path can tell capture buffering from its own queueing (avatar_app.latency_stages)."""

    samples: np.ndarray
    t_capture: float
    t_arrived: float | None = None
    capture: "CaptureAudio | None" = None  # the same audio at the device's own rate

    def silenced(self) -> "AudioChunk":
        """The same chunk with silence in it (mute keeps the timeline, drops the sound)."""
        capture = None if self.capture is None else CaptureAudio(
            np.zeros_like(self.capture.samples), self.capture.t_capture, self.capture.rate)
        return replace(self, samples=np.zeros_like(self.samples), capture=capture)


@dataclass
class CaptureAudio:
    """Samples at the device's own rate (what a recording keeps) and the first one's capture
    time; the 16 kHz AudioChunk they came with is what the model hears."""

    samples: np.ndarray
    t_capture: float
    rate: int


@dataclass
class InputDevice:
    index: int
    name: str
    default_rate: float
    is_default: bool


class CaptureRing:
    """Single-writer ring of float32 samples plus a table of block capture times.

    The writer (an audio callback) does two slice copies under a lock held for microseconds;
    the reader keeps its own absolute read position, so a slow reader loses the oldest audio
    (counted in `dropped`) rather than stalling the writer.
    """

    def __init__(self, rate: float, seconds: float = 10.0, max_blocks: int = 8192) -> None:
        self.rate = float(rate)
        self._data = np.zeros(int(rate * seconds), np.float32)
        self._block_start = np.zeros(max_blocks, np.int64)
        self._block_stamp = np.zeros(max_blocks, np.float64)
        self._block_arrival = np.zeros(max_blocks, np.float64)  # monotonic time of write()
        self._n_blocks = 0
        self._written = 0  # absolute number of samples ever written
        self._lock = threading.Lock()
        self._new_data = threading.Condition(self._lock)
        self.dropped = 0

    @property
    def written(self) -> int:
        return self._written

    def write(self, block: np.ndarray, stamp: float) -> None:
        """Append a block whose first sample was captured at `stamp` (monotonic seconds)."""
        n = len(block)
        cap = len(self._data)
        if n > cap:
            block, stamp, n = block[-cap:], stamp + (n - cap) / self.rate, cap
        with self._lock:
            pos = self._written % cap
            first = min(n, cap - pos)
            self._data[pos:pos + first] = block[:first]
            self._data[:n - first] = block[first:]
            slot = self._n_blocks % len(self._block_start)
            self._block_start[slot] = self._written
            self._block_stamp[slot] = stamp
            self._block_arrival[slot] = time.monotonic()
            self._n_blocks += 1
            self._written += n
            self._new_data.notify_all()

    def wait(self, read_pos: int, timeout: float) -> bool:
        """Block until samples past `read_pos` exist (or the timeout passes)."""
        with self._lock:
            if self._written > read_pos:
                return True
            self._new_data.wait(timeout)
            return self._written > read_pos

    def read_from(self, read_pos: int) -> tuple[np.ndarray, int]:
        """All samples from absolute index `read_pos` (or the oldest kept) to now."""
        with self._lock:
            cap = len(self._data)
            start = max(read_pos, self._written - cap)
            self.dropped += start - read_pos
            idx = np.arange(start, self._written) % cap
            return self._data[idx], start

    def latest(self, n: int) -> np.ndarray:
        """The newest `n` samples (for level meters; does not move any reader)."""
        with self._lock:
            n = min(n, self._written, len(self._data))
            idx = np.arange(self._written - n, self._written) % len(self._data)
            return self._data[idx]

    def stamp_at(self, index: float) -> float:
        """Capture time of absolute sample `index` (fractional allowed), from its block's stamp."""
        with self._lock:
            found = self._block_of(index)
            if found is None:
                return time.monotonic()
            slot, start = found
            return float(self._block_stamp[slot] + (index - start) / self.rate)

    def arrival_at(self, index: float) -> float:
        """When the block holding absolute sample `index` was written (monotonic seconds)."""
        with self._lock:
            found = self._block_of(index)
            return time.monotonic() if found is None else float(self._block_arrival[found[0]])

    def _block_of(self, index: float) -> tuple[int, int] | None:
        """(table slot, first sample) of the kept block holding `index`; call under the lock."""
        kept = min(self._n_blocks, len(self._block_start))
        if kept == 0:
            return None
        first = self._n_blocks - kept
        slots = np.arange(first, self._n_blocks) % len(self._block_start)
        starts = self._block_start[slots]
        k = max(int(np.searchsorted(starts, index, side="right")) - 1, 0)
        return int(slots[k]), int(starts[k])


class StreamResampler:
    """Chunk-wise polyphase resampling without seams at chunk edges.

    Each call filters a window that overlaps the previous one by `pad` input samples on both
    sides and keeps only the outputs whose filter support lies inside the window; `pad` is a
    multiple of the decimation factor so output positions stay on the exact sample grid.
    """

    def __init__(self, rate_in: int, rate_out: int = SAMPLE_RATE) -> None:
        g = math.gcd(int(rate_in), int(rate_out))
        self.up, self.down = int(rate_out) // g, int(rate_in) // g
        self.identity = self.up == self.down
        self.pad = 0 if self.identity else self.down * math.ceil(64 / self.down)
        self.reset(0)

    def reset(self, start_index: int) -> None:
        """Forget history; the next input sample has absolute index `start_index`."""
        self._buf = np.zeros(self.pad, np.float32)
        self.in_index = start_index - self.pad  # absolute input index of self._buf[0]

    def process(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """Resample `x`; return the output and the input index its first sample maps to."""
        if self.identity:
            start = self.in_index + self.pad
            self.in_index += len(x)
            return x.astype(np.float32, copy=False), float(start)
        buf = np.concatenate([self._buf, x])
        usable = ((len(buf) - 2 * self.pad) // self.down) * self.down
        first_in = float(self.in_index + self.pad)
        if usable <= 0:
            self._buf = buf
            return np.zeros(0, np.float32), first_in
        y = resample_poly(buf[:usable + 2 * self.pad], self.up, self.down)
        lo = self.pad * self.up // self.down
        out = y[lo:lo + usable * self.up // self.down].astype(np.float32)
        self._buf = buf[usable:]
        self.in_index += usable
        return out, first_in


class RingSource:
    """Reader side shared by the microphone and file playback: ring → 16 kHz AudioChunks."""

    def __init__(self) -> None:
        self._ring: CaptureRing | None = None
        self._resampler: StreamResampler | None = None
        self._read_pos = 0
        self._held: CaptureAudio | None = None  # device-rate audio the resampler has not emitted
        self.error: str = ""  # set when the source stopped on its own (device lost, file end)
        # Input gain (linear), applied where captured audio enters the app: everything read
        # (the model, the gate, the recording) and the level meter; the window's gain slider.
        self.gain = 1.0

    def _attach(self, rate: int, seconds: float = 10.0) -> None:
        self._ring = CaptureRing(rate, seconds)
        self._resampler = StreamResampler(rate)
        self._read_pos = 0
        self._held = None

    def read(self, timeout: float = 0.02) -> AudioChunk | None:
        """New audio since the last call, resampled to 16 kHz; None when nothing arrived."""
        self._check_alive()
        ring, rs = self._ring, self._resampler
        if ring is None or rs is None or not ring.wait(self._read_pos, timeout):
            return None
        raw, start = ring.read_from(self._read_pos)
        if start != self._read_pos:  # reader fell behind: restart the resampler's history
            rs.reset(start)
            self._held = None
        self._read_pos = start + len(raw)
        if self.gain != 1.0:
            raw = np.clip(raw * np.float32(self.gain), -1.0, 1.0)
        held = self._held
        self._held = capture = CaptureAudio(raw, ring.stamp_at(start), int(ring.rate)) if held is None \
            else CaptureAudio(np.concatenate([held.samples, raw]), held.t_capture, held.rate)
        out, first_in = rs.process(raw)
        if len(out) == 0:
            return None
        self._held = None
        return AudioChunk(out, ring.stamp_at(max(first_in, 0.0)), ring.arrival_at(self._read_pos - 1),
                          capture=capture)

    @property
    def capture_rate(self) -> int | None:
        """The device's sample rate (None before it started): what recordings keep."""
        return int(self._ring.rate) if self._ring is not None else None

    @property
    def captured(self) -> int:
        """Samples the device has delivered so far (0 until its first callback)."""
        return self._ring.written if self._ring is not None else 0

    def _check_alive(self) -> None:
        """Hook for sources whose device can vanish; called on every read."""

    def level_db(self, seconds: float = 0.05) -> float:
        """RMS level of the newest audio in dBFS (-100 when silent or not running)."""
        if self._ring is None:
            return -100.0
        x = self._ring.latest(int(self._ring.rate * seconds))
        if len(x) == 0:
            return -100.0
        x = np.clip(x * np.float32(self.gain), -1.0, 1.0)
        return float(20 * np.log10(max(float(np.sqrt(np.mean(x * x))), 1e-5)))


def _sd():
    """Import sounddevice lazily: it raises OSError at import when libportaudio is missing."""
    try:
        import sounddevice
    except OSError as exc:
        raise UserInputError(f"audio is unavailable: PortAudio library not found ({exc})") from exc
    return sounddevice


def refresh_devices() -> None:
    """Re-scan devices: PortAudio enumerates only at initialisation, so plugged-in mics need it."""
    sd = _sd()
    sd._terminate()  # sounddevice's documented way to re-initialise PortAudio
    sd._initialize()


def list_input_devices() -> list[InputDevice]:
    """Capture-capable devices; empty when PortAudio finds none or cannot be used at all."""
    try:
        sd = _sd()
        devices = sd.query_devices()
        default_in = sd.default.device[0]
    except Exception:  # UserInputError, OSError, PortAudioError: no usable audio system
        return []
    return [InputDevice(i, d["name"], float(d["default_samplerate"]), i == default_in)
            for i, d in enumerate(devices) if d["max_input_channels"] > 0]


class AudioInput(RingSource):
    """A running microphone stream; `lost` turns true when the device goes away mid-run.

    `latency` is PortAudio's suggested input latency ("low", "high" or seconds): "low" asks the
    host API (ALSA, PulseAudio's ALSA plugin) for its smallest safe buffer, which is what a
    face that must follow the voice wants; with 5 ms blocks it cut the capture lag on
    PulseAudio from 4/53 ms (median/p95, "high", 10 ms) to 2/8 ms (docs/BENCHMARKS.md).
    `stream_latency_s` is what the stream then reports and `adc_delay_s` the newest
    (ADC -> callback) delay of a block, when the host says.
    """

    def __init__(self, device: str | int | None = None, block_ms: float = 5.0,
                 latency: str | float = "low") -> None:
        super().__init__()
        self.device = device
        self.block_ms = block_ms
        self.latency = latency
        self.stream_latency_s = 0.0
        self.adc_delay_s: float | None = None
        self._stream = None
        self.device_name = ""
        self.lost = False
        self._next_stamp: float | None = None  # sample-clock prediction of the next block's stamp
        self._max_delay = 0.5  # ADC delays above this are not believed (set from the stream)

    def start(self) -> None:
        """Open the device at 48 kHz where it can (recordings keep that quality; the model's
        16 kHz is resampled on read with a 1.4 ms filter pad), else at 16 kHz, else at its own
        rate."""
        sd = _sd()
        devices = list_input_devices()
        if not devices:
            raise UserInputError("no microphone found (use 'play file' mode instead)")
        chosen = self._pick(devices)
        rates = list(dict.fromkeys([CAPTURE_RATE, SAMPLE_RATE, int(chosen.default_rate)]))
        last_error: Exception | None = None
        for rate in rates:
            self._attach(rate)
            self._next_stamp = None
            try:
                stream = sd.InputStream(
                    device=chosen.index, samplerate=rate, channels=1, dtype="float32",
                    blocksize=int(rate * self.block_ms / 1000), latency=self.latency,
                    callback=self._callback, finished_callback=self._on_finished)
                # PulseAudio's ALSA plugin reports 0.4-0.7 s for a new stream's first blocks
                # while they arrive in real time: believe only delays near the stream's latency.
                self._max_delay = min(0.5, 2.0 * float(stream.latency) + 2.0 * self.block_ms / 1000)
                stream.start()
            except (sd.PortAudioError, ValueError) as exc:
                last_error = exc
                continue
            self._stream, self.device_name, self.lost, self.error = stream, chosen.name, False, ""
            self.stream_latency_s = float(stream.latency)
            return
        raise UserInputError(f"cannot open microphone '{chosen.name}': {last_error}")

    def _pick(self, devices: list[InputDevice]) -> InputDevice:
        if isinstance(self.device, int):
            for d in devices:
                if d.index == self.device:
                    return d
        elif self.device:
            for d in devices:
                if d.name == self.device:
                    return d
        return next((d for d in devices if d.is_default), devices[0])

    def _callback(self, indata, frames, time_info, status) -> None:
        # Real-time thread: stamp and copy, nothing else. PortAudio's ADC time is on another
        # clock; only the (ADC -> now) delay is used, and only when it is plausible.
        # Servers deliver blocks in bursts, so "now - block length" is only an upper bound on
        # the capture time; follow the sample clock and let the bound pull it down (and slowly
        # up, to absorb clock drift), which keeps stamps honest and strictly increasing.
        rate = self._ring.rate
        delay = time_info.currentTime - time_info.inputBufferAdcTime
        plausible = 0.0 < delay < self._max_delay
        if plausible:
            self.adc_delay_s = delay
        bound = time.monotonic() - (delay if plausible else 0.0) - (frames - 1) / rate
        predicted = self._next_stamp
        stamp = bound if predicted is None else min(bound, predicted + 0.05 * max(bound - predicted, 0.0))
        self._next_stamp = stamp + frames / rate
        self._ring.write(indata[:, 0], stamp)

    def _on_finished(self) -> None:
        # Called when the stream ends; if nobody asked it to stop, the device went away.
        if self._stream is not None:
            self.lost = True
            self.error = f"microphone '{self.device_name}' stopped delivering audio"

    def _check_alive(self) -> None:
        # Not every host API calls finished_callback when its server dies; an inactive stream
        # that nobody stopped means the same thing.
        stream = self._stream
        if stream is not None and not self.lost and not stream.active:
            self._on_finished()

    def stop(self) -> None:
        """Close the stream; errors from a vanished device are expected here and ignored."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            stream.abort()
            stream.close()
        except Exception:  # PortAudioError after the device vanished: nothing left to close
            pass

    @property
    def running(self) -> bool:
        return self._stream is not None and not self.lost


AUDIO_NOT_STARTED = "audio not started (is PulseAudio/PipeWire running?)"


def server_silent(timeout: float, consequence: str) -> str:
    """The one wording for a sound server that hung, shared by every worker that waits on it."""
    return f"the sound server did not answer within {timeout:g} s; {consequence}"


class DeviceOpener:
    """Start an audio source (`source.start()`) on a worker thread so the window never waits.

    PortAudio calls into the sound server; a frozen server (a stopped PulseAudio, a hung
    Bluetooth headset) blocks them for many seconds. The window polls `poll()` every frame and
    gives up after `timeout` seconds with a message; a source that opens after it was given up
    is stopped again on its own thread, so nothing keeps the device.
    """

    def __init__(self, source, timeout: float = 2.0) -> None:
        self.source = source
        self.timeout = timeout
        self.error = ""
        self._done = threading.Event()
        self._abandoned = False
        self._lock = threading.Lock()
        self._started = time.monotonic()
        threading.Thread(target=self._open, name="audio-open", daemon=True).start()

    def _open(self) -> None:
        try:
            self.source.start()
        except UserInputError as exc:
            self.error = str(exc)
        except Exception as exc:  # PortAudioError and kin from a broken audio system
            self.error = f"cannot open the audio device ({type(exc).__name__}: {exc})"
        with self._lock:
            self._done.set()
            abandoned = self._abandoned
        if abandoned and not self.error:
            self.source.stop()

    def poll(self) -> str | None:
        """None while opening; "" once open; otherwise the message to show (failure, timeout)."""
        if self._done.is_set():
            return self.error
        if time.monotonic() - self._started < self.timeout:
            return None
        with self._lock:
            if self._done.is_set():
                return self.error
            self._abandoned = True
        return server_silent(self.timeout, AUDIO_NOT_STARTED)

    def abandon(self) -> None:
        """Nobody wants the source any more: stop it now or as soon as it has opened."""
        with self._lock:
            self._abandoned = True
            opened = self._done.is_set() and not self.error
        if opened:
            self.source.stop()
