"""Persisted user settings of the live app (device, paths, options).

Stored as JSON in the user's config folder (splat.user_dirs: $XDG_CONFIG_HOME/talking-splat/
settings.json, else ~/.config/... on Linux; the platform's own folder on Windows and macOS) so
a demo machine comes back the way it was left. A missing, unreadable or partly invalid file
never stops the app: unknown keys are dropped and bad values fall back to their defaults,
because a settings file must not be a way to brick the window.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from avatar_app.vad import GATE_MODES
from splat.user_dirs import config_dir


@dataclass
class Settings:
    """Everything the window restores on the next start."""

    input_device: str = ""  # device name; names survive re-plugging, indices do not
    avatar_dir: str = ""  # "" = the embedded default avatar
    flame_model: str = ""
    checkpoint: str = ""  # "" = the embedded default model
    backend: str = "auto"
    render_size: int = 512
    expression_intensity: float = 1.0  # lip-sync strength: scales speech expressions and jaw
    smoothing_ms: float = 0.0  # one-pole time constant on the speech motion; 0 = off
    input_gain_db: float = 0.0  # applied to captured audio before the gate, model and meter
    blink: bool = True
    blink_strength: float = 1.0
    gaze: bool = True
    gaze_strength: float = 1.0
    sway: bool = True
    sway_strength: float = 1.0
    background: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    transparent: bool = False
    display_delay_ms: float = 0.0
    gate_mode: str = "voice"  # off | noise | voice
    gate_threshold_db: float = -45.0  # noise gate: opening level
    voice_threshold: float = 0.5  # voice gate: speech probability that opens it
    muted: bool = False
    audio_file: str = ""
    record_dir: str = ""  # "" = the current working directory
    record_motion: str = ".npz"  # motion file written beside each recording ("" = none)
    motion_file: str = ""  # last motion file played
    # the light on relightable avatars (splat.relight.DEFAULT_AZ_EL; a test checks they agree)
    light_on: bool = True  # False: their baked colours (`still --light off`)
    light_az: float = -30.0  # degrees about +y, 0 = from the front (Light.from_az_el)
    light_el: float = 30.0  # degrees above the horizon
    light_colour: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    # the Avatar tab's identity sliders, per avatar folder (the avatar_dir it was loaded as, ""
    # = the embedded default): rig shape name -> slider value; absent = the avatar's own face
    identity: dict[str, dict[str, float]] = field(default_factory=dict)


# String settings a control picks from a fixed list: anything else in the file is dropped.
CHOICES: dict[str, tuple[str, ...]] = {
    "gate_mode": GATE_MODES,
    "backend": ("auto", "cpu", "gsplat"),   # splat.render.BACKENDS (importing it loads torch)
    "record_motion": ("", ".npz", ".csv", ".json"),
}
IDENTITY_LIMIT = 3.0  # the widest identity slider (FLAME's PCA components); others are +-1
# Numeric settings a slider sets: a value outside the slider's range falls back too.
RANGES: dict[str, tuple[float, float]] = {
    "input_gain_db": (-20.0, 30.0),
    "smoothing_ms": (0.0, 300.0),
    "expression_intensity": (0.0, 2.0),
    "gate_threshold_db": (-70.0, -10.0),
    "voice_threshold": (0.05, 0.95),
    "display_delay_ms": (0.0, 500.0),
    "light_az": (-180.0, 180.0),
    "light_el": (-90.0, 90.0),
}


def settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings(path: Path | None = None) -> Settings:
    """Read settings, keeping defaults for anything missing or of the wrong type."""
    path = path or settings_path()
    settings = Settings()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return settings
    if not isinstance(raw, dict):
        return settings
    for f in fields(Settings):
        if f.name not in raw:
            continue
        value, default = raw[f.name], getattr(settings, f.name)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = type(default)(value) if ok else value
        elif isinstance(default, dict):
            value = _identity_table(value)
            ok = True
        elif isinstance(default, list):
            ok = isinstance(value, list) and len(value) == len(default) and all(
                isinstance(v, (int, float)) for v in value)
        else:
            ok = isinstance(value, type(default))
        if ok and f.name in CHOICES:
            ok = value in CHOICES[f.name]
        if ok and f.name in RANGES:
            lo, hi = RANGES[f.name]
            ok = math.isfinite(value) and lo <= value <= hi
        if ok:
            setattr(settings, f.name, value)
    return settings


def _identity_table(value: object) -> dict[str, dict[str, float]]:
    """The valid part of a saved identity table: folder -> {shape name: finite value within
    +-IDENTITY_LIMIT}; anything else in it is dropped entry by entry."""
    if not isinstance(value, dict):
        return {}
    table = {}
    for folder, shapes in value.items():
        if not isinstance(folder, str) or not isinstance(shapes, dict):
            continue
        kept = {name: float(v) for name, v in shapes.items()
                if isinstance(name, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
                and math.isfinite(v) and abs(v) <= IDENTITY_LIMIT}
        if kept:
            table[folder] = kept
    return table


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write atomically (temp file + rename) so a crash mid-write cannot corrupt the file."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(asdict(settings), fh, indent=2)
    os.replace(tmp, path)
