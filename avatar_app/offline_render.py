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
from driver.audio import MOTION_FPS
from driver.idle import IdleMotion, rms_energy
from driver.motion import MotionFrame
from splat.assets_paths import default_avatar
from splat.errors import UserInputError
from splat.rig import POSE_PARAM_SIZES

MOTION_KEYS = ("expr", *POSE_PARAM_SIZES)


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


def load_motion_file(path: Path, n_expr: int) -> tuple[list[MotionFrame], float]:
    """A .npz of per-frame rig parameters (T,...) named like flame_param.npz, plus optional
    `fps` (default 30) -> frames and their rate. Missing keys are zeros.

    Schema checked field by field: a scalar fps in range, at least one frame, one frame count,
    each array's width, and every value finite and plausible (a NaN frame renders blank).
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = {k: np.asarray(z[k]) for k in z.files}
    except Exception as exc:  # zip/format/OS errors all mean "not a motion file"
        raise UserInputError(f"{path}: not a readable motion .npz ({exc})") from None
    non_numeric = sorted(k for k, v in raw.items() if v.dtype.kind not in "fiu")
    if non_numeric:
        raise UserInputError(f"{path}: {', '.join(non_numeric)} must be numeric arrays")
    data = {k: v.astype(np.float32) for k, v in raw.items()}
    fps_value = data.pop("fps", np.float32(MOTION_FPS))
    if fps_value.size != 1:
        raise UserInputError(f"{path}: fps must be one number, got shape {fps_value.shape}")
    fps = float(fps_value.reshape(()))
    if not math.isfinite(fps) or not FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
        raise UserInputError(f"{path}: fps must be from {FPS_RANGE[0]:g} to {FPS_RANGE[1]:g}, "
                             f"got {fps:g}")
    unknown = set(data) - set(MOTION_KEYS)
    if unknown:
        raise UserInputError(f"{path}: unknown motion keys {sorted(unknown)}; "
                             f"use {', '.join(MOTION_KEYS)} (+ fps)")
    if not data:
        raise UserInputError(f"{path}: no motion arrays (expected some of "
                             f"{', '.join(MOTION_KEYS)})")
    flat = sorted(k for k, v in data.items() if v.ndim != 2)
    if flat:
        raise UserInputError(f"{path}: {', '.join(flat)} must be (frames, values) arrays")
    lengths = {v.shape[0] for v in data.values()}
    if len(lengths) != 1:
        raise UserInputError(f"{path}: motion arrays have different frame counts "
                             f"{ {k: v.shape[0] for k, v in data.items()} }")
    T = lengths.pop()
    if T == 0:
        raise UserInputError(f"{path}: the motion has no frames")
    for k, v in data.items():
        if k != "expr" and v.shape[1] != POSE_PARAM_SIZES[k]:
            raise UserInputError(f"{path}: {k} needs {POSE_PARAM_SIZES[k]} values per frame, "
                                 f"has {v.shape[1]}")
        if not np.isfinite(v).all():
            bad = int(np.flatnonzero(~np.isfinite(v).all(axis=1))[0])
            raise UserInputError(f"{path}: {k} holds NaN or infinite values (first at frame {bad})")
    _check_motion_ranges(path, data)
    expr = data.pop("expr", np.zeros((T, 0), np.float32))
    if expr.shape[1] > n_expr:
        raise UserInputError(f"{path}: expr has {expr.shape[1]} values, the rig has {n_expr}")
    expr = np.pad(expr, ((0, 0), (0, n_expr - expr.shape[1])))
    frames = [MotionFrame(t=i / fps, expr=expr[i], **{k: v[i] for k, v in data.items()})
              for i in range(T)]
    return frames, fps


def _check_motion_ranges(path: Path, data: dict[str, np.ndarray]) -> None:
    """Values no face makes: the rig's shared limits for jaw, rotations and expressions."""
    from splat.rig import JAW_OPEN_RANGE_RAD, MAX_EXPR_COEFF, MAX_POSE_RAD

    def refuse(what: str, lo: float, hi: float, values: np.ndarray) -> None:
        outside = (values < lo) | (values > hi)                     # values: (frames, n)
        if outside.any():
            frame = int(np.flatnonzero(outside.any(axis=1))[0])
            raise UserInputError(f"{path}: {what} must stay within {lo:g}..{hi:g}; frame "
                                 f"{frame} has {float(values[frame][outside[frame]][0]):g}")

    if "expr" in data:
        refuse("expr", -MAX_EXPR_COEFF, MAX_EXPR_COEFF, data["expr"])
    if "jaw_pose" in data:
        refuse("jaw_pose[:, 0] (jaw opening, radians)", *JAW_OPEN_RANGE_RAD,
               data["jaw_pose"][:, :1])
    for key in ("rotation", "neck_pose", "jaw_pose", "eyes_pose"):
        if key in data:
            refuse(f"{key} (radians)", -MAX_POSE_RAD, MAX_POSE_RAD, data[key])


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
        motion, motion_fps = load_motion_file(job.motion, rigs.rig.n_expr)
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
            params = next(frames).params()
            image, alpha = pipeline.render(params, camera, job.background)
            pipeline.check_visible(alpha, params, f"frame {k} (t={t:.2f} s)")
            writer.write_frame(image, t)
            done = k + 1
    return RenderResult(frames=done, duration_s=duration if interrupted_by is None
                        else done / job.fps, elapsed_s=time.perf_counter() - start,
                        motion_source=source, backend=pipeline.backend,
                        interrupted_by=interrupted_by)
