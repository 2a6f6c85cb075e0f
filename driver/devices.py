"""The one rule for `--device`: what a name means, and a clear refusal instead of a silent CPU.

Inference (`render`, the window, `bench`) and training all resolve their device here, so
"cuda" on a machine without a usable GPU is an error naming the flag rather than a slow run on
the CPU that looks like a working GPU path.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from splat.errors import UserInputError

if TYPE_CHECKING:
    import torch

DEVICE_HELP = "auto (a CUDA GPU when one is visible, else the CPU), cpu, cuda or cuda:N"


def resolve_device(name: "str | torch.device | None" = "auto", default_index: int | None = None) -> "torch.device":
    """`name` as a torch device; "auto"/None picks CUDA (index `default_index`) when visible.

    torch is imported here, not at module level, so command parsers can show DEVICE_HELP fast.
    """
    import torch

    if name is None or str(name) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", default_index) if default_index is not None else torch.device("cuda")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise UserInputError(f"--device {name!r} is not a device name; use {DEVICE_HELP}") from exc
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise UserInputError(f"--device {name!r}: only cpu and cuda are supported")
    if not torch.cuda.is_available():
        raise UserInputError(f"--device {name}: no CUDA GPU is visible to torch on this machine "
                             "(use --device cpu, or install the CUDA build of torch)")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise UserInputError(f"--device {name}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    return device
