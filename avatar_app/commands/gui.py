"""`python main.py gui` (also plain `python main.py`): the live window."""
from __future__ import annotations

import argparse
import sys

from avatar_app.environment_report import display_available
from driver.devices import DEVICE_HELP

NO_DISPLAY = ("no display available for the window; for headless use render offline with "
              "`python main.py render --audio in.wav --out clip.mp4`")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("gui", help="Open the live window (default when no command is given).",
                              description="Open the live window: the avatar speaks with the microphone.")
    p.add_argument("--avatar", help="avatar folder (default: the embedded default avatar)")
    p.add_argument("--flame", help="FLAME model .pkl for avatars without their own rig")
    p.add_argument("--checkpoint", help="regressor checkpoint folder (default: the embedded model)")
    p.add_argument("--backend", choices=["auto", "cpu", "gsplat"], help="renderer backend")
    p.add_argument("--device", default="auto",
                   help=f"where the speech-to-motion model runs: {DEVICE_HELP}")
    p.add_argument("--size", type=int, help="render resolution in pixels (square)")
    p.add_argument("--script", help="JSON list of scripted steps (tests, screenshots)")
    p.add_argument("--screenshot", help="save a window screenshot PNG once the avatar shows, then quit")
    p.add_argument("--window", default="1280x720",
                   help="window size WxH (the default fits a 1366x768 screen)")
    p.add_argument("--virtual-camera", action="store_true",
                   help="also send the view to an OS virtual camera (needs pyvirtualcam + "
                        "v4l2loopback on Linux, OBS Virtual Camera on Windows/macOS)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from splat.errors import UserInputError

    if not display_available():
        print(f"error: {NO_DISPLAY}", file=sys.stderr)
        return 2
    from avatar_app.gui.app import AppOptions, AvatarApp
    from avatar_app.gui.script import load_script

    script = load_script(args.script) if args.script else None
    if args.screenshot:
        script = (script or []) + [{"wait_loaded": True}, {"wait": 0.5},
                                   {"screenshot": args.screenshot}, {"wait": 0.3}, {"do": "quit"}]
    try:
        w, h = (int(v) for v in args.window.lower().split("x"))
    except ValueError:
        raise UserInputError(f"--window must look like 1280x720, not {args.window!r}") from None
    if args.size is not None and not 64 <= args.size <= 2048:
        raise UserInputError("--size must be between 64 and 2048")
    from driver.devices import resolve_device

    resolve_device(args.device)   # a bad --device is refused before the window opens
    app = AvatarApp(AppOptions(avatar=args.avatar, flame=args.flame, checkpoint=args.checkpoint,
                               backend=args.backend, device=args.device, size=args.size,
                               script=script, width=w, height=h,
                               virtual_camera=args.virtual_camera))

    from avatar_app.stop_signals import StopRequest, signal_name, stop_signals

    def on_stop(signum: int) -> None:  # SIGINT/SIGTERM/SIGHUP: leave the loop, finalise files
        app.request_quit(signal_name(signum))

    with stop_signals(StopRequest(raise_now=False, on_stop=on_stop)):
        return app.run()
