"""Regressor checkpoints: a folder of `model.safetensors` (weights) + `config.json` (what they are).

config.json records the architecture (front end included), the motion frame rate, the rig the
model was trained for (id, topology digest "V<v>-F<f>-<sha1>", expression names), a description
of the training data, whether it was trained at all, and its metrics. The topology digest is how
a checkpoint refuses to drive a mesh it was never trained on: its outputs index that rig's
blendshapes (or vertices), so on another rig they would be silently meaningless.
"""
from __future__ import annotations

import json
import math
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
# config.json's architecture numbers: (smallest allowed, largest allowed). A file from a user may
# hold anything; each is checked before a model is built from it, so n_heads 0 or a negative size
# is a message naming the field instead of a ZeroDivisionError or a torch traceback.
_ARCH_INTS = {"d_model": (1, 8192), "n_heads": (1, 256), "ffn_mult": (1, 64),
              "period": (1, 100_000), "n_styles": (1, 100_000), "self_attn_window": (1, 100_000),
              "audio_lookback": (0, 100_000), "audio_lookahead": (0, 100_000)}
_ARCH_FLOATS = {"dropout": (0.0, 1.0), "fps": (1.0, 240.0)}
_LOGMEL_INTS = {"n_mels": (1, 1024), "channels": (1, 8192), "future_mel": (-100_000, 100_000)}
_LOGMEL_FLOATS = {"win_ms": (1.0, 1000.0), "hop_ms": (1.0, 1000.0)}
_WAV2VEC2_FLOATS = {"context_s": (0.0, 60.0), "lookahead_s": (0.0, 60.0)}


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
        if not isinstance(raw, dict):
            raise ValueError(f"expected a JSON object, found {type(raw).__name__}")
        if raw.get("format") != FORMAT:
            raise ValueError(f"format is {raw.get('format')!r}, expected {FORMAT!r}")
        if int(raw.get("version", 0)) > FORMAT_VERSION:
            raise ValueError(f"written by a newer version ({raw['version']})")
        check_architecture(raw.get("architecture"))
        arch = RegressorConfig.from_dict(raw["architecture"])
        info = CheckpointInfo(**{k: raw[k] for k in CheckpointInfo.__dataclass_fields__
                                 if k in raw})
        _check_info(info)
    except (ValueError, KeyError, TypeError) as exc:
        raise UserInputError(f"{path}: corrupt checkpoint config ({exc})") from None
    return arch, info


def check_architecture(arch: Any) -> None:
    """Schema of config.json's "architecture": every field of the right type and in range
    (ValueError naming the field), so what reaches RegressorConfig and torch is buildable."""
    if not isinstance(arch, dict):
        raise ValueError(f"architecture must be an object, found {type(arch).__name__}")
    check_numbers(arch, _ARCH_INTS, int, "architecture")
    check_numbers(arch, _ARCH_FLOATS, float, "architecture")
    outputs = arch.get("outputs", [])
    if not isinstance(outputs, list) or not outputs or not all(
            isinstance(o, list) and len(o) == 2 and isinstance(o[0], str)
            and _is_int(o[1]) and o[1] >= 1 for o in outputs):
        raise ValueError("architecture.outputs must be a non-empty list of [name, size >= 1]")
    frontend = arch.get("frontend", {"kind": "logmel"})
    if not isinstance(frontend, dict):
        raise ValueError("architecture.frontend must be an object")
    if frontend.get("kind") == "logmel":
        check_numbers(frontend, _LOGMEL_INTS, int, "architecture.frontend")
        check_numbers(frontend, _LOGMEL_FLOATS, float, "architecture.frontend")
        dilations = frontend.get("dilations", [1])
        if not isinstance(dilations, list) or not dilations or not all(
                _is_int(d) and 1 <= d <= 4096 for d in dilations):
            raise ValueError("architecture.frontend.dilations must be a list of whole numbers "
                             "in 1..4096")
    elif frontend.get("kind") == "wav2vec2":
        check_numbers(frontend, _WAV2VEC2_FLOATS, float, "architecture.frontend")
        if not isinstance(frontend.get("hf_config"), dict):
            raise ValueError("architecture.frontend.hf_config must be an object")
    else:
        raise ValueError(f"architecture.frontend.kind is {frontend.get('kind')!r}, "
                         "expected 'logmel' or 'wav2vec2'")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_numbers(d: dict[str, Any], ranges: dict[str, tuple[float, float]], kind: type,
                  where: str) -> None:
    """Present fields of `ranges` must be numbers of `kind` (ints for int) within the range."""
    for key, (lo, hi) in ranges.items():
        if key not in d:
            continue
        value = d[key]
        ok_type = _is_int(value) if kind is int else (
            isinstance(value, (int, float)) and not isinstance(value, bool))
        if not ok_type or not math.isfinite(value) or not lo <= value <= hi:
            wanted = "a whole number" if kind is int else "a number"
            raise ValueError(f"{where}.{key} must be {wanted} in {lo}..{hi}, got {value!r}")


def _check_info(info: CheckpointInfo) -> None:
    if not isinstance(info.rig_id, str) or not isinstance(info.rig_topology, str):
        raise ValueError("rig_id and rig_topology must be strings")
    if not isinstance(info.expr_names, list) or not all(isinstance(n, str)
                                                        for n in info.expr_names):
        raise ValueError("expr_names must be a list of strings")
    if not isinstance(info.training_data, dict) or not isinstance(info.metrics, dict):
        raise ValueError("training_data and metrics must be objects")


NEEDS_ITS_RIG = "use a checkpoint trained for this rig"


def check_rig(info: CheckpointInfo, rig: Any, where: str = "checkpoint",
              remedy: str = NEEDS_ITS_RIG) -> None:
    """Refuse a rig whose topology differs from the one the checkpoint was trained for: the one
    wording of that refusal; `remedy` is the way out the caller offers (e.g. `--retarget`)."""
    digest = rig.topology_digest()
    if digest != info.rig_topology:
        rig_id = getattr(rig, "rig_id", "?")
        raise UserInputError(
            f"{where} was trained for rig {info.rig_id!r} ({info.rig_topology}) but the avatar's "
            f"rig is {rig_id!r} ({digest}); {remedy}")


def resolve_checkpoint(folder: str | Path) -> Path:
    """A checkpoint folder, or a training run folder (its `model/` checkpoint): every command
    that takes `--checkpoint` accepts both."""
    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file() and (folder / "model" / CONFIG_FILE).is_file():
        return folder / "model"
    return folder


def load_checkpoint(folder: str | Path, rig: Any = None,
                    device: torch.device | str = "cpu") -> tuple[Learn2TalkRegressor,
                                                                  CheckpointInfo]:
    """Load a checkpoint (eval mode, on `device`); with `rig`, refuse another topology."""
    folder = Path(folder)
    arch, info = read_checkpoint_info(folder)
    if rig is not None:
        check_rig(info, rig, where=f"checkpoint {folder}")
    return load_weights(folder, arch, device), info


def load_weights(folder: str | Path, arch: RegressorConfig,
                 device: torch.device | str = "cpu") -> Learn2TalkRegressor:
    """The model of `arch` (from `read_checkpoint_info`) with the folder's checked weights, so
    a caller that already read config.json does not parse it again."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = Path(folder) / WEIGHTS_FILE
    if not weights.is_file():
        raise UserInputError(f"{folder}: checkpoint has no {WEIGHTS_FILE}")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserInputError(f"{weights}: corrupt weights file ({exc})") from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:   # a model with one NaN weight outputs NaN motion: every frame renders blank
        raise UserInputError(f"{weights}: NaN or infinite weights in {', '.join(bad[:3])}"
                             f"{' ...' if len(bad) > 3 else ''}")
    model = Learn2TalkRegressor(arch)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise UserInputError(f"{weights}: weights do not match config.json ({first})") from None
    return model.to(device).eval()
