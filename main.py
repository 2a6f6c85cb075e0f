"""`python main.py [command] ...` in a checkout: the same entry point as the installed
`talking-splat` command (avatar_app.cli); no command opens the live GUI."""
from __future__ import annotations

import sys
from pathlib import Path

from avatar_app.cli import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parent  # the checkout (tests run commands from here)

__all__ = ["COMMANDS", "ROOT", "build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
