"""Range checks for the numeric options `still`, `render` and the render job share.

argparse turns "nan", "inf" and "1e9" into floats without complaint, and a NaN camera angle or
distance renders an empty frame that would otherwise be written as if it were a picture; every
number a user types is checked here, once, with a message naming the option.
"""
from __future__ import annotations

import math

from splat.cameras import MAX_PITCH_DEG   # the orbit camera's limit (it would clamp silently)
from splat.errors import UserInputError

SIZE_RANGE = (16, 8192)           # pixels
FPS_RANGE = (1.0, 240.0)          # video frames per second
MAX_DISTANCE_M = 1000.0           # camera distance; anything farther shows a sub-pixel head
MAX_YAW_DEG = 360.0


def check_range(option: str, value: float, lo: float, hi: float, unit: str = "") -> float:
    """`value` if finite and in [lo, hi], else a UserInputError naming `option`."""
    if not math.isfinite(value) or not lo <= value <= hi:
        suffix = f" {unit}" if unit else ""
        raise UserInputError(f"{option} must be a number from {lo:g} to {hi:g}{suffix}, "
                             f"got {value!r}")
    return value


def check_view_options(size: int, yaw: float, pitch: float, distance: float | None,
                       height: int | None = None) -> None:
    """The camera options of `still` and `render`: image size (`size` the width, `height`
    when not square), orbit angles, distance."""
    for what, pixels in (("--size", size), ("--size height", height)):
        if pixels is not None and not SIZE_RANGE[0] <= pixels <= SIZE_RANGE[1]:
            raise UserInputError(f"{what} must be between {SIZE_RANGE[0]} and {SIZE_RANGE[1]} "
                                 f"pixels, got {pixels}")
    check_range("--yaw", yaw, -MAX_YAW_DEG, MAX_YAW_DEG, "degrees")
    check_range("--pitch", pitch, -MAX_PITCH_DEG, MAX_PITCH_DEG, "degrees")
    if distance is not None and (not math.isfinite(distance) or not
                                 0.0 < distance <= MAX_DISTANCE_M):
        raise UserInputError(f"--distance must be a positive number of metres up to "
                             f"{MAX_DISTANCE_M:g}, got {distance!r}")
