"""Offline rendering: audio file -> motion -> frames -> MP4 with the same audio muxed in.

Motion comes from a regressor checkpoint (the same `infer_offline` the streaming engine
reproduces) or from a `--motion` .npz of rig parameters (a scripted performance, or motion from
another tool). Motion is produced at the model's 30 fps and sampled (linear interpolation) at the
video frame times, so any `--fps` works; idle motion (blinks, gaze, sway, speech-following head
motion) is layered on per video frame.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Iterator

import numpy as np

from avatar_app.option_checks import FPS_RANGE, check_range, check_view_options
from avatar_app.output_paths import VIDEO_SUFFIXES, check_output_file
from avatar_app.stop_signals import StopRequest
from driver.idle import IdleMotion, rms_energy
from driver.motion import MotionFrame
from driver.motion_files import MOTION_SUFFIXES, read_motion, write_motion
from splat.assets_paths import default_avatar
from splat.errors import UserInputError


@dataclass
class RenderJob:
    """What to render; mirrors the `render` command's options."""

    audio: Path
    out: Path
    avatar: Path | None = None
    flame: Path | None = None
    checkpoint: Path | None = None
    motion: Path | None = None
    size: int = 512
    fps: float = 30.0
    backend: str = "auto"
    device: str = "auto"          # the regressor's device (and gsplat's, when it is a GPU)
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    yaw: float = 0.0
    pitch: float = 0.0
    distance: float | None = None
    idle: bool = True
    seed: int = 0
    progress: bool = True
    retarget: bool = False
    source_rig: Path | None = None
    gate: str = "off"             # the live window's gate (avatar_app.vad) on the model's input
    save_motion: Path | None = None   # also write the rendered motion (.npz/.csv/.json)


@dataclass
class RenderResult:
    frames: int
    duration_s: float
    elapsed_s: float
    motion_source: str
    backend: str
    interrupted_by: int | None = None   # the stop signal that ended the render early

    @property
    def real_time_factor(self) -> float:
        """Seconds of compute per second of video (< 1 = faster than real time)."""
        return self.elapsed_s / self.duration_s


def sample_motion(frames: list[MotionFrame], fps: float, t: float) -> MotionFrame:
    """Linear interpolation of a regular motion sequence at time t (held at the ends)."""
    x = min(max(t * fps, 0.0), len(frames) - 1)
    i = int(math.floor(x))
    j, w = min(i + 1, len(frames) - 1), x - i
    a, b = frames[i].params(), frames[j].params()
    return MotionFrame(t=t, **{k: (1 - w) * a[k] + w * b[k] for k in a})


def clip_frames(motion: list[MotionFrame], motion_fps: float, driving: np.ndarray, fps: float,
                n_frames: int, idle: IdleMotion | None,
                to_avatar: Callable[[MotionFrame], MotionFrame]) -> Iterator[MotionFrame]:
    """The avatar's rig parameters at each video frame: the motion sampled at the frame time,
    idle motion layered with the speech energy of the `driving` audio (`rms_energy`, the
    value the live window computes per frame), then mapped onto the avatar's rig."""
    for k in range(n_frames):
        t = k / fps
        frame = sample_motion(motion, motion_fps, t)
        if idle is not None:
            frame = idle.apply(frame, rms_energy(driving, t))
        yield to_avatar(frame)


def render_clip(job: RenderJob, say: Callable[[str], None] = print,
                stop: StopRequest | None = None) -> RenderResult:
    """Do the whole render; raises UserInputError on bad input, Mp4WriteError when the file
    cannot be written to the end (what was written is kept playable).

    `stop` (installed by the caller with `stop_signals`): a stop signal before the first frame
    raises `Interrupted`; once frames are being written it ends the loop between two frames,
    the file is finalised and the result says how far it got (`interrupted_by`).
    """
    from tqdm import tqdm

    from avatar_app.mp4_writer import Mp4Writer
    from avatar_app.vad import gate_clip, make_gate
    from driver.audio import SAMPLE_RATE, load_audio
    from driver.devices import resolve_device
    from driver.motion_source import file_motion_rigs, open_motion
    from splat.cameras import orbit_camera
    from splat.pipeline import AvatarPipeline

    check_view_options(job.size, job.yaw, job.pitch, job.distance)
    check_range("--fps", job.fps, *FPS_RANGE)
    check_output_file(job.out, VIDEO_SUFFIXES)
    if job.save_motion is not None:
        check_output_file(job.save_motion, MOTION_SUFFIXES, option="--save-motion")
    avatar_dir = job.avatar or default_avatar()
    gate = make_gate(job.gate)
    device = resolve_device(job.device)
    start = time.perf_counter()
    audio = load_audio(job.audio)
    duration = audio.size / SAMPLE_RATE
    # What moves the avatar (model input and speech energy) is the gated audio, as live; the
    # file's sound track stays the original.
    driving = audio if gate is None else gate_clip(gate, audio)
    pipeline = AvatarPipeline.open(avatar_dir, job.flame, backend=job.backend, device=device)
    rig_data = pipeline.rig_data
    if rig_data is None:
        raise UserInputError(f"{avatar_dir} is a plain 3DGS scene without a rig; render needs "
                             "a rigged avatar")
    retarget = "explicit" if job.retarget else "off"
    if job.motion is not None:
        rigs = file_motion_rigs(job.checkpoint, rig_data, retarget, job.source_rig, say)
        motion, motion_fps = read_motion(job.motion, rigs.rig.expr_names, say)
        source = rigs.describe(f"motion file {job.motion}")
    else:
        opened = open_motion(job.checkpoint, rig_data, retarget=retarget,
                             source_rig=job.source_rig, device=device, untrained_ok=True, say=say)
        rigs, motion, motion_fps, source = opened.rigs, opened.infer(driving), opened.fps, opened.label
    target, distance = pipeline.framing("face")
    camera = orbit_camera(job.yaw, job.pitch, job.distance or distance, target, width=job.size)
    # Idle motion is layered in the motion's own rig, so blinks reach a retargeted avatar too.
    idle = IdleMotion(seed=job.seed, expr_names=rigs.rig.expr_names) if job.idle else None

    n_frames = math.ceil(duration * job.fps - 1e-9)
    frames = clip_frames(motion, motion_fps, driving, job.fps, n_frames, idle, rigs.to_avatar)
    if stop is not None:
        stop.raise_now = False   # from here on a signal ends the loop between two frames
    done, interrupted_by = 0, None
    rendered: list[MotionFrame] = []   # what each video frame showed, for --save-motion
    with Mp4Writer(job.out, job.size, job.size, job.fps, SAMPLE_RATE) as writer:
        written = 0
        for k in tqdm(range(n_frames), desc="render", unit="frame", disable=not job.progress):
            if stop is not None and stop.signum is not None:
                interrupted_by = stop.signum
                break
            t = k / job.fps
            # Audio up to the end of this frame, so the file's packets stay interleaved.
            upto = audio.size if k == n_frames - 1 else round((k + 1) / job.fps * SAMPLE_RATE)
            writer.write_audio(audio[written:upto], written / SAMPLE_RATE)
            written = upto
            shown = next(frames)
            rendered.append(shown)
            params = shown.params()
            image, alpha = pipeline.render(params, camera, job.background)
            pipeline.check_visible(alpha, params, f"frame {k} (t={t:.2f} s)")
            writer.write_frame(image, t)
            done = k + 1
    if job.save_motion is not None and rendered:
        write_motion(job.save_motion, rendered, rig_data.expr_names, fps=job.fps,
                     rig_id=rig_data.rig_id)
    return RenderResult(frames=done, duration_s=duration if interrupted_by is None
                        else done / job.fps, elapsed_s=time.perf_counter() - start,
                        motion_source=source, backend=pipeline.backend,
                        interrupted_by=interrupted_by)
