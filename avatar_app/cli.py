"""The command line: `talking-splat [command] ...` once installed, `python main.py ...` in a checkout.

No command opens the live window. Command modules load lazily (only the one asked for), so
`--help` stays quick and never imports torch.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from splat.user_dirs import set_compile_cache_defaults

DESCRIPTION = ("Talking Splat: a live, speech-driven 3D Gaussian Splatting head. "
               "No command opens the live window.")

# command name -> module under avatar_app.commands exposing `register(subparsers)`; each
# registered parser sets `func(args) -> int`.
COMMANDS = {
    "gui": "Open the live window (default when no command is given).",
    "still": "Render one frame of an avatar to a PNG.",
    "render": "Render an avatar speaking an audio file to an MP4 with the audio muxed in.",
    "assets": "Regenerate the embedded default rig, avatar and demo clip in assets/.",
    "corpus": "Build the synthetic audio-visual training corpus.",
    "train": "Train SyncNet3D or the Learn2Talk regressor.",
    "eval": "Evaluate a checkpoint on held-out data (LVE, FDD, LSE-D/C, closures).",
    "bench": "Measure render, regressor and end-to-end performance.",
    "doctor": "Report the environment (GPU, CUDA, gsplat build, audio, display); build gsplat.",
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    # The name the user typed: "main.py" in a checkout, "talking-splat" for the installed command.
    prog = "main.py" if Path(sys.argv[0]).name == "main.py" else "talking-splat"
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="command")
    wanted = argv[0] if argv and not argv[0].startswith("-") else None
    for name, summary in COMMANDS.items():
        if name == wanted:
            module = importlib.import_module(f"avatar_app.commands.{name}")
            module.register(sub)
        else:
            sub.add_parser(name, help=summary, description=summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (default: the process's), run the command; the exit status (2: bad input)."""
    # Before any command module imports numba: compiled kernels go to the user's cache folder.
    set_compile_cache_defaults()
    from splat.errors import UserInputError

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["gui", *argv]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
