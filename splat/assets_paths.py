"""Where the embedded default assets live: one definition for every command and package.

The assets are package data: assets/ in the repo, installed (by `pip install .`, editable or
not) as the package `talking_splat_assets`, which importlib.resources finds wherever pip put it,
never relative to the current folder, so `eval`, `render`, the window and the benches find the
same files wherever they are started from. Only a source checkout that was never installed
falls back to the repo's assets/ beside this package. Nothing heavy is imported, so argument
parsers can use the defaults without loading torch. The file names inside the avatar folder are
splat.avatar's `RIG_NAME` / `PLY_NAME` (tests/test_default_assets.py checks they agree);
`python main.py assets` writes everything here.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from splat.errors import UserInputError

ASSET_PACKAGE = "talking_splat_assets"     # pyproject.toml / setup.py map assets/ to this name


def _assets_dir() -> Path:
    try:
        folder = resources.files(ASSET_PACKAGE)
    except ModuleNotFoundError:  # a source checkout run without `pip install`
        return Path(__file__).resolve().parents[1] / "assets"
    # pip always unpacks a wheel, so the package is a folder on disk (never inside a zip).
    return Path(str(folder))


ASSETS_DIR = _assets_dir()
DEFAULT_AVATAR = ASSETS_DIR / "default_avatar"      # the procedural head: rig + Gaussians
DEFAULT_RIG = DEFAULT_AVATAR / "rig.npz"            # its rig; the default model is trained on it
HUMAN_AVATAR = ASSETS_DIR / "human_avatar"          # the MakeHuman (CC0) head: ARKit-52 rig, relightable
# The embedded heads by name, for an avatar picker (the default first).
EMBEDDED_AVATARS = {"procedural": DEFAULT_AVATAR, "human": HUMAN_AVATAR}


def is_embedded_avatar(folder: str | Path) -> bool:
    """One of the heads shipped here: the embedded model's motion is known to map onto them."""
    resolved = Path(folder).resolve()
    return any(resolved == path.resolve() for path in EMBEDDED_AVATARS.values())

DEFAULT_MODEL = ASSETS_DIR / "default_model"        # the shipped regressor checkpoint
DEFAULT_LIPREADER = ASSETS_DIR / "lipreader"        # the shipped lip reader (eval's PER / VER)
DEMO_CLIP = ASSETS_DIR / "demo_speech.wav"          # the demo speech clip


def default_avatar() -> Path:
    """The default avatar folder, or a clear error when it has not been generated."""
    if not (DEFAULT_AVATAR / "point_cloud.ply").is_file():
        raise UserInputError("default avatar missing; run python main.py assets")
    return DEFAULT_AVATAR
