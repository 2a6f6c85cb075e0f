"""Impulse test of a recording's A/V offset: a tone burst after silence and a jaw step at the
same instant, then the MP4 read back to see where each lands (`main.py bench av`, tests).

The motion is scripted, not predicted, so the measurement isolates what a recording path does
to time (capture stamps, queueing, display delay, the writer's timestamps, AAC priming and
edit lists); a model's own reaction time is a property of the model, identical offline and
live (the streaming engine reproduces `infer_offline`), and is not part of a recording's
offset. Both paths are measured the same way:
- `render`: `offline_render.render_clip` with a `--motion` file holding the step;
- the window's Record: a `LiveSession` fed by the paced file player in real time, its engine
  `StepEngine` (opens the jaw at the first frame at or after the burst it hears).
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from driver.audio import MOTION_FPS, SAMPLE_RATE
from driver.motion import MotionFrame
from splat.errors import UserInputError

JAW_OPEN = 0.3          # rad: a wide-open jaw, unmistakable in the mouth region
BURST_S = 0.4
ONSET_LEVEL = 0.25      # of the decoded peak: above AAC's pre-echo, far below the burst
MOUTH_BOX = (0.62, 0.95, 0.30, 0.70)  # rows, cols as fractions of a Face-view frame


@dataclass
class AvOffset:
    """Where the sound and the picture of the impulse start in a file, seconds."""

    audio_onset: float
    video_onset: float
    fps: float

    @property
    def offset(self) -> float:
        """Picture minus sound: > 0 when the mouth opens after the burst is heard."""
        return self.video_onset - self.audio_onset

    @property
    def frames(self) -> float:
        return self.offset * self.fps


def impulse_audio(onset_s: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    """Silence, then a 1 kHz burst of `BURST_S` from `onset_s` (16 kHz mono float32; cosine
    phase, so the first burst sample is already loud and the onset is exactly `onset_s`)."""
    audio = np.zeros(int(round(seconds * SAMPLE_RATE)), np.float32)
    i0 = int(round(onset_s * SAMPLE_RATE))
    n = min(int(BURST_S * SAMPLE_RATE), audio.size - i0)
    t = np.arange(n) / SAMPLE_RATE
    audio[i0:i0 + n] = amplitude * np.cos(2 * np.pi * 1000.0 * t)
    return audio


def write_step_motion(path: Path, onset_s: float, seconds: float, fps: float = MOTION_FPS) -> Path:
    """A `render --motion` file: jaw closed, then `JAW_OPEN` from the frame nearest `onset_s`
    (the step sampled on the frame grid: k / fps >= onset_s - half a frame)."""
    n = int(np.ceil(seconds * fps))
    jaw = np.zeros((n, 3), np.float32)
    jaw[np.arange(n) / fps >= onset_s - 0.5 / fps, 0] = JAW_OPEN
    np.savez(path, jaw_pose=jaw, fps=np.float32(fps))
    return path


class StepEngine:
    """A scripted `MotionEngine`: frame k (stream time k/30) opens the jaw from the frame
    nearest the burst's first sample above `threshold` (like `write_step_motion`), emitted
    `lookahead_ms` after its time like a real model. Its reaction is zero by construction."""

    def __init__(self, n_expr: int, lookahead_ms: float = 32.5, threshold: float = 0.1) -> None:
        self.n_expr, self.lookahead_ms, self.threshold = n_expr, lookahead_ms, threshold
        self.reset()

    def reset(self) -> None:
        self._origin: float | None = None
        self._received = 0
        self._onset: int | None = None   # sample index of the burst's first loud sample
        self._next = 0

    def push(self, block: np.ndarray, t0: float) -> list[MotionFrame]:
        if self._origin is None:
            self._origin = t0
        loud = np.flatnonzero(np.abs(block) > self.threshold)
        if self._onset is None and loud.size:
            self._onset = self._received + int(loud[0])
        self._received += len(block)
        frames = []
        ahead = self.lookahead_ms / 1000.0
        while (self._next / MOTION_FPS + ahead) * SAMPLE_RATE <= self._received:
            k = self._next
            is_open = self._onset is not None and \
                (k + 0.5) * SAMPLE_RATE / MOTION_FPS >= self._onset
            frames.append(MotionFrame(t=self._origin + k / MOTION_FPS,
                                      expr=np.zeros(self.n_expr, np.float32),
                                      jaw_pose=np.array([JAW_OPEN if is_open else 0.0, 0, 0],
                                                        np.float32)))
            self._next += 1
        return frames

    def flush(self) -> list[MotionFrame]:
        return []


def audio_onset(path: str | Path, level: float = ONSET_LEVEL) -> float:
    """Time (s, presentation clock) of the first decoded sample above `level` × the peak."""
    import av

    times, chunks = [], []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            x = frame.to_ndarray().reshape(-1)   # mono
            times.append(float(frame.time))
            chunks.append(x.astype(np.float32))
        rate = stream.rate
    peak = max(float(np.abs(c).max()) for c in chunks)
    for t, x in zip(times, chunks):
        hit = np.flatnonzero(np.abs(x) > level * peak)
        if hit.size:
            return t + hit[0] / rate
    raise UserInputError(f"{path}: no audio onset")


def video_onset(path: str | Path, box: tuple[float, float, float, float] = MOUTH_BOX) -> float:
    """Presentation time of the first frame whose mouth region differs from the first frame's
    by more than half the largest difference in the clip (the jaw step)."""
    import av

    times, diffs, first = [], [], None
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            img = frame.to_ndarray(format="rgb24").astype(np.float32)
            h, w = img.shape[:2]
            crop = img[int(box[0] * h):int(box[1] * h), int(box[2] * w):int(box[3] * w)]
            first = crop if first is None else first
            times.append(float(frame.time))
            diffs.append(float(np.abs(crop - first).mean()))
    d = np.array(diffs)
    if d.max() < 2.0:
        raise UserInputError(f"{path}: the mouth never opens (largest change {d.max():.2f}/255 "
                             "in the mouth region)")
    return times[int(np.flatnonzero(d > d.max() / 2)[0])]


def measure(path: str | Path, fps: float = MOTION_FPS) -> AvOffset:
    return AvOffset(audio_onset(path), video_onset(path), fps)


def offline_av(out: Path, size: int = 128, onset_s: float = 1.5, seconds: float = 3.0,
               backend: str = "auto", avatar: Path | None = None, fps: float = 30.0) -> AvOffset:
    """`render` of the impulse (motion file + audio) and its measured offset."""
    import soundfile as sf

    from avatar_app.offline_render import RenderJob, render_clip

    wav, motion = out.with_suffix(".wav"), out.with_suffix(".npz")
    sf.write(wav, impulse_audio(onset_s, seconds), SAMPLE_RATE)
    write_step_motion(motion, onset_s, seconds)
    render_clip(RenderJob(audio=wav, out=out, motion=motion, avatar=avatar, size=size, fps=fps,
                          backend=backend, idle=False, progress=False), say=lambda _m: None)
    return measure(out, fps)


@dataclass
class LiveAv:
    result: AvOffset
    frames: int     # pictures recorded live
    shown: int
    delay_s: float
    filled: int = 0     # skipped frames filled in after Record stopped
    fill_error: str = ""
    live_result: AvOffset | None = None   # the file before the fill (None: nothing skipped)


def live_av(out: Path, size: int = 128, onset_s: float = 1.5, seconds: float = 3.0,
            delay_s: float = 0.0, backend: str = "auto", avatar: str | None = None,
            scene=None, max_fps: float = 60.0) -> LiveAv:
    """The window's Record on the impulse: paced file source → `StepEngine` → render worker
    (display delay `delay_s`, at most `max_fps` renders a second: below 30 it plays a slow
    renderer) → Recorder, consumed at 60 Hz like the GUI; then the fill of the frames the
    renderer skipped, and the measured offset of the final file. `scene` replaces the avatar
    (a test's own renderer)."""
    import soundfile as sf

    from avatar_app.audio_out import FilePlayer
    from avatar_app.gui.orbit import OrbitView
    from avatar_app.live_loading import load_scene
    from avatar_app.live_session import LiveSession
    from splat.assets_paths import default_avatar

    wav = out.with_suffix(".wav")
    sf.write(wav, impulse_audio(onset_s, seconds), SAMPLE_RATE)
    if scene is None:
        scene = load_scene(avatar or default_avatar(), None, backend)
    view = OrbitView()
    view.aim(*scene.pipeline.framing("face"))
    session = LiveSession(view.camera, lambda _o: None, max_fps=max_fps)   # no idle motion
    session.set_options(size=size, delay_s=delay_s)
    session.set_scene(scene)
    session.set_engine(StepEngine(scene.n_expr))
    player = FilePlayer(wav, speakers=False)
    shown = 0
    try:
        session.start_recording(str(out))
        player.start()
        session.start_source(player)
        end = time.monotonic() + seconds + 5.0
        while not player.finished and time.monotonic() < end:
            frame = session.take_frame()
            if frame is not None:
                session.mark_shown(frame, time.monotonic())
                shown += 1
            time.sleep(1 / 60)
        time.sleep(delay_s + 0.2)   # the last motion reaches the recorder
        recorder = session.recorder
        frames = recorder.frames if recorder is not None else 0
        session.stop_recording(fill=False)
        fill = recorder.fill if recorder is not None else None
        live_only = None
        if fill is not None:   # the file as recorded live, kept beside the filled one
            live_only = out.with_name(f"{out.stem}.live{out.suffix}")
            shutil.copyfile(out, live_only)
            session.renderer.add_fill(fill)
            session.wait_for_fills(60.0)
    finally:
        session.close()
    filled = fill.filled if fill is not None and fill.done and not fill.error else 0
    return LiveAv(measure(out), frames, shown, delay_s, filled, fill.error if fill else "",
                  measure(live_only) if live_only is not None else None)
