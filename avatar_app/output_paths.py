"""Output paths checked before any work: the one place every writing command asks "can I write here?".

A render can run for minutes; finding out at the end that the folder is read-only, that `--out`
names a directory or that the extension is one the writer cannot produce wastes all of it (and
used to end in an FFmpeg or OpenCV traceback). The checks are real rather than guessed from
permission bits: the folder is probed by creating (and removing) a file in it, because root
passes every `os.access` test yet still cannot create files in /proc or on a read-only mount.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from splat.errors import UserInputError

IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
VIDEO_SUFFIXES = {".mp4": "MP4 (H.264 + AAC)"}
# Extensions people try for a video that this writer does not produce, and what to do instead.
OTHER_VIDEO = {".avi", ".mov", ".mkv", ".webm", ".m4v", ".gif", ".wmv", ".flv"}


def check_output_file(path: str | Path, suffixes: dict[str, str], option: str = "--out") -> Path:
    """Refuse `path` unless a file of one of `suffixes` can be written there; returns it.

    Checks, in order: a known extension, not a directory, an existing parent folder that really
    accepts new files, and (for an existing file) that it may be overwritten. A character device
    such as /dev/null is accepted when its name has the extension (e.g. a symlink clip.mp4 ->
    /dev/full): the writer then reports the device's own write errors as they happen.
    """
    path = Path(path)
    known = ", ".join(sorted(suffixes))
    suffix = path.suffix.lower()
    if path.is_dir():
        raise UserInputError(f"{option} {path} is a directory; give a file name ending in {known}")
    if suffix not in suffixes:
        if suffix in OTHER_VIDEO and set(suffixes) == set(VIDEO_SUFFIXES):
            raise UserInputError(f"{option} {path}: {suffix} is not supported; this writes "
                                 f"{VIDEO_SUFFIXES['.mp4']}, so name the file .mp4")
        what = f"extension {suffix!r}" if suffix else "no extension"
        raise UserInputError(f"{option} {path} has {what}; use one of {known}")
    folder = path.parent
    if not folder.is_dir():
        reason = "is not a folder" if folder.exists() else "does not exist"
        raise UserInputError(f"{option} {path}: output folder {folder} {reason}")
    if path.exists():
        mode = path.stat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
            raise UserInputError(f"{option} {path} exists and is not a regular file")
        try:
            with open(path, "ab"):
                pass
        except OSError as exc:
            raise UserInputError(f"{option} {path} cannot be overwritten ({exc.strerror})") from None
        if stat.S_ISCHR(mode):
            return path
    probe_folder(folder, f"{option} {path}")
    return path


def check_output_folder(folder: str | Path, option: str = "--out") -> Path:
    """Refuse `folder` unless it is (or can be created as) a folder that accepts new files."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserInputError(f"{option} {folder} exists and is not a folder")
    if not folder.exists():
        parent = next((p for p in folder.parents if p.exists()), Path("."))
        if not parent.is_dir():
            raise UserInputError(f"{option} {folder}: {parent} is not a folder")
        probe_folder(parent, f"{option} {folder}")
        return folder
    probe_folder(folder, f"{option} {folder}")
    return folder


def probe_folder(folder: Path, what: str) -> None:
    """Create and remove a temporary file in `folder`; a failure names `what` and why."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".write-check-")
    except OSError as exc:
        raise UserInputError(f"{what}: cannot create files in {folder} "
                             f"({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(name)
