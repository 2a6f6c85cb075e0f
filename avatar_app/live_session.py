"""The live path: audio source → driver worker → motion buffer → render worker → window.

Threads (docs/ARCHITECTURE.md "Threads in the live app"), one module each:
- the audio source's callback only fills its ring (audio_in / audio_out);
- `live_motion.DriverWorker` pulls audio, gates it, runs the streaming regressor and publishes
  MotionFrames stamped with the capture time of the audio they show;
- `live_render.RenderWorker` picks the motion for "now − display delay", adds idle motion and
  the user's pose controls, renders, feeds the `recorder.Recorder` and leaves the newest image
  in a one-slot mailbox.
The GUI thread only uploads that image. `LiveSession` (here) owns the workers and the recorder;
the window and the latency bench drive it. Loading is `live_loading`.

Latency is measured, not estimated: every image carries the capture time of its audio, and
`LatencyStats` records (time handed to the window − capture time) once per shown image;
`LatencyBreakdown` (avatar_app.latency_stages) splits the same figure into its stages.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from avatar_app.audio_in import AudioChunk
from avatar_app.latency_stages import LatencyBreakdown
from avatar_app.live_motion import AudioSource, DriverWorker, GateFactory, MotionBuffer
from avatar_app.live_render import IdleFactory, RenderedFrame, RenderOptions, RenderWorker, Scene
from avatar_app.recorder import Recorder
from driver.streaming import MotionEngine
from splat.cameras import Camera


class LatencyStats:
    """Rolling audio-to-frame latencies in milliseconds (the last `window` shown images)."""

    def __init__(self, window: int = 300) -> None:
        self._values: deque[float] = deque(maxlen=window)
        self.count = 0
        self._lock = threading.Lock()

    def add(self, ms: float) -> None:
        with self._lock:
            self._values.append(ms)
            self.count += 1

    def values(self) -> np.ndarray:
        with self._lock:
            return np.array(self._values, np.float64)

    def summary(self) -> tuple[float, float] | None:
        """(median, p95) in ms, or None before the first audio-driven image."""
        v = self.values()
        if len(v) == 0:
            return None
        return float(np.median(v)), float(np.percentile(v, 95))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()



class LiveSession:
    """Owns the workers and the recorder; the GUI and the latency bench drive it."""

    def __init__(self, camera_fn: Callable[[int], Camera], idle_factory: IdleFactory,
                 gate_factory: GateFactory = lambda: None, max_fps: float = 60.0) -> None:
        self.motion = MotionBuffer()
        self.latency = LatencyStats()
        self.stages = LatencyBreakdown()
        self._shown_at: float | None = None  # an image handed over, not yet presented
        self.gate_factory = gate_factory
        self.renderer = RenderWorker(self.motion, camera_fn, idle_factory, max_fps)
        self.renderer.start()
        self.engine: MotionEngine | None = None
        self.source: AudioSource | None = None
        self.worker: DriverWorker | None = None
        self.recorder: Recorder | None = None
        self.muted = False

    @property
    def options(self) -> RenderOptions:
        return self.renderer.options

    def set_options(self, **changes) -> None:
        self.renderer.options = replace(self.renderer.options, **changes)

    def set_scene(self, scene: Scene) -> None:
        """Show another avatar; idle motion is rebuilt for its rig's expression names."""
        self.renderer.scene = scene
        self.renderer.reset_idle()

    def set_engine(self, engine: MotionEngine | None) -> None:
        """Swap the motion model; the worker picks it up on its next chunk."""
        self.engine = engine
        self.motion.clear()
        if self.worker is not None:
            self.worker.engine = engine

    def set_gate(self, gate_factory: GateFactory) -> None:
        self.gate_factory = gate_factory
        if self.worker is not None:
            self.worker.set_gate(gate_factory())

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        if self.worker is not None:
            self.worker.muted = muted

    def start_source(self, source: AudioSource) -> None:
        """Drive the avatar from an already started source (mic or file)."""
        self.stop_source()
        if self.engine is not None:
            self.engine.reset()
        self.motion.clear()
        self.latency.clear()
        self.stages.clear()
        self.source = source
        self.worker = DriverWorker(source, self.engine, self.motion, self.gate_factory, self._on_audio)
        self.worker.muted = self.muted
        self.worker.start()

    def stop_source(self) -> None:
        worker, source = self.worker, self.source
        self.worker = self.source = None
        if worker is not None:
            worker.stop()
            worker.join(timeout=2.0)
        if source is not None:
            source.stop()

    def _on_audio(self, chunk: AudioChunk) -> None:
        recorder = self.recorder
        if recorder is not None:
            recorder.add_audio(chunk)

    def take_frame(self) -> RenderedFrame | None:
        frame = self.renderer.take()
        if frame is not None and frame.stamps is not None:
            frame.stamps.taken = time.monotonic()
        return frame

    def wait_for_frame(self, timeout: float) -> bool:
        """Sleep until the renderer has a new image or `timeout` s pass (the window's idle)."""
        return self.renderer.wait_posted(timeout)

    def mark_shown(self, frame: RenderedFrame, t_shown: float) -> None:
        """Record audio-to-frame latency (and its stages) for an image the window has just been
        handed (after its texture upload)."""
        if frame.t_capture is not None:
            self.latency.add((t_shown - frame.t_capture) * 1000.0)
        if frame.stamps is not None:
            self.stages.add(frame.stamps, t_shown, self.lookahead_s)
            self._shown_at = t_shown

    def mark_presented(self, t_presented: float) -> None:
        """The window finished the GUI frame that put the last shown image on screen."""
        if self._shown_at is not None:
            self.stages.add_present((t_presented - self._shown_at) * 1000.0)
            self._shown_at = None

    @property
    def lookahead_s(self) -> float:
        """The loaded model's audio look-ahead (0 without a model or for one that does not say)."""
        return float(getattr(self.engine, "lookahead_ms", 0.0)) / 1000.0

    @property
    def infer_ms(self) -> float:
        return self.worker.infer_ms if self.worker is not None else 0.0

    def start_recording(self, path: str, **options) -> None:
        """Record what is shown from now on; `options` are the Recorder's (capture rate,
        motion file beside the video, alpha)."""
        self.stop_recording()
        self.recorder = Recorder(path, self.options.size, **options)
        self.renderer.recorder = self.recorder

    def stop_recording(self, fill: bool = True) -> str | None:
        """Finalise the current recording; returns its path (None when none was running).
        Frames the renderer skipped are then filled in by the render worker (`renderer.
        filling`; with `fill=False` the caller queues `recorder.fill` itself); the file is
        complete and playable either way."""
        recorder, self.recorder = self.recorder, None
        self.renderer.recorder = None
        if recorder is None:
            return None
        path = recorder.close()
        if fill and recorder.fill is not None:
            self.renderer.add_fill(recorder.fill)
        return path

    def wait_for_fills(self, timeout: float) -> bool:
        """Block until every queued fill is done (True) or `timeout` s pass (False)."""
        end = time.monotonic() + timeout
        while self.renderer.fills and time.monotonic() < end:
            time.sleep(0.02)
        return not self.renderer.fills

    def close(self) -> None:
        """Stop everything; finalises a running recording first so the file stays playable."""
        self.stop_recording()
        self.stop_source()
        self.renderer.stop()
        self.renderer.join(timeout=5.0)
