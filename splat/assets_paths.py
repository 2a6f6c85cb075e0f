"""Where the embedded default assets live: one definition for every command and package.

The paths hang off this file's location, never the current folder, so `eval`, `render`, the
window and the benches find the same files wherever they are started from. Nothing heavy is
imported, so argument parsers can use the defaults without loading torch. The file names
inside the avatar folder are splat.avatar's `RIG_NAME` / `PLY_NAME` (tests/test_default_assets.py
checks they agree); `python main.py assets` writes everything here.
"""
from __future__ import annotations

from pathlib import Path

from splat.errors import UserInputError

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
DEFAULT_AVATAR = ASSETS_DIR / "default_avatar"      # the procedural head: rig + Gaussians
DEFAULT_RIG = DEFAULT_AVATAR / "rig.npz"            # its rig; the default model is trained on it
DEFAULT_MODEL = ASSETS_DIR / "default_model"        # the shipped regressor checkpoint
DEMO_CLIP = ASSETS_DIR / "demo_speech.wav"          # the demo speech clip


def default_avatar() -> Path:
    """The default avatar folder, or a clear error when it has not been generated."""
    if not (DEFAULT_AVATAR / "point_cloud.ply").is_file():
        raise UserInputError("default avatar missing; run python main.py assets")
    return DEFAULT_AVATAR
