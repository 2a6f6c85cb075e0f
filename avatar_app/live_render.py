"""The live path's second half: motion for "now − display delay" → idle motion → pixels.

`RenderWorker` picks the newest motion captured before the wanted time, adds idle motion and
the user's pose controls, renders the `Scene` and leaves the newest image in a one-slot mailbox
(and hands it to the recorder). It runs off the GUI thread because a CPU render at the default
size takes longer than one GUI frame. Nothing queues: a render starts as soon as newer motion
is due (not on a clock of its own) and takes the newest, so a renderer slower than the motion
skips the frames it had no time for, and the window takes only the newest image. While
recording, what those skipped frames would have been rendered with goes to the recorder, and
the worker fills them into the finished file a frame at a time (`record_fill`).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from avatar_app.latency_stages import FrameStamps
from avatar_app.live_motion import MotionBuffer, TimedFrame
from avatar_app.record_fill import RecordingFill, SkippedFrame
from driver.audio import MOTION_FPS
from driver.idle import IdleMotion
from driver.motion import MotionFrame
from splat.cameras import Camera

if TYPE_CHECKING:
    from avatar_app.recorder import Recorder
    from splat.pipeline import AvatarPipeline
    from splat.rig import RigData

STALE_S = 0.25  # no motion published (or none this close to the wanted time): "no speech input"
FLOWING_WAIT_S = 0.1  # while motion flows, how long a render waits for the next frame at most


@dataclass
class RenderOptions:
    """Everything the render worker reads per frame; the GUI swaps in a new copy to change it."""

    size: int = 512
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    transparent: bool = False
    delay_s: float = 0.0
    expression_intensity: float = 1.0
    jaw_manual: float = 0.0  # extra jaw opening (rad) from the pose slider
    expr_manual: tuple[float, ...] = ()  # per-expression offsets from the Pose tab's sliders
    shape: tuple[float, ...] = ()  # identity (rig shape_names order) from the Avatar tab; () = own
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
    stamps: FrameStamps | None = None  # where its latency went (speech-driven frames only)
    params: dict[str, np.ndarray] | None = None  # the rig parameters shown (recorded motion)
    t_started: float = 0.0  # when its render read the options (a change made later is not in it)


@dataclass
class Scene:
    """The avatar being shown (built off the GUI thread, swapped in whole)."""

    pipeline: "AvatarPipeline"
    name: str

    @property
    def rig(self) -> "RigData | None":
        """The avatar's rig; None for a plain 3DGS scene."""
        return self.pipeline.rig_data

    @property
    def n_expr(self) -> int:
        return self.rig.n_expr if self.rig is not None else 0

    @property
    def relightable(self) -> bool:
        """Whether a light can move on this avatar (albedo + normals; else baked colours)."""
        return self.pipeline.relighter is not None


def scale_speech(frame: MotionFrame, k: float) -> MotionFrame:
    """Expression-intensity slider: scales what speech moves (expressions and jaw)."""
    if k == 1.0:
        return frame
    return replace(frame, expr=np.asarray(frame.expr, np.float32) * k,
                   jaw_pose=np.asarray(frame.jaw_pose, np.float32) * k)


def frame_params(frame: MotionFrame, jaw_manual: float,
                 expr_manual: tuple[float, ...] = ()) -> dict[str, np.ndarray]:
    """Rig parameters for the pipeline, with the manual jaw slider added to the jaw opening
    and the Pose tab's expression sliders to the expressions."""
    params = {k: np.asarray(v, np.float32) for k, v in frame.params().items()}
    params["jaw_pose"] = params["jaw_pose"] + np.array([jaw_manual, 0.0, 0.0], np.float32)
    if expr_manual:
        n = min(len(expr_manual), len(params["expr"]))
        params["expr"] = params["expr"].copy()
        params["expr"][:n] += np.asarray(expr_manual[:n], np.float32)
    return params


def _with_shape(params: dict[str, np.ndarray], opts: RenderOptions) -> dict[str, np.ndarray]:
    """The identity sliders replace the avatar's own flame_param shape (not recorded as
    motion)."""
    return {**params, "shape": np.asarray(opts.shape, np.float32)} if opts.shape else params


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


def make_idle(opts: RenderOptions, expr_names: list[str]) -> IdleMotion:
    """Idle motion with the GUI's strengths (0 switches a layer off)."""
    return IdleMotion(seed=0, expr_names=list(expr_names), blink=opts.blink, gaze=opts.gaze,
                      sway=opts.sway, blink_on=opts.blink > 0, gaze_on=opts.gaze > 0,
                      sway_on=opts.sway > 0)


IdleFactory = Callable[[RenderOptions], "IdleMotion | None"]


class RenderWorker(threading.Thread):
    """Motion for now − delay → idle motion → render → mailbox (+ recorder), at ≤ `max_fps`."""

    def __init__(self, motion: MotionBuffer, camera_fn: Callable[[int], Camera],
                 idle_factory: IdleFactory, max_fps: float = 60.0) -> None:
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
        self._idle: IdleMotion | None = None
        self._idle_opts: tuple | None = None
        self._mailbox: RenderedFrame | None = None
        self._posted = threading.Event()  # set exactly while the mailbox holds an image
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._seq = 0
        self._t0 = time.monotonic()
        self._shown_capture: float | None = None  # capture time of the last speech frame shown
        self.fills: deque[RecordingFill] = deque()   # recordings whose skipped frames to fill
        self.fill_messages: deque[str] = deque()     # finished fills, for the window to say

    def stop(self) -> None:
        self._stop_event.set()

    def take(self) -> RenderedFrame | None:
        """The newest unseen image, or None (called by the GUI thread)."""
        with self._lock:
            out, self._mailbox = self._mailbox, None
            self._posted.clear()
            return out

    def wait_posted(self, timeout: float) -> bool:
        """Block until an unseen image is in the mailbox (True) or `timeout` s pass (False).
        The window waits on this instead of sleeping out its frame period, so a finished image
        is shown at once rather than after half a GUI frame on average."""
        return self._posted.wait(max(timeout, 0.0))

    def reset_idle(self) -> None:
        self._idle_opts = None

    def _idle_for(self, opts: RenderOptions) -> IdleMotion | None:
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
                self._posted.set()
            if self.recorder is not None:
                self.recorder.add_frame(frame)
            self._fill_step()
            self._wait_for_motion(started, frame.t_capture)
        self._abandon_fills()

    def set_max_fps(self, fps: float) -> None:
        self.min_period = 1.0 / max(fps, 0.1)

    def add_fill(self, fill: RecordingFill) -> None:
        self.fills.append(fill)

    @property
    def filling(self) -> RecordingFill | None:
        """The fill in progress (the oldest queued), or None (read from the GUI thread while
        this one may pop it)."""
        try:
            return self.fills[0]
        except IndexError:
            return None

    def _fill_step(self) -> None:
        """One skipped frame of the oldest queued fill, between two live frames: the preview
        slows while a fill runs, but neither waits for the other to finish."""
        fill = self.filling
        if fill is None:
            return
        if not fill.step():
            self.fills.popleft()
            self.fill_messages.append(fill.error or f"{fill.path.name}: filled in the "
                                                    f"{fill.total} frames the preview skipped")

    def _abandon_fills(self) -> None:
        """The worker stops (the window closes): unfinished fills are dropped, their live
        recordings stay as written."""
        while self.fills:
            fill = self.fills.popleft()
            fill.abandon()
            self.fill_messages.append(f"{fill.path.name}: kept as recorded live ({fill.filled} "
                                      f"of {fill.total} skipped frames filled when it stopped)")

    def _wait_for_motion(self, started: float, shown: float | None) -> None:
        """Sleep until newer motion is due (captured after the one just shown, plus the display
        delay) — or, without speech, one motion period so idle motion stays smooth — and never
        start renders closer than `min_period`."""
        floor = started + self.min_period
        flowing = time.monotonic() - self.motion.last_push < STALE_S
        deadline = started + (FLOWING_WAIT_S if flowing else 1.0 / MOTION_FPS)
        while not self._stop_event.is_set():
            now = time.monotonic()
            if now < floor:
                self._stop_event.wait(floor - now)
                continue
            nxt = self.motion.wait_after(shown if shown is not None else now - STALE_S,
                                         deadline - now)
            if nxt is not None:
                deadline = min(deadline, nxt.t_capture + self.options.delay_s)
            now = time.monotonic()
            if now >= deadline:
                return
            self._stop_event.wait(deadline - now)

    def _hand_skipped(self, recorder: "Recorder", scene: Scene, opts: RenderOptions,
                      shown: TimedFrame, t_idle: float, idle: IdleMotion | None,
                      camera: Camera, bg: tuple[float, float, float]) -> None:
        """Give the recorder the motion frames between the last shown one and `shown`, as they
        would have been drawn (idle motion at their own times, the same view), for its fill
        (before any speech was shown, from the recording's start)."""
        after = recorder.t_start if self._shown_capture is None else self._shown_capture
        for skipped in self.motion.between(after, shown.t_capture):
            t = t_idle - shown.t_capture + skipped.t_capture
            frame = scale_speech(replace(skipped.frame, t=t), opts.expression_intensity)
            if idle is not None:
                frame = idle.apply(frame, skipped.energy)
            params = frame_params(frame, opts.jaw_manual, opts.expr_manual)
            recorder.add_skipped(skipped.t_capture, SkippedFrame(
                0.0, _with_shape(params, opts), camera, bg, scene.pipeline), params)

    def render_once(self, scene: Scene, opts: RenderOptions, now: float) -> RenderedFrame:
        target = now - opts.delay_s
        tf = self.motion.select(target)
        # Speech motion counts while the driver keeps publishing, however late it runs (a busy
        # CPU); once it stops for STALE_S the face goes back to rest.
        fresh = tf is not None and (target - tf.t_capture <= STALE_S
                                    or now - self.motion.last_push <= STALE_S)
        t_idle = target - self._t0
        if fresh:
            frame = scale_speech(replace(tf.frame, t=t_idle), opts.expression_intensity)
        else:
            frame = neutral_frame(t_idle, scene.n_expr)
        idle = self._idle_for(opts)
        camera = self.camera_fn(opts.size)
        bg = (0.0, 0.0, 0.0) if opts.transparent else opts.background
        recorder = self.recorder
        if fresh and recorder is not None:
            self._hand_skipped(recorder, scene, opts, tf, t_idle, idle, camera, bg)
        if fresh:
            self._shown_capture = tf.t_capture
        if idle is not None:
            frame = idle.apply(frame, tf.energy if fresh else 0.0)
        params = frame_params(frame, opts.jaw_manual, opts.expr_manual)
        start = time.perf_counter()
        timings: dict[str, float] = {}
        image, alpha = scene.pipeline.render(_with_shape(params, opts), camera, bg,
                                             timings=timings)
        rgba = to_rgba(np.asarray(image), np.asarray(alpha), opts.transparent)
        self.render_ms = (time.perf_counter() - start) * 1000
        self._seq += 1
        ready = time.monotonic()
        stamps = None
        if fresh and tf.stamps is not None:
            stamps = replace(tf.stamps, render_start=now, ready=ready,
                             rig_bind_s=timings.get("rig+bind", 0.0))
        return RenderedFrame(rgba, tf.t_capture if fresh else None, ready, self.render_ms,
                             self._seq, stamps, params=params, t_started=now)
