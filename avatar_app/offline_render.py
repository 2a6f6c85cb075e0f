"""Offline rendering: audio file -> motion -> frames -> a video with the same audio muxed in
(MP4, or with `--transparent` an alpha video: see avatar_app.video_out).

Motion comes from a regressor checkpoint (the same `infer_offline` the streaming engine
reproduces) or from a `--motion` file of rig parameters (a scripted performance, or motion from
another tool: driver.motion_files), and `--save-motion` writes what each frame showed.
The sound track keeps the source's rate and channels; the model hears 16 kHz mono. Motion is
produced at the model's 30 fps and sampled (linear interpolation) at the video frame times, so
any `--fps` works; idle motion (blinks, gaze, sway, speech-following head motion) is layered on
per video frame.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Iterator

import numpy as np

from avatar_app.option_checks import FPS_RANGE, check_range, check_view_options
from avatar_app.output_paths import check_output_file
from avatar_app.stop_signals import StopRequest
from driver.idle import IdleMotion, rms_energy
from driver.motion import MotionFrame
from driver.motion_files import MOTION_SUFFIXES, read_motion, write_motion
from splat.assets_paths import default_avatar, is_embedded_avatar
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
    size: int = 512               # width in pixels
    height: int | None = None     # None: square
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
    transparent: bool = False     # alpha video (.mov ProRes 4444, .webm VP9, PNG folder)
    light: str | None = None      # `--light`: AZ,EL[,R,G,B] or "off" (relightable avatars)


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


def sound_track(samples: np.ndarray, rate: int, out: Path,
                say: Callable[[str], None] = print) -> tuple[np.ndarray, int]:
    """The source's sound as the output stores it: its own channels (a mono (n,) file as one)
    and rate, unless the format cannot store that rate (AAC and Opus store a fixed set: the
    nearest one above, with a line saying so) or more than 8 channels (mixed to stereo)."""
    from avatar_app.mp4_writer import AUDIO_LAYOUTS
    from avatar_app.video_out import audio_rate_for

    x = np.asarray(samples, np.float32)
    x = x[:, None] if x.ndim == 1 else x
    if x.shape[1] > max(AUDIO_LAYOUTS):
        say(f"the audio has {x.shape[1]} channels; the file gets a stereo mix of them")
        x = np.stack([x[:, 0::2].mean(axis=1), x[:, 1::2].mean(axis=1)], axis=1)
    stored = audio_rate_for(out, int(rate))
    if stored != rate:
        from scipy.signal import resample_poly

        say(f"the audio is {rate} Hz; {Path(out).suffix or 'the folder'} stores it at "
            f"{stored} Hz")
        g = math.gcd(int(rate), stored)
        x = resample_poly(x, stored // g, int(rate) // g, axis=0).astype(np.float32)
    return np.ascontiguousarray(x), stored


def render_clip(job: RenderJob, say: Callable[[str], None] = print,
                stop: StopRequest | None = None) -> RenderResult:
    """Do the whole render; raises UserInputError on bad input, Mp4WriteError when the file
    cannot be written to the end (what was written is kept playable).

    `stop` (installed by the caller with `stop_signals`): a stop signal before the first frame
    raises `Interrupted`; once frames are being written it ends the loop between two frames,
    the file is finalised and the result says how far it got (`interrupted_by`).
    """
    from tqdm import tqdm

    from avatar_app.vad import gate_clip, make_gate
    from avatar_app.video_out import check_video_path, open_video_writer, rgba_straight
    from driver.audio import SAMPLE_RATE, read_audio_source, to_mono_16k
    from driver.devices import resolve_device
    from driver.motion_source import file_motion_rigs, open_motion
    from splat.cameras import orbit_camera
    from splat.pipeline import AvatarPipeline
    from splat.relight import parse_light_option

    width, height = job.size, job.height or job.size
    check_view_options(width, job.yaw, job.pitch, job.distance, height)
    light = parse_light_option(job.light)
    check_range("--fps", job.fps, *FPS_RANGE)
    check_video_path(job.out, job.transparent)
    if job.save_motion is not None:
        check_output_file(job.save_motion, MOTION_SUFFIXES, option="--save-motion")
    avatar_dir = job.avatar or default_avatar()
    gate = make_gate(job.gate)
    device = resolve_device(job.device)
    start = time.perf_counter()
    source_sound, source_rate = read_audio_source(job.audio)
    audio = to_mono_16k(source_sound, source_rate, name=str(job.audio))   # what the model hears
    duration = audio.size / SAMPLE_RATE
    sound, rate = sound_track(source_sound, source_rate, job.out, say)   # what the file keeps
    # What moves the avatar (model input and speech energy) is the gated audio, as live; the
    # file's sound track stays the original.
    driving = audio if gate is None else gate_clip(gate, audio)
    pipeline = AvatarPipeline.open(avatar_dir, job.flame, backend=job.backend, device=device)
    if light is not None:
        pipeline.set_light(None if light == "off" else light)
    rig_data = pipeline.rig_data
    if rig_data is None:
        raise UserInputError(f"{avatar_dir} is a plain 3DGS scene without a rig; render needs "
                             "a rigged avatar")
    # An embedded head is retargeted as the window does (the native ARKit map for the human
    # head); any other foreign rig needs the user's --retarget.
    retarget = "explicit" if job.retarget else "auto" if is_embedded_avatar(avatar_dir) else "off"
    if job.motion is not None:
        rigs = file_motion_rigs(job.checkpoint, rig_data, retarget, job.source_rig, say)
        motion, motion_fps = read_motion(job.motion, rigs.rig.expr_names, say)
        source = rigs.describe(f"motion file {job.motion}")
    else:
        opened = open_motion(job.checkpoint, rig_data, retarget=retarget,
                             source_rig=job.source_rig, device=device, untrained_ok=True, say=say)
        rigs, motion, motion_fps, source = opened.rigs, opened.infer(driving), opened.fps, opened.label
    target, distance = pipeline.framing("face", width, height)
    camera = orbit_camera(job.yaw, job.pitch, job.distance or distance, target, width=width,
                          height=height)
    # Transparent: composite over black (premultiplied colour), then divide by alpha.
    background = (0.0, 0.0, 0.0) if job.transparent else job.background
    # Idle motion is layered in the motion's own rig, so blinks reach a retargeted avatar too.
    idle = IdleMotion(seed=job.seed, expr_names=rigs.rig.expr_names) if job.idle else None

    n_frames = math.ceil(duration * job.fps - 1e-9)
    frames = clip_frames(motion, motion_fps, driving, job.fps, n_frames, idle, rigs.to_avatar)
    if stop is not None:
        stop.raise_now = False   # from here on a signal ends the loop between two frames
    done, interrupted_by = 0, None
    rendered: list[MotionFrame] = []   # what each video frame showed, for --save-motion
    with open_video_writer(job.out, width, height, job.fps, rate, sound.shape[1],
                           alpha=job.transparent) as writer:
        written = 0
        for k in tqdm(range(n_frames), desc="render", unit="frame", disable=not job.progress):
            if stop is not None and stop.signum is not None:
                interrupted_by = stop.signum
                break
            t = k / job.fps
            # Audio up to the end of this frame, so the file's packets stay interleaved.
            upto = len(sound) if k == n_frames - 1 else round((k + 1) / job.fps * rate)
            writer.write_audio(sound[written:upto], written / rate)
            written = upto
            shown = next(frames)
            rendered.append(shown)
            params = shown.params()
            image, alpha = pipeline.render(params, camera, background)
            pipeline.check_visible(alpha, params, f"frame {k} (t={t:.2f} s)")
            writer.write_frame(rgba_straight(image, alpha) if job.transparent else image, t)
            done = k + 1
    if job.save_motion is not None and rendered:
        write_motion(job.save_motion, rendered, rig_data.expr_names, fps=job.fps,
                     rig_id=rig_data.rig_id)
    return RenderResult(frames=done, duration_s=duration if interrupted_by is None
                        else done / job.fps, elapsed_s=time.perf_counter() - start,
                        motion_source=source, backend=pipeline.backend,
                        interrupted_by=interrupted_by)
