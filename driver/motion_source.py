"""Opening motion for an avatar: one call for `render`, the window, `bench` and `eval`.

A checkpoint drives the rig it was trained for. Opening it for an avatar decides, once and in
one place: which folder (an export, or a training run's `model/`), what config.json says (read
once), whether the avatar's rig is that rig, and if not, whether the motion is retargeted
(`retarget="auto"`: the window, which has no flag to ask; `"explicit"`: `render --retarget`)
or refused with the one message naming `--retarget` (`"off"`). The result serves the offline
path (`infer(audio)`) and the live path (`engine()`), on the device `--device` names.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from driver.checkpoint import (CheckpointInfo, NEEDS_ITS_RIG, check_rig, load_weights,
                               read_checkpoint_info, resolve_checkpoint)
from driver.devices import resolve_device
from driver.model import Learn2TalkRegressor, RegressorConfig
from driver.motion import MotionFrame
from driver.retarget import RetargetedStream, Retargeter, find_source_rig
from driver.streaming import MotionEngine, StreamingEngine, infer_offline, warm_up
from splat.assets_paths import DEFAULT_MODEL, DEFAULT_RIG
from splat.errors import UserInputError
from splat.rig import RigData, load_rig_data
from splat.torch_threads import OFFLINE_INFERENCE_THREADS, torch_threads

RETARGET_MODES = ("auto", "explicit", "off")
RETARGET_HINT = f"pass --retarget to map its motion onto this rig, or {NEEDS_ITS_RIG}"
LOOKAHEAD_MS = 100.0   # the live look-ahead budget (window and bench)


def default_checkpoint() -> Path | None:
    """The embedded model, when `python main.py assets`/`train` has put one there."""
    return DEFAULT_MODEL if (DEFAULT_MODEL / "config.json").is_file() else None


@dataclass
class MotionRigs:
    """The rig motion frames are expressed in, and the map onto the avatar's rig (if any)."""

    rig: RigData | None                 # None: a plain 3DGS scene, nothing to size or fit
    retargeter: Retargeter | None = None

    def to_avatar(self, frame: MotionFrame) -> MotionFrame:
        """A frame in the motion's rig as the avatar's rig parameters."""
        return frame if self.retargeter is None else self.retargeter.apply(frame)

    @property
    def note(self) -> str:
        """One line for a status bar or log: what retargeting does, or nothing."""
        return "" if self.retargeter is None else f"retargeted: {self.retargeter.summary()}"

    def describe(self, label: str) -> str:
        """`label` (where the motion comes from) plus the rig it was retargeted from."""
        if self.retargeter is None:
            return label
        return f"{label} retargeted from rig {self.rig.rig_id!r}"


def motion_rigs(info: CheckpointInfo | None, folder: Path | None, avatar_rig: RigData | None,
                retarget: str = "off", source_rig: str | Path | None = None,
                model_drives: bool = True, remedy: str = RETARGET_HINT,
                say: Callable[[str], None] = lambda _text: None) -> MotionRigs:
    """Decide how the motion of checkpoint `info` (None: no checkpoint) reaches `avatar_rig`.

    `source_rig` (render's `--source-rig`) names the motion's rig file; when the model makes
    the motion (`model_drives`) it must be the checkpoint's rig. Otherwise the checkpoint's rig
    is looked for beside it and as the default avatar's, and without a checkpoint it is the
    default rig (what the untrained fallback is built for). A refused rig's message ends with
    `remedy` (default: naming `--retarget`).
    """
    if retarget not in RETARGET_MODES:
        raise ValueError(f"retarget must be one of {RETARGET_MODES}, not {retarget!r}")
    foreign = (info is not None and avatar_rig is not None
               and info.rig_topology != avatar_rig.topology_digest())
    if retarget == "off" or avatar_rig is None or (retarget == "auto" and not foreign):
        if foreign and model_drives:
            check_rig(info, avatar_rig, where=f"checkpoint {folder}", remedy=remedy)
        return MotionRigs(avatar_rig)
    if source_rig is not None:
        source = load_rig_data(source_rig)
        if info is not None and model_drives and source.topology_digest() != info.rig_topology:
            raise UserInputError(f"--source-rig {source_rig} is rig {source.rig_id!r} "
                                 f"({source.topology_digest()}), but checkpoint {folder} was "
                                 f"trained for {info.rig_id!r} ({info.rig_topology})")
    elif info is not None and not foreign:
        source = avatar_rig
    elif info is not None:
        source = find_source_rig(info.rig_id, info.rig_topology, [folder / "rig.npz", DEFAULT_RIG])
    else:
        source = load_rig_data(DEFAULT_RIG)
    if source.topology_digest() == avatar_rig.topology_digest():
        if retarget == "explicit":
            say(f"--retarget: the avatar already uses rig {source.rig_id!r}; nothing to retarget")
        return MotionRigs(avatar_rig)
    retargeter = Retargeter(source, avatar_rig)
    if retarget == "explicit":
        say(retargeter.summary())
    return MotionRigs(source, retargeter)


@dataclass
class MotionSource:
    """A regressor opened for one avatar: offline and streaming motion from the same weights."""

    model: Learn2TalkRegressor
    info: CheckpointInfo | None          # None: the untrained fallback (no checkpoint exists)
    folder: Path | None
    rigs: MotionRigs
    device: torch.device

    @property
    def rig(self) -> RigData | None:
        """The rig the model's frames are in (the avatar's unless retargeting)."""
        return self.rigs.rig

    @property
    def fps(self) -> float:
        return self.model.config.fps

    @property
    def label(self) -> str:
        """Where the motion comes from, for the CLI's closing line and the bench tables."""
        if self.folder is None:
            return self.rigs.describe("untrained model")
        trained = "" if self.info.trained else " (untrained)"
        return self.rigs.describe(f"checkpoint {self.folder}{trained}")

    @property
    def note(self) -> str:
        return self.rigs.note

    def infer(self, audio: np.ndarray) -> list[MotionFrame]:
        """Whole-clip motion at `fps`, in the model's rig (idle motion is layered there, then
        `to_avatar` maps each frame, so blinks reach a retargeted avatar too)."""
        with torch_threads(OFFLINE_INFERENCE_THREADS if self.device.type == "cpu" else None):
            return infer_offline(self.model, audio, rig=self.rig, device=self.device)

    def to_avatar(self, frame: MotionFrame) -> MotionFrame:
        return self.rigs.to_avatar(frame)

    def engine(self, lookahead_ms: float = LOOKAHEAD_MS, warm: bool = True) -> MotionEngine:
        """A streaming engine whose frames are already in the avatar's rig, on `device`;
        `warm` runs a second of silence through it first (see `warm_up`)."""
        engine: MotionEngine = StreamingEngine(self.model, self.rig, lookahead_ms=lookahead_ms,
                                               device=self.device)
        if self.rigs.retargeter is not None:
            engine = RetargetedStream(engine, self.rigs.retargeter)
        return warm_up(engine) if warm else engine


def open_motion(checkpoint: str | Path | None, avatar_rig: RigData | None, *,
                retarget: str = "off", source_rig: str | Path | None = None,
                device: str | torch.device | None = "auto", untrained_ok: bool = False,
                remedy: str = RETARGET_HINT, say: Callable[[str], None] = lambda _text: None) -> MotionSource:
    """Open `checkpoint` (an export or a run folder; None: the embedded model) for `avatar_rig`.

    Without a checkpoint and with `untrained_ok`, an untrained model of the default
    architecture stands in (timing and plumbing still work; the mouth stays at rest) and `say`
    is told. `say` also hears about untrained checkpoints and, for `retarget="explicit"`, what
    the retargeting does. `remedy` ends the refusal of a foreign rig (see `motion_rigs`).
    """
    folder = resolve_checkpoint(checkpoint) if checkpoint is not None else default_checkpoint()
    torch_device = resolve_device(device)
    if folder is None:
        if not untrained_ok:
            raise UserInputError(f"no checkpoint at {DEFAULT_MODEL}; pass --checkpoint or run "
                                 "python main.py train")
        rigs = motion_rigs(None, None, avatar_rig, retarget, source_rig, say=say)
        if rigs.rig is None:
            raise UserInputError("an untrained model needs a rigged avatar to size its output")
        say(f"no checkpoint at {DEFAULT_MODEL} (run `python main.py train`): using an UNTRAINED "
            "model, the mouth will stay at rest")
        config = RegressorConfig(outputs=[("expr", rigs.rig.n_expr), ("jaw_pose", 3)])
        return MotionSource(Learn2TalkRegressor(config).eval(), None, None, rigs, torch_device)
    arch, info = read_checkpoint_info(folder)
    rigs = motion_rigs(info, folder, avatar_rig, retarget, source_rig, remedy=remedy, say=say)
    model = load_weights(folder, arch, device="cpu")
    if not info.trained:
        say(f"checkpoint {folder} is UNTRAINED: the motion is not lip-sync")
    return MotionSource(model, info, folder, rigs, torch_device)


def file_motion_rigs(checkpoint: str | Path | None, avatar_rig: RigData, retarget: str = "off",
                     source_rig: str | Path | None = None,
                     say: Callable[[str], None] = lambda _text: None) -> MotionRigs:
    """`motion_rigs` for motion that does not come from a model (`render --motion`): the
    file is in the avatar's rig, or with retargeting in `source_rig`, else in the rig of the
    checkpoint (when one exists), else the default rig."""
    if retarget == "off":
        return MotionRigs(avatar_rig)
    folder = resolve_checkpoint(checkpoint) if checkpoint is not None else default_checkpoint()
    info = None
    if folder is not None and (folder / "config.json").is_file():
        _, info = read_checkpoint_info(folder)
    return motion_rigs(info, folder, avatar_rig, retarget, source_rig, model_drives=False, say=say)
