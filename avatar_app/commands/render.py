"""`python main.py render`: an avatar speaking an audio file, as an MP4 with that audio muxed in."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from avatar_app.commands.still import parse_background, parse_size
from avatar_app.vad import GATE_MODES
from driver.devices import DEVICE_HELP
from splat.errors import UserInputError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `render` parser; its func does the work in avatar_app.offline_render."""
    p = subparsers.add_parser(
        "render", help="Render an avatar speaking an audio file to an MP4 with the audio muxed in.",
        description="Audio file -> Learn2Talk motion (+ idle motion) -> rendered frames -> "
                    "H.264 + AAC MP4. Default: the embedded avatar and model.")
    p.add_argument("--audio", required=True, type=Path,
                   help="speech file (wav, flac, ogg, mp3, m4a...; any rate, any channels)")
    p.add_argument("--out", required=True, type=Path,
                   help="MP4 file to write; with --transparent a .mov (ProRes 4444), .webm "
                        "(VP9) or a folder (RGBA PNG frames + audio.wav)")
    p.add_argument("--avatar", type=Path,
                   help="avatar folder or .ply (default: assets/default_avatar)")
    p.add_argument("--flame", type=Path, help="FLAME pickle for avatars without their own rig.npz")
    p.add_argument("--checkpoint", type=Path,
                   help="regressor checkpoint folder (default: assets/default_model)")
    p.add_argument("--motion", type=Path,
                   help="render these rig parameters instead of running a model: .npz with "
                        "(frames, n) arrays expr/jaw_pose/neck_pose/rotation/eyes_pose/"
                        "translation and optional fps (default 30), or a .csv/.json of curves "
                        "with a time column (ARKit-52 names; see --save-motion)")
    p.add_argument("--save-motion", type=Path, metavar="PATH",
                   help="also write the motion each frame shows (after idle motion and "
                        "retargeting, in the avatar's rig): .npz (flame_param layout), .csv or "
                        ".json (time + ARKit-52 named curves + head pose); replay it with "
                        "--motion PATH --no-idle")
    p.add_argument("--retarget", action="store_true",
                   help="drive an avatar on another rig (e.g. FLAME) with a checkpoint trained for "
                        "a different one: motion is mapped through a fitted expression "
                        "retargeting matrix (cached under ~/.cache/talking-splat)")
    p.add_argument("--source-rig", type=Path,
                   help="with --retarget: the rig file (.npz/.pkl) the checkpoint or --motion "
                        "uses (default: the checkpoint's rig, e.g. assets/default_avatar/rig.npz)")
    p.add_argument("--size", type=parse_size, default=(512, 512), metavar="W[xH]",
                   help="video size in pixels: 512 (square) or 1280x720 (default 512)")
    p.add_argument("--transparent", action="store_true",
                   help="a video with an alpha channel (straight alpha: the avatar's coverage) "
                        "that editors import: --out clip.mov (ProRes 4444 + PCM), clip.webm "
                        "(VP9 + Opus) or a folder; --background is then ignored")
    p.add_argument("--fps", type=float, default=30.0, help="video frame rate (default 30)")
    p.add_argument("--backend", default="auto", choices=["auto", "cpu", "gsplat"],
                   help="renderer (default: gsplat with CUDA, else cpu)")
    p.add_argument("--device", default="auto", help=f"where the motion model runs: {DEVICE_HELP}")
    p.add_argument("--background", default="1,1,1", metavar="R,G,B",
                   help="background colour in 0..1 (default white)")
    p.add_argument("--yaw", type=float, default=0.0, help="camera yaw in degrees")
    p.add_argument("--pitch", type=float, default=0.0, help="camera pitch in degrees")
    p.add_argument("--distance", type=float, help="camera distance in metres (default: framed)")
    p.add_argument("--gate", default="off", choices=GATE_MODES,
                   help="the live window's input gate on the audio the model hears: noise (a "
                        "level gate at -45 dBFS) or voice (silero VAD); closed stretches are "
                        "silence to the model, the file keeps the original sound (default off)")
    p.add_argument("--no-idle", action="store_true",
                   help="no blinks, gaze shifts or head motion: only the driven motion")
    p.add_argument("--seed", type=int, default=0, help="seed of the idle motion (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--light", metavar="AZ,EL",
                   help="light direction in degrees for relightable avatars (the embedded human "
                        "head), e.g. -30,30 (the default); AZ,EL,R,G,B adds a colour; 'off' shows "
                        "the baked colours")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.source_rig is not None and not args.retarget:
        raise UserInputError("--source-rig only makes sense with --retarget")
    from avatar_app.offline_render import RenderJob, render_clip
    from avatar_app.stop_signals import Interrupted, StopRequest, signal_name, stop_signals

    job = RenderJob(audio=args.audio, out=args.out, avatar=args.avatar, flame=args.flame,
                    checkpoint=args.checkpoint, motion=args.motion, size=args.size[0],
                    height=args.size[1], transparent=args.transparent,
                    fps=args.fps, backend=args.backend, device=args.device,
                    background=parse_background(args.background), yaw=args.yaw,
                    pitch=args.pitch, distance=args.distance, idle=not args.no_idle,
                    seed=args.seed, progress=not args.quiet, retarget=args.retarget,
                    source_rig=args.source_rig, gate=args.gate, save_motion=args.save_motion,
                    light=args.light)
    try:
        with stop_signals(StopRequest()) as stop:
            result = render_clip(job, stop=stop)
    except Interrupted as exc:   # before the first frame: no file was started
        print(f"interrupted by {signal_name(exc.signum)} before any frame was written",
              file=sys.stderr)
        return exc.exit_code
    if result.interrupted_by is not None:
        print(f"interrupted by {signal_name(result.interrupted_by)}: kept {args.out}, "
              f"{result.frames} frames ({result.duration_s:.2f} s), a valid partial file",
              file=sys.stderr)
        return 128 + result.interrupted_by
    if args.save_motion is not None:
        print(f"wrote {args.save_motion}: the motion of those frames")
    print(f"wrote {args.out}: {result.frames} frames, {result.duration_s:.2f} s of audio, "
          f"motion from {result.motion_source}, {result.backend} backend, "
          f"{result.elapsed_s:.1f} s (real-time factor {result.real_time_factor:.2f})")
    return 0
