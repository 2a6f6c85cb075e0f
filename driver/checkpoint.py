"""Regressor checkpoints: a folder of `model.safetensors` (weights) + `config.json` (what they are).

config.json records the architecture (front end included), the motion frame rate, the rig the
model was trained for (id, topology digest "V<v>-F<f>-<sha1>", expression names), a description
of the training data, whether it was trained at all, and its metrics. The topology digest is how
a checkpoint refuses to drive a mesh it was never trained on: its outputs index that rig's
blendshapes (or vertices), so on another rig they would be silently meaningless.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from driver.model import Learn2TalkRegressor, RegressorConfig
from splat.errors import UserInputError

FORMAT = "learn2talk-regressor"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


@dataclass
class CheckpointInfo:
    """Everything about a checkpoint except its architecture (that is `model.config`)."""

    rig_id: str
    rig_topology: str                    # Rig.topology_digest()
    expr_names: list[str]
    training_data: dict[str, Any] = field(default_factory=dict)
    trained: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_rig(cls, rig: Any, **kwargs: Any) -> "CheckpointInfo":
        """Info for a model of `rig` (a splat.rig.Rig or RigData)."""
        return cls(rig_id=rig.rig_id, rig_topology=rig.topology_digest(),
                   expr_names=list(rig.expr_names), **kwargs)


def save_checkpoint(model: Learn2TalkRegressor, info: CheckpointInfo,
                    folder: str | Path) -> Path:
    """Write weights + config.json into `folder` (created); returns the folder."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    config = {"format": FORMAT, "version": FORMAT_VERSION, "fps": model.config.fps,
              "architecture": model.config.to_dict(), **asdict(info)}
    # Weights first, config last: a folder whose config.json exists is complete.
    tmp = folder / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(folder / WEIGHTS_FILE)
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    return folder


def read_checkpoint_info(folder: str | Path) -> tuple[RegressorConfig, CheckpointInfo]:
    """Parse config.json only (cheap): architecture + info, with clear errors."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"checkpoint folder not found: {folder}")
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise UserInputError(f"{folder}: not a checkpoint (no {CONFIG_FILE})")
    try:
        raw = json.loads(path.read_text())
        if raw.get("format") != FORMAT:
            raise ValueError(f"format is {raw.get('format')!r}, expected {FORMAT!r}")
        if int(raw.get("version", 0)) > FORMAT_VERSION:
            raise ValueError(f"written by a newer version ({raw['version']})")
        arch = RegressorConfig.from_dict(raw["architecture"])
        info = CheckpointInfo(**{k: raw[k] for k in CheckpointInfo.__dataclass_fields__
                                 if k in raw})
    except (ValueError, KeyError, TypeError) as exc:
        raise UserInputError(f"{path}: corrupt checkpoint config ({exc})") from None
    return arch, info


def check_rig(info: CheckpointInfo, rig: Any, where: str = "checkpoint") -> None:
    """Refuse a rig whose topology differs from the one the checkpoint was trained for."""
    digest = rig.topology_digest()
    if digest != info.rig_topology:
        rig_id = getattr(rig, "rig_id", "?")
        raise UserInputError(
            f"{where} was trained for rig {info.rig_id!r} ({info.rig_topology}) but the avatar's "
            f"rig is {rig_id!r} ({digest}); use a checkpoint trained for this rig")


def load_checkpoint(folder: str | Path, rig: Any = None,
                    device: torch.device | str = "cpu") -> tuple[Learn2TalkRegressor,
                                                                  CheckpointInfo]:
    """Load a checkpoint (eval mode, on `device`); with `rig`, refuse another topology."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    arch, info = read_checkpoint_info(folder)
    if rig is not None:
        check_rig(info, rig, where=f"checkpoint {folder}")
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise UserInputError(f"{folder}: checkpoint has no {WEIGHTS_FILE}")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserInputError(f"{weights}: corrupt weights file ({exc})") from None
    model = Learn2TalkRegressor(arch)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise UserInputError(f"{weights}: weights do not match config.json ({first})") from None
    return model.to(device).eval(), info
