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
from typing import Callable

import numpy as np

from avatar_app.option_checks import FPS_RANGE, check_range, check_view_options
from avatar_app.output_paths import VIDEO_SUFFIXES, check_output_file
from avatar_app.stop_signals import StopRequest
from driver.audio import MOTION_FPS
from driver.motion import MotionFrame
from splat.assets_paths import DEFAULT_MODEL, DEFAULT_RIG, default_avatar
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


def model_motion(job: RenderJob, audio: np.ndarray, rig_data, say: Callable[[str], None]
                 ) -> tuple[list[MotionFrame], float, str]:
    """Run the checkpoint (or an untrained model when none exists) over the clip."""
    from driver.checkpoint import load_checkpoint
    from driver.devices import resolve_device
    from driver.model import Learn2TalkRegressor, RegressorConfig
    from driver.streaming import infer_offline

    folder = job.checkpoint or DEFAULT_MODEL
    if (folder / "config.json").is_file():
        refuse_foreign_rig(folder, rig_data)
    if job.checkpoint is None and not (folder / "config.json").is_file():
        say(f"no checkpoint at {folder} (run `python main.py train`): using an UNTRAINED model, "
            "the mouth will stay at rest")
        config = RegressorConfig(outputs=[("expr", rig_data.n_expr), ("jaw_pose", 3)])
        model, source = Learn2TalkRegressor(config), "untrained model"
    else:
        model, info = load_checkpoint(folder, rig=rig_data)
        source = f"checkpoint {folder}"
        if not info.trained:
            say(f"checkpoint {folder} is UNTRAINED: the motion is not lip-sync")
            source += " (untrained)"
    frames = infer_offline(model, audio, rig=rig_data, device=resolve_device(job.device))
    return frames, model.config.fps, source


def refuse_foreign_rig(folder: Path, rig_data) -> None:
    """The checkpoint's rig check, with the way out (`--retarget`) in its message."""
    from driver.checkpoint import read_checkpoint_info

    _, info = read_checkpoint_info(folder)
    if info.rig_topology != rig_data.topology_digest():
        raise UserInputError(
            f"checkpoint {folder} was trained for rig {info.rig_id!r} ({info.rig_topology}) but "
            f"the avatar's rig is {rig_data.rig_id!r} ({rig_data.topology_digest()}); pass "
            "--retarget to map its motion onto this rig, or use a checkpoint trained for it")


def source_rig(job: RenderJob):
    """The rig the motion is expressed in: `--source-rig`, else the checkpoint's own rig (found
    beside it or as the default avatar's), else the default rig the untrained fallback uses."""
    from driver.checkpoint import read_checkpoint_info
    from driver.retarget import find_source_rig
    from splat.rig import load_rig_data

    folder = job.checkpoint or DEFAULT_MODEL
    has_checkpoint = (folder / "config.json").is_file()
    if job.source_rig is not None:
        rig = load_rig_data(job.source_rig)
        if has_checkpoint and job.motion is None:
            _, info = read_checkpoint_info(folder)
            if rig.topology_digest() != info.rig_topology:
                raise UserInputError(f"--source-rig {job.source_rig} is rig {rig.rig_id!r} "
                                     f"({rig.topology_digest()}), but checkpoint {folder} was "
                                     f"trained for {info.rig_id!r} ({info.rig_topology})")
        return rig
    if has_checkpoint:
        _, info = read_checkpoint_info(folder)
        return find_source_rig(info.rig_id, info.rig_topology,
                               [folder / "rig.npz", DEFAULT_RIG])
    return load_rig_data(DEFAULT_RIG)


def build_retargeter(job: RenderJob, rig_data, say: Callable[[str], None]):
    """A Retargeter from the motion's rig to the avatar's, or None when they are the same."""
    from driver.retarget import Retargeter

    source = source_rig(job)
    if source.topology_digest() == rig_data.topology_digest():
        say(f"--retarget: the avatar already uses rig {source.rig_id!r}; nothing to retarget")
        return None
    retargeter = Retargeter(source, rig_data)
    say(retargeter.summary())
    return retargeter


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
    from driver.audio import SAMPLE_RATE, load_audio
    from driver.idle import IdleMotion, rms_energy
    from splat.avatar import load_avatar, resolve_avatar_rig
    from splat.cameras import orbit_camera, preset_view
    from driver.devices import resolve_device
    from splat.pipeline import AvatarPipeline
    from splat.render import resolve_backend

    check_view_options(job.size, job.yaw, job.pitch, job.distance)
    check_range("--fps", job.fps, *FPS_RANGE)
    check_output_file(job.out, VIDEO_SUFFIXES)
    avatar_dir = job.avatar or default_avatar()
    start = time.perf_counter()
    audio = load_audio(job.audio)
    duration = audio.size / SAMPLE_RATE
    avatar = load_avatar(avatar_dir)
    rig_data = resolve_avatar_rig(avatar_dir, job.flame, avatar=avatar)
    if rig_data is None:
        raise UserInputError(f"{avatar_dir} is a plain 3DGS scene without a rig; render needs "
                             "a rigged avatar")
    retargeter = build_retargeter(job, rig_data, say) if job.retarget else None
    motion_rig = retargeter.source if retargeter is not None else rig_data
    if job.motion is not None:
        motion, motion_fps = load_motion_file(job.motion, motion_rig.n_expr)
        source = f"motion file {job.motion}"
    else:
        motion, motion_fps, source = model_motion(job, audio, motion_rig, say)
    if retargeter is not None:
        source += f" retargeted from rig {motion_rig.rig_id!r}"
    backend = resolve_backend(job.backend)
    device = resolve_device(job.device)
    pipeline = AvatarPipeline(avatar, rig_data, backend=backend,
                              device=device if backend == "gsplat" and device.type == "cuda" else None)
    target, distance = preset_view(pipeline.framing_points({}), "face", job.size)
    camera = orbit_camera(job.yaw, job.pitch, job.distance or distance, target, width=job.size)
    # Idle motion is layered in the motion's own rig, so blinks reach a retargeted avatar too.
    idle = IdleMotion(seed=job.seed, expr_names=motion_rig.expr_names) if job.idle else None

    n_frames = math.ceil(duration * job.fps - 1e-9)
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
            frame = sample_motion(motion, motion_fps, t)
            if idle is not None:
                frame = idle.apply(frame, rms_energy(audio, t))
            if retargeter is not None:
                frame = retargeter.apply(frame)
            params = frame.params()
            image, alpha = pipeline.render(params, camera, job.background)
            pipeline.check_visible(alpha, params, f"frame {k} (t={t:.2f} s)")
            writer.write_frame(image, t)
            done = k + 1
    return RenderResult(frames=done, duration_s=duration if interrupted_by is None
                        else done / job.fps, elapsed_s=time.perf_counter() - start,
                        motion_source=source, backend=pipeline.backend,
                        interrupted_by=interrupted_by)
