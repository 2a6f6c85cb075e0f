"""The live path: audio source → driver worker → motion buffer → render worker → window.

Threads (DESIGN.md "Threads in the live app"):
- the audio source's callback only fills its ring (audio_in / audio_out);
- `DriverWorker` pulls audio, gates it, runs the streaming regressor and publishes MotionFrames
  stamped with the capture time of the audio they show;
- `RenderWorker` picks the motion for "now − display delay", adds idle motion and the user's
  pose controls, renders, feeds the recorder and leaves the newest image in a one-slot mailbox.
The GUI thread only uploads that image. Rendering runs off the GUI thread because a CPU
render at the default size takes longer than one GUI frame; the window keeps its own frame
rate and stays responsive while the avatar renders, loads or the model thinks.

Latency is measured, not estimated: every image carries the capture time of its audio, and
`LatencyStats` records (time handed to the window − capture time) once per shown image.
"""
from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Protocol

import numpy as np

from avatar_app.audio_in import SAMPLE_RATE, AudioChunk
from avatar_app.mp4_writer import Mp4WriteError
from driver.motion import MotionFrame
from splat.errors import UserInputError

FPS = 30
STALE_S = 0.25  # motion older than this (relative to the wanted time) means "no speech input"


class AudioSource(Protocol):
    """What both the microphone (AudioInput) and the file player (FilePlayer) offer."""

    lost: bool
    error: str

    def read(self, timeout: float = 0.02) -> AudioChunk | None: ...

    def level_db(self, seconds: float = 0.05) -> float: ...

    def stop(self) -> None: ...


class MotionEngine(Protocol):
    """driver.streaming.StreamingEngine's streaming interface."""

    def push(self, block: np.ndarray, t0: float) -> list[MotionFrame]: ...

    def reset(self) -> None: ...


@dataclass
class TimedFrame:
    """A motion frame, the capture time of the audio it shows, and that audio's loudness."""

    frame: MotionFrame
    t_capture: float
    energy: float


class MotionBuffer:
    """Newest few seconds of motion, looked up by capture time (worker writes, renderer reads)."""

    def __init__(self, seconds: float = 3.0) -> None:
        self._frames: deque[TimedFrame] = deque(maxlen=int(seconds * FPS))
        self._lock = threading.Lock()

    def push(self, frames: list[TimedFrame]) -> None:
        with self._lock:
            self._frames.extend(frames)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()

    def select(self, target: float) -> TimedFrame | None:
        """The newest frame captured at or before `target`; the oldest one if all are later."""
        with self._lock:
            if not self._frames:
                return None
            best = self._frames[0]
            for tf in reversed(self._frames):
                if tf.t_capture <= target:
                    best = tf
                    break
            return best


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


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


class DriverWorker(threading.Thread):
    """Audio → gate → streaming regressor → MotionBuffer, plus the recorder's audio tap.

    Stream time (what the engine sees) counts gated samples from the session start; the map to
    capture time is re-anchored on every chunk, so dropped audio cannot skew the latency figures.
    """

    def __init__(self, source: AudioSource, engine: MotionEngine | None, motion: MotionBuffer,
                 gate_factory: Callable[[], object | None], on_audio: Callable[[AudioChunk], None]
                 ) -> None:
        super().__init__(name="driver-worker", daemon=True)
        self.source = source
        self.engine = engine
        self.motion = motion
        self.gate = gate_factory()
        self.on_audio = on_audio
        self.muted = False
        self.infer_ms = 0.0  # inference time per motion frame, last push
        self._stop_event = threading.Event()
        self._pushed = 0  # gated samples handed to the engine
        self._energy_hist = np.zeros(SAMPLE_RATE, np.float32)  # newest second of gated audio

    def set_gate(self, gate: object | None) -> None:
        self.gate = gate

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            chunk = self.source.read(timeout=0.02)
            if chunk is None:
                continue
            samples = np.zeros_like(chunk.samples) if self.muted else chunk.samples
            self.on_audio(AudioChunk(samples, chunk.t_capture))
            self._drive(samples, chunk.t_capture)

    def _drive(self, samples: np.ndarray, t_capture: float) -> None:
        gate = self.gate
        if gate is not None:
            # output starts with the samples the gate held back last time
            t_capture -= gate.pending / SAMPLE_RATE
            gated = gate.process(samples)
        else:
            gated = samples
        if len(gated) == 0:
            return
        t_stream = self._pushed / SAMPLE_RATE
        anchor = t_capture - t_stream  # capture time = anchor + stream time
        self._pushed += len(gated)
        n = len(gated)
        self._energy_hist = np.concatenate([self._energy_hist[n:], gated[-SAMPLE_RATE:]])[-SAMPLE_RATE:]
        if self.engine is None:
            return
        start = time.perf_counter()
        frames = self.engine.push(gated, t_stream)
        if frames:
            self.infer_ms = (time.perf_counter() - start) * 1000 / len(frames)
        end_stream = self._pushed / SAMPLE_RATE
        timed = []
        for f in frames:
            back = int((end_stream - f.t) * SAMPLE_RATE)  # samples from f.t to the newest sample
            lo = max(SAMPLE_RATE - back - SAMPLE_RATE // (2 * FPS), 0)
            timed.append(TimedFrame(f, anchor + f.t, rms(self._energy_hist[lo:lo + SAMPLE_RATE // FPS])))
        self.motion.push(timed)


@dataclass
class RenderOptions:
    """Everything the render worker reads per frame; the GUI swaps in a new copy to change it."""

    size: int = 512
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    transparent: bool = False
    delay_s: float = 0.0
    expression_intensity: float = 1.0
    jaw_manual: float = 0.0  # extra jaw opening (rad) from the pose slider
    blink: float = 1.0  # idle strengths; 0 turns a motion off
    gaze: float = 1.0
    sway: float = 1.0


@dataclass
class RenderedFrame:
    """One finished image (straight-alpha RGBA float32) and where its motion came from."""

    rgba: np.ndarray
    t_capture: float | None  # capture time of the audio shown; None when no speech drove it
    t_ready: float
    render_ms: float
    seq: int = 0


@dataclass
class Scene:
    """The avatar being shown (built off the GUI thread, swapped in whole)."""

    pipeline: object  # splat.pipeline.AvatarPipeline
    n_expr: int
    name: str
    rig: object = None  # splat.rig.RigData or None (plain 3DGS scene)


def scale_speech(frame: MotionFrame, k: float) -> MotionFrame:
    """Expression-intensity slider: scales what speech moves (expressions and jaw)."""
    if k == 1.0:
        return frame
    return replace(frame, expr=np.asarray(frame.expr, np.float32) * k,
                   jaw_pose=np.asarray(frame.jaw_pose, np.float32) * k)


def frame_params(frame: MotionFrame, jaw_manual: float) -> dict[str, np.ndarray]:
    """Rig parameters for the pipeline, with the manual jaw slider added to the jaw opening."""
    params = {k: np.asarray(v, np.float32) for k, v in frame.params().items()}
    params["jaw_pose"] = params["jaw_pose"] + np.array([jaw_manual, 0.0, 0.0], np.float32)
    return params


def neutral_frame(t: float, n_expr: int) -> MotionFrame:
    return MotionFrame(t=t, expr=np.zeros(n_expr, np.float32))


def to_rgba(image: np.ndarray, alpha: np.ndarray, transparent: bool) -> np.ndarray:
    """Contiguous float32 RGBA for dearpygui's raw texture (straight alpha when transparent)."""
    h, w = image.shape[:2]
    rgba = np.empty((h, w, 4), np.float32)
    if transparent:
        a = np.clip(alpha, 0.0, 1.0)
        rgba[..., :3] = np.clip(image / np.maximum(a, 1e-4)[..., None], 0.0, 1.0)
        rgba[..., 3] = a
    else:
        rgba[..., :3] = np.clip(image, 0.0, 1.0)
        rgba[..., 3] = 1.0
    return rgba


class RenderWorker(threading.Thread):
    """Motion for now − delay → idle motion → render → mailbox (+ recorder), at ≤ `max_fps`."""

    def __init__(self, motion: MotionBuffer, camera_fn: Callable[[int], object],
                 idle_factory: Callable[[RenderOptions], object | None], max_fps: float = 60.0
                 ) -> None:
        super().__init__(name="render-worker", daemon=True)
        self.motion = motion
        self.camera_fn = camera_fn
        self.idle_factory = idle_factory
        self.options = RenderOptions()
        self.scene: Scene | None = None
        self.recorder: Recorder | None = None
        self.min_period = 1.0 / max_fps
        self.render_ms = 0.0
        self.error = ""
        self._idle = None
        self._idle_opts: tuple | None = None
        self._mailbox: RenderedFrame | None = None
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._seq = 0
        self._t0 = time.monotonic()

    def stop(self) -> None:
        self._stop_event.set()

    def take(self) -> RenderedFrame | None:
        """The newest unseen image, or None (called by the GUI thread)."""
        with self._lock:
            out, self._mailbox = self._mailbox, None
            return out

    def reset_idle(self) -> None:
        self._idle_opts = None

    def _idle_for(self, opts: RenderOptions):
        key = (opts.blink, opts.gaze, opts.sway)
        if key != self._idle_opts:
            self._idle, self._idle_opts = self.idle_factory(opts), key
        return self._idle

    def run(self) -> None:
        while not self._stop_event.is_set():
            started = time.monotonic()
            scene, opts = self.scene, self.options
            if scene is None:
                self._stop_event.wait(0.02)
                continue
            try:
                frame = self.render_once(scene, opts, started)
            except Exception as exc:  # a bad avatar/backend must not kill the live loop
                self.error = f"render failed: {exc}"
                self._stop_event.wait(0.2)
                continue
            with self._lock:
                self._mailbox = frame
            if self.recorder is not None:
                self.recorder.add_frame(frame)
            spare = self.min_period - (time.monotonic() - started)
            if spare > 0:
                self._stop_event.wait(spare)

    def render_once(self, scene: Scene, opts: RenderOptions, now: float) -> RenderedFrame:
        target = now - opts.delay_s
        tf = self.motion.select(target)
        fresh = tf is not None and target - tf.t_capture <= STALE_S
        t_idle = target - self._t0
        if fresh:
            frame = scale_speech(replace(tf.frame, t=t_idle), opts.expression_intensity)
        else:
            frame = neutral_frame(t_idle, scene.n_expr)
        idle = self._idle_for(opts)
        if idle is not None:
            frame = idle.apply(frame, tf.energy if fresh else 0.0)
        params = frame_params(frame, opts.jaw_manual)
        camera = self.camera_fn(opts.size)
        start = time.perf_counter()
        bg = (0.0, 0.0, 0.0) if opts.transparent else opts.background
        image, alpha = scene.pipeline.render(params, camera, bg)
        self.render_ms = (time.perf_counter() - start) * 1000
        self._seq += 1
        return RenderedFrame(to_rgba(np.asarray(image), np.asarray(alpha), opts.transparent),
                             tf.t_capture if fresh else None, time.monotonic(), self.render_ms,
                             self._seq)


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

    def __init__(self, path: str, size: int, fps: int = FPS) -> None:
        from avatar_app.mp4_writer import Mp4Writer

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
                self._flush_audio(self._last_video + 1.0 / FPS)
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
                        end = self._last_video + 1.0 / FPS
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
        return max(self._last_video, 0.0) + (1.0 / FPS if self.frames else 0.0)


class LiveSession:
    """Owns the workers and the recorder; the GUI and the latency bench drive it."""

    def __init__(self, camera_fn: Callable[[int], object],
                 idle_factory: Callable[[RenderOptions], object | None],
                 gate_factory: Callable[[], object | None] = lambda: None,
                 max_fps: float = 60.0) -> None:
        self.motion = MotionBuffer()
        self.latency = LatencyStats()
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

    def set_gate(self, gate_factory: Callable[[], object | None]) -> None:
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
        return self.renderer.take()

    def mark_shown(self, frame: RenderedFrame, t_shown: float) -> None:
        """Record audio-to-frame latency for an image the window has just been handed."""
        if frame.t_capture is not None:
            self.latency.add((t_shown - frame.t_capture) * 1000.0)

    @property
    def infer_ms(self) -> float:
        return self.worker.infer_ms if self.worker is not None else 0.0

    def start_recording(self, path: str) -> None:
        self.stop_recording()
        self.recorder = Recorder(path, self.options.size)
        self.renderer.recorder = self.recorder

    def stop_recording(self) -> str | None:
        """Finalise the current recording; returns its path (None when none was running)."""
        recorder, self.recorder = self.recorder, None
        self.renderer.recorder = None
        return recorder.close() if recorder is not None else None

    def close(self) -> None:
        """Stop everything; finalises a running recording first so the file stays playable."""
        self.stop_recording()
        self.stop_source()
        self.renderer.stop()
        self.renderer.join(timeout=5.0)


class LoadFailure(UserInputError):
    """A failed load, worded for a person and naming the file at fault (avatar, FLAME model,
    checkpoint or renderer), never a bare exception text."""


@contextmanager
def blame(what: str, path: object, otherwise: str = "") -> Iterator[None]:
    """Turn any failure inside the block into a LoadFailure that names `what` and `path`.

    Messages written for users (UserInputError) are kept; OS errors become their reason; any
    other exception means the file is damaged or of another kind, which is what a person needs
    to hear (or `otherwise`; the exception itself goes to stderr for whoever debugs it).
    """
    try:
        yield
    except LoadFailure:
        raise
    except UserInputError as exc:
        text = str(exc)
        named = str(path) in text and what.split()[-1].lower() in text.lower()
        raise LoadFailure(text if named else f"{what} {path}: {text}") from None
    except OSError as exc:
        raise LoadFailure(f"cannot read the {what} {path}: {exc.strerror or 'unreadable'}") from None
    except Exception as exc:  # a malformed file must not take the window down
        print(f"load of {what} {path} failed: {exc!r}", file=sys.stderr)
        raise LoadFailure(otherwise or f"the {what} {path} could not be loaded: it is damaged "
                          f"or not a {what}") from None


def load_scene(avatar_dir: str, flame: str | None, backend: str) -> Scene:
    """Load an avatar and build its pipeline (slow: call off the GUI thread); a failure is a
    LoadFailure blaming the avatar, the FLAME model or the renderer, whichever failed."""
    from pathlib import Path

    from splat.avatar import load_avatar, resolve_avatar_rig
    from splat.pipeline import AvatarPipeline

    with blame("avatar", avatar_dir):
        avatar = load_avatar(avatar_dir)
    with blame("FLAME model", flame) if flame else blame("avatar", avatar_dir):
        rig = resolve_avatar_rig(avatar_dir, flame or None, avatar=avatar)
    with blame(f"{backend} renderer for", avatar_dir,
               f"the {backend} renderer could not start for the avatar {avatar_dir}"):
        pipeline = AvatarPipeline(avatar, rig, backend=backend)
    return Scene(pipeline, rig.n_expr if rig is not None else 0, Path(avatar_dir).name, rig)


def load_engine(checkpoint: str, rig) -> tuple[MotionEngine, str]:
    """The streaming regressor driving `rig`, and a note for the status line.

    A checkpoint trained for another rig (the embedded model on a user's FLAME avatar) keeps
    driving its own rig and its frames are retargeted; the note says so, with the transfer
    quality, because in the window there is no `--retarget` flag to ask for it. A failure is a
    LoadFailure blaming the checkpoint.
    """
    with blame("checkpoint", checkpoint):
        return _load_engine(checkpoint, rig)


def _load_engine(checkpoint: str, rig) -> tuple[MotionEngine, str]:
    from pathlib import Path

    from driver.checkpoint import load_checkpoint, read_checkpoint_info
    from driver.retarget import RetargetedStream, Retargeter, find_source_rig
    from driver.streaming import StreamingEngine

    _, info = read_checkpoint_info(checkpoint)
    if rig is None or info.rig_topology == rig.topology_digest():
        model, _info = load_checkpoint(checkpoint, rig=rig)
        return warmed_up(StreamingEngine(model, rig, lookahead_ms=100.0)), ""
    default_rig = Path(__file__).resolve().parents[1] / "assets" / "default_avatar" / "rig.npz"
    source = find_source_rig(info.rig_id, info.rig_topology, [Path(checkpoint) / "rig.npz", default_rig])
    model, _info = load_checkpoint(checkpoint, rig=source)
    retargeter = Retargeter(source, rig)
    engine = RetargetedStream(StreamingEngine(model, source, lookahead_ms=100.0), retargeter)
    return warmed_up(engine), f"retargeted: {retargeter.summary()}"


def warmed_up(engine: MotionEngine) -> MotionEngine:
    """Run a second of silence through a fresh engine, then reset it.

    torch's first calls allocate and pick kernels (hundreds of ms on a CPU); doing that on the
    loader thread means the first words spoken after "Start live" animate at once.
    """
    engine.push(np.zeros(SAMPLE_RATE, np.float32), 0.0)
    engine.flush()
    engine.reset()
    return engine


def make_idle(opts: RenderOptions, expr_names) -> object:
    """Idle motion with the GUI's strengths (0 switches a layer off)."""
    from driver.idle import IdleMotion

    return IdleMotion(seed=0, expr_names=list(expr_names), blink=opts.blink, gaze=opts.gaze,
                      sway=opts.sway, blink_on=opts.blink > 0, gaze_on=opts.gaze > 0,
                      sway_on=opts.sway > 0)
