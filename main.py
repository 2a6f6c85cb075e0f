"""The one entry point: `python main.py [command] ...` (no command opens the live GUI)."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# gsplat's JIT-built kernels live in a git-ignored folder of the project so every later run
# (and `doctor --build-gsplat`) finds the same build instead of recompiling for minutes.
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(ROOT / ".cache" / "torch_extensions"))

# command name -> module under avatar_app.commands exposing `register(subparsers)`; each
# registered parser sets `func(args) -> int`. Modules load lazily so `--help` stays quick.
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
    parser = argparse.ArgumentParser(prog="main.py", description=__doc__)
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


if __name__ == "__main__":
    sys.exit(main())
