"""Loading for the live window and the live benches: an avatar (`Scene`) and its motion engine.

Both run off the GUI thread. A failure is a `LoadFailure` worded for a person and naming the
part at fault (avatar, FLAME model, renderer or checkpoint), so the window can say it and keep
what it shows. Opening itself is the commands' own: `AvatarPipeline.open` for the avatar,
`driver.motion_source.open_motion` for the motion (retargeting a foreign rig by itself, since
the window has no `--retarget`).
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from avatar_app.live_render import Scene
from driver.streaming import MotionEngine
from splat.errors import UserInputError


class LoadFailure(UserInputError):
    """A failed load, worded for a person and naming the file at fault (avatar, FLAME model,
    checkpoint or renderer), never a bare exception text."""


@contextmanager
def blame(what: str, path: object, otherwise: str = "") -> Iterator[None]:
    """Turn any failure inside the block into a LoadFailure that names `what` and `path`.

    Messages written for users (UserInputError) are kept; OS errors become their reason; any
    other exception means the file is damaged or of another kind, which is what a person needs
    to hear (or `otherwise`; the exception itself goes to stderr for whoever debugs it).
    """
    try:
        yield
    except LoadFailure:
        raise
    except UserInputError as exc:
        text = str(exc)
        named = str(path) in text and what.split()[-1].lower() in text.lower()
        raise LoadFailure(text if named else f"{what} {path}: {text}") from None
    except OSError as exc:
        raise LoadFailure(f"cannot read the {what} {path}: {exc.strerror or 'unreadable'}") from None
    except Exception as exc:  # a malformed file must not take the window down
        print(f"load of {what} {path} failed: {exc!r}", file=sys.stderr)
        raise LoadFailure(otherwise or f"the {what} {path} could not be loaded: it is damaged "
                          f"or not a {what}") from None


def load_scene(avatar_dir: str | Path, flame: str | None, backend: str,
               device: str | None = None) -> Scene:
    """Open an avatar and its pipeline (slow: call off the GUI thread); a failure is a
    LoadFailure blaming the avatar, the FLAME model or the renderer, whichever failed."""
    from driver.devices import resolve_device
    from splat.pipeline import AvatarPipeline

    def stage(part: str) -> AbstractContextManager[None]:
        if part == "rig" and flame:
            return blame("FLAME model", flame)
        if part == "renderer":
            return blame(f"{backend} renderer for", avatar_dir,
                         f"the {backend} renderer could not start for the avatar {avatar_dir}")
        return blame("avatar", avatar_dir)

    pipeline = AvatarPipeline.open(avatar_dir, flame or None, backend=backend,
                                   device=resolve_device(device) if device else None, stage=stage)
    return Scene(pipeline, Path(avatar_dir).name)


def load_engine(checkpoint: str | Path | None, scene: Scene, device: str | None = "auto"
                ) -> tuple[MotionEngine, str]:
    """The warmed-up streaming engine driving the scene's avatar, and a note for the status
    line (the retargeting, when the checkpoint was trained for another rig). `checkpoint` None:
    the embedded model, else an untrained stand-in (the benches time it). A failure is a
    LoadFailure blaming the checkpoint."""
    from driver.motion_source import open_motion

    with blame("checkpoint", checkpoint or "(embedded model)"):
        opened = open_motion(checkpoint, scene.rig, retarget="auto", device=device,
                             untrained_ok=checkpoint is None)
        note = opened.note or ("" if opened.folder is not None else opened.label)
        return opened.engine(), note


@dataclass
class Loaded:
    """What a window load request produced: the scene and engine to swap in, or an error."""

    scene: Scene | None = None
    engine: MotionEngine | None = None
    checkpoint: str = ""          # the checkpoint that loaded ("" when none drives the avatar)
    note: str = ""                # for the status line
    error: str = ""               # a LoadFailure's text; nothing else is set then


def load_avatar_and_model(avatar_dir: str | Path, flame: str | None, backend: str,
                          checkpoint: str, device: str | None = "auto") -> Loaded:
    """The window's loader thread: the avatar, then its model (`checkpoint` "" means none)."""
    try:
        scene = load_scene(avatar_dir, flame, backend, device)
        if not checkpoint:
            return Loaded(scene, None, "", "no model: the mouth follows only the manual jaw slider")
        engine, note = load_engine(checkpoint, scene, device)
        return Loaded(scene, engine, checkpoint, note)
    except UserInputError as exc:   # load_scene/load_engine word and blame failures
        return Loaded(error=str(exc))
