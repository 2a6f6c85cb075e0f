"""Motion files: the one reader and writer of rig motion on disk (`render --motion`,
`render --save-motion`, the window's recordings).

Three formats, picked by the extension:

- `.npz` in GaussianAvatars' `flame_param.npz` layout: (frames, n) float32 arrays `expr`,
  `rotation`, `neck_pose`, `jaw_pose`, `eyes_pose`, `translation` (axis-angle radians, metres)
  plus a scalar `fps`, so GaussianAvatars-style viewers replay it on a FLAME avatar. On reading,
  `shape` and `static_offset` (identity, which such files also hold) are accepted and ignored:
  the avatar keeps its own identity.
- `.csv` / `.json`: a `time` column (seconds from the start of the clip) and one column per
  curve, for editors, spreadsheets and tools that speak Apple ARKit's 52 blendshape names
  (Audio2Face, Live Link Face, VSeeFace). JSON is `{"fps": f, "rig": id, "columns": {"time":
  [...], name: [...]}}`; a bare `{"time": [...], name: [...]}` object reads too.

Curve names (CSV/JSON). An expression of the rig is named with its ARKit-52 counterpart where
one exists, otherwise with the rig's own name (a FLAME rig's `expr_000`... keep theirs):

| rig expression | column(s) |
| --- | --- |
| lips_close | mouthClose |
| lip_funnel, lip_pucker | mouthFunnel, mouthPucker |
| lip_stretch_L/R | mouthStretchLeft/Right |
| smile_L/R, frown_L/R | mouthSmileLeft/Right, mouthFrownLeft/Right |
| lips_press | mouthPressLeft + mouthPressRight (the same value twice) |
| upper_lip_raise | mouthUpperUpLeft + mouthUpperUpRight |
| lower_lip_depress | mouthLowerDownLeft + mouthLowerDownRight |
| lower_lip_tuck, upper_lip_bite | mouthRollLower, mouthRollUpper |
| jaw_forward, cheek_puff, tongue_out | jawForward, cheekPuff, tongueOut |
| blink_L/R, squint_L/R | eyeBlinkLeft/Right, eyeSquintLeft/Right |
| brow_raise | browInnerUp + browOuterUpLeft + browOuterUpRight |
| brow_lower | browDownLeft + browDownRight |
| nose_wrinkle | noseSneerLeft + noseSneerRight |
| lips_part, tongue_up, tongue_back | (rig names) |

Left/Right are the subject's own sides (the rig's `_L` is +x, the subject's left, like ARKit).
Reading a group written as several columns takes their mean, a missing one counting as zero
(a file that sets `mouthPressLeft` only moves `lips_press` by half of it).

Pose columns: each axis-angle parameter as intrinsic Y-X-Z Euler angles in radians, FLAME axes
(+x the subject's left, +y up, +z out of the face): `headYaw`/`headPitch`/`headRoll` from
`rotation` (positive yaw turns the face towards the subject's left, positive pitch nods it
down, positive roll tilts it towards the subject's right shoulder), `headX`/`headY`/`headZ`
(`translation`, metres), `neckYaw`/`neckPitch`/`neckRoll` (`neck_pose`), `jawOpen` (the jaw's
pitch / JAW_OPEN_MAX_RAD = 0.35 rad, ARKit's 0..1 scale; beyond 1 opens wider) with `jawYaw`,
`jawRoll` in radians, and `eyeLeftYaw`/`Pitch`/`Roll`, `eyeRightYaw`/... (`eyes_pose`).

An ARKit-52 rig (the embedded human head) writes its own expression names as they are. Its
`jawOpen` expression shares the name of the jaw's pose column, so such a file has one
`jawOpen`: the jaw's pitch / 0.35 plus the expression (the whole opening an ARKit tool
expects), read back as the jaw's pitch with the expression at zero; motion driven from speech
keeps that expression at zero (the jaw opens by its pose), so it reads back exactly.

Reading rules: the `time` column is required, finite and strictly increasing; every cell is a
finite number; a missing curve is zero; the curves are resampled (linear, held at the ends) on
a regular grid from t = 0 at the file's `fps` (JSON) or the rate of its median time step, so a
file this module wrote reads back exactly. Unknown columns: an ARKit-52 name this rig has no
counterpart for (eyeLookUpLeft, mouthDimpleLeft...) is ignored with one line saying which; any
other name is refused (a typo must not silently drop a curve).
"""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from driver.audio import MOTION_FPS
from driver.motion import MotionFrame
from splat.default_rig_spec import JAW_OPEN_MAX_RAD
from splat.errors import UserInputError
from splat.rig import IGNORED_PARAMS, JAW_OPEN_RANGE_RAD, MAX_EXPR_COEFF, MAX_POSE_RAD, POSE_PARAM_SIZES

MOTION_SUFFIXES = {".npz": "flame_param-layout arrays", ".csv": "curves, one column each",
                   ".json": "curves, one list each"}
MOTION_KEYS = ("expr", *POSE_PARAM_SIZES)
# Motion rates a file may declare (frames per second).
MOTION_FPS_RANGE = (1.0, 240.0)
# flame_param.npz identity arrays a motion file may carry; the avatar's own identity is used.
IDENTITY_KEYS = frozenset({"shape", "static_offset"}) | IGNORED_PARAMS
TIME_COLUMN = "time"

ARKIT_52 = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward",
    "jawLeft", "jawRight", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft",
    "mouthRight", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft",
    "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft",
    "noseSneerRight", "tongueOut",
)
# Rig expression -> the ARKit column(s) written for it (the table in the docstring).
ARKIT_NAMES: dict[str, tuple[str, ...]] = {
    "lips_close": ("mouthClose",), "lip_funnel": ("mouthFunnel",),
    "lip_pucker": ("mouthPucker",), "lip_stretch_L": ("mouthStretchLeft",),
    "lip_stretch_R": ("mouthStretchRight",), "smile_L": ("mouthSmileLeft",),
    "smile_R": ("mouthSmileRight",), "frown_L": ("mouthFrownLeft",),
    "frown_R": ("mouthFrownRight",), "lips_press": ("mouthPressLeft", "mouthPressRight"),
    "upper_lip_raise": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "lower_lip_depress": ("mouthLowerDownLeft", "mouthLowerDownRight"),
    "lower_lip_tuck": ("mouthRollLower",), "upper_lip_bite": ("mouthRollUpper",),
    "jaw_forward": ("jawForward",), "cheek_puff": ("cheekPuff",), "tongue_out": ("tongueOut",),
    "blink_L": ("eyeBlinkLeft",), "blink_R": ("eyeBlinkRight",),
    "squint_L": ("eyeSquintLeft",), "squint_R": ("eyeSquintRight",),
    "brow_raise": ("browInnerUp", "browOuterUpLeft", "browOuterUpRight"),
    "brow_lower": ("browDownLeft", "browDownRight"),
    "nose_wrinkle": ("noseSneerLeft", "noseSneerRight"),
}
# Axis-angle parameter (and which 3 of its values) -> its yaw, pitch, roll column names.
_EULER_COLUMNS: tuple[tuple[str, slice, tuple[str, str, str]], ...] = (
    ("rotation", slice(0, 3), ("headYaw", "headPitch", "headRoll")),
    ("neck_pose", slice(0, 3), ("neckYaw", "neckPitch", "neckRoll")),
    ("jaw_pose", slice(0, 3), ("jawYaw", "jawOpen", "jawRoll")),
    ("eyes_pose", slice(0, 3), ("eyeLeftYaw", "eyeLeftPitch", "eyeLeftRoll")),
    ("eyes_pose", slice(3, 6), ("eyeRightYaw", "eyeRightPitch", "eyeRightRoll")),
)
_TRANSLATION_COLUMNS = ("headX", "headY", "headZ")
POSE_COLUMNS = frozenset(c for _, _, cols in _EULER_COLUMNS for c in cols) | set(_TRANSLATION_COLUMNS)
_EULER_ORDER = "YXZ"   # intrinsic: yaw about +y, then pitch about the new x, then roll


# ----------------------------------------------------------------------------- names
def expression_columns(expr_names: Sequence[str]) -> list[tuple[int, tuple[str, ...]]]:
    """(rig expression index, its column names) in rig order: ARKit names where mapped; an
    expression named like a pose column (an ARKit rig's `jawOpen`) has none of its own."""
    return [(i, ARKIT_NAMES.get(name, (name,))) for i, name in enumerate(expr_names)
            if name not in POSE_COLUMNS]


def curve_names(expr_names: Sequence[str]) -> list[str]:
    """Every column a CSV/JSON motion file of this rig holds, `time` first, in file order."""
    names = [TIME_COLUMN]
    for _, columns in expression_columns(expr_names):
        names.extend(columns)
    for _, _, columns in _EULER_COLUMNS:
        names.extend(columns)
    names.extend(_TRANSLATION_COLUMNS)
    return names


# ----------------------------------------------------------------------------- curves
def frames_to_curves(frames: Sequence[MotionFrame], expr_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Frames -> named float64 curves (the CSV/JSON columns), `time` from each frame's `t`."""
    from scipy.spatial.transform import Rotation

    if not frames:
        raise ValueError("no motion frames to write")
    params = _stack(frames, len(expr_names))
    curves = {TIME_COLUMN: np.array([f.t for f in frames], np.float64)}
    for i, columns in expression_columns(expr_names):
        for name in columns:
            curves[name] = params["expr"][:, i].astype(np.float64)
    for key, part, columns in _EULER_COLUMNS:
        angles = Rotation.from_rotvec(params[key][:, part].astype(np.float64)).as_euler(_EULER_ORDER)
        for j, name in enumerate(columns):
            curves[name] = angles[:, j]
    curves["jawOpen"] = curves["jawOpen"] / JAW_OPEN_MAX_RAD
    if "jawOpen" in expr_names:      # an ARKit rig: its jawOpen unit joins the jaw's opening
        curves["jawOpen"] = curves["jawOpen"] + params["expr"][:, list(expr_names).index("jawOpen")]
    for j, name in enumerate(_TRANSLATION_COLUMNS):
        curves[name] = params["translation"][:, j].astype(np.float64)
    return {name: curves[name] for name in curve_names(expr_names)}


def curves_to_params(curves: dict[str, np.ndarray], expr_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Named curves (no `time`) -> (T, n) rig parameter arrays; missing curves are zero and a
    group of columns for one expression is averaged. The inverse of `frames_to_curves`."""
    from scipy.spatial.transform import Rotation

    T = len(next(iter(curves.values())))
    expr = np.zeros((T, len(expr_names)), np.float64)
    for i, columns in expression_columns(expr_names):
        if expr_names[i] in curves:   # the rig's own name is accepted too
            expr[:, i] = curves[expr_names[i]]
        else:                         # a missing column of a group counts as zero
            expr[:, i] = sum(curves.get(c, 0.0) for c in columns) / len(columns)
    params = {"expr": expr}
    for key, size in POSE_PARAM_SIZES.items():
        params[key] = np.zeros((T, size), np.float64)
    for key, part, columns in _EULER_COLUMNS:
        angles = np.stack([curves.get(c, np.zeros(T)) for c in columns], axis=1)
        if columns[1] == "jawOpen":
            angles[:, 1] *= JAW_OPEN_MAX_RAD
        params[key][:, part] = Rotation.from_euler(_EULER_ORDER, angles).as_rotvec()
    params["translation"] = np.stack([curves.get(c, np.zeros(T)) for c in _TRANSLATION_COLUMNS],
                                     axis=1)
    return {k: v.astype(np.float32) for k, v in params.items()}


def _stack(frames: Sequence[MotionFrame], n_expr: int) -> dict[str, np.ndarray]:
    """(T, n) float32 arrays of the frames' parameters (expr padded or cut to the rig's)."""
    out = {}
    for key in MOTION_KEYS:
        rows = [np.asarray(f.params()[key], np.float32).reshape(-1) for f in frames]
        if key == "expr":
            rows = [np.pad(r[:n_expr], (0, max(0, n_expr - r.size))) for r in rows]
        out[key] = np.stack(rows)
    return out


# ----------------------------------------------------------------------------- writing
def write_motion(path: str | Path, frames: Sequence[MotionFrame], expr_names: Sequence[str],
                 fps: float | None = None, rig_id: str = "") -> Path:
    """Write `frames` (rig parameters at their times `t`, seconds from the clip's start) to
    `path`; the extension picks the format (see the module docstring).

    CSV/JSON keep each frame's own time. The npz layout has no time axis, so frames are
    resampled at `fps` (default: the rate of their median time step) from t = 0: regular
    frames at k / fps are written as they are. Raises UserInputError for an unknown extension
    or an unwritable file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MOTION_SUFFIXES:
        raise UserInputError(f"{path}: motion files are {', '.join(MOTION_SUFFIXES)}, "
                             f"not {suffix or 'no extension'!r}")
    if not frames:
        raise UserInputError(f"{path}: no motion frames to write")
    times = np.array([f.t for f in frames], np.float64)
    rate = float(fps) if fps is not None else _rate_of(times)
    try:
        if suffix == ".npz":
            params = _resample(times, _stack(frames, len(expr_names)), rate)
            np.savez(path, **params, fps=np.float32(rate))
        else:
            curves = frames_to_curves(frames, expr_names)
            if suffix == ".csv":
                _write_csv(path, curves)
            else:
                document = {"fps": rate, "rig": rig_id,
                            "columns": {k: [float(x) for x in v] for k, v in curves.items()}}
                path.write_text(json.dumps(document) + "\n")
    except OSError as exc:
        raise UserInputError(f"could not write {path} ({exc.strerror or exc})") from None
    return path


def _write_csv(path: Path, curves: dict[str, np.ndarray]) -> None:
    names = list(curves)
    table = np.stack([curves[n] for n in names], axis=1)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        for row in table:
            writer.writerow([repr(float(x)) for x in row])


# ----------------------------------------------------------------------------- reading
def read_motion(path: str | Path, expr_names: Sequence[str],
                say: Callable[[str], None] = lambda _text: None) -> tuple[list[MotionFrame], float]:
    """A motion file -> regular frames of this rig's parameters and their rate (fps).

    Every failure is one UserInputError naming the file and what is wrong; `say` hears about
    ignored ARKit columns. See the module docstring for the formats and rules.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise UserInputError(f"motion file not found: {path}")
    if suffix == ".npz":
        data, fps = _read_npz(path)
    elif suffix in (".csv", ".json"):
        columns, fps = _read_csv(path) if suffix == ".csv" else _read_json(path)
        data, fps = _params_from_columns(path, columns, fps, expr_names, say)
    else:
        raise UserInputError(f"{path}: --motion reads {', '.join(MOTION_SUFFIXES)} files")
    _check_ranges(path, data)
    T = len(data["expr"])
    n_expr = len(expr_names)
    if data["expr"].shape[1] > n_expr:
        raise UserInputError(f"{path}: expr has {data['expr'].shape[1]} values, the rig has "
                             f"{n_expr}")
    data["expr"] = np.pad(data["expr"], ((0, 0), (0, n_expr - data["expr"].shape[1])))
    frames = [MotionFrame(t=i / fps, **{k: v[i] for k, v in data.items()}) for i in range(T)]
    return frames, fps


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], float]:
    """The flame_param-layout arrays, checked field by field (missing keys are zeros)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = {k: np.asarray(z[k]) for k in z.files}
    except Exception as exc:  # zip/format/OS errors all mean "not a motion file"
        raise UserInputError(f"{path}: not a readable motion .npz ({exc})") from None
    for key in IDENTITY_KEYS:
        raw.pop(key, None)
    non_numeric = sorted(k for k, v in raw.items() if v.dtype.kind not in "fiu")
    if non_numeric:
        raise UserInputError(f"{path}: {', '.join(non_numeric)} must be numeric arrays")
    data = {k: v.astype(np.float32) for k, v in raw.items()}
    fps_value = data.pop("fps", np.float32(MOTION_FPS))
    if fps_value.size != 1:
        raise UserInputError(f"{path}: fps must be one number, got shape {fps_value.shape}")
    fps = _check_fps(path, float(fps_value.reshape(())))
    unknown = set(data) - set(MOTION_KEYS)
    if unknown:
        raise UserInputError(f"{path}: unknown motion keys {sorted(unknown)}; "
                             f"use {', '.join(MOTION_KEYS)} (+ fps)")
    if not data:
        raise UserInputError(f"{path}: no motion arrays (expected some of "
                             f"{', '.join(MOTION_KEYS)})")
    flat = sorted(k for k, v in data.items() if v.ndim != 2)
    if flat:
        raise UserInputError(f"{path}: {', '.join(flat)} must be (frames, values) arrays")
    lengths = {v.shape[0] for v in data.values()}
    if len(lengths) != 1:
        raise UserInputError(f"{path}: motion arrays have different frame counts "
                             f"{ {k: v.shape[0] for k, v in data.items()} }")
    T = lengths.pop()
    if T == 0:
        raise UserInputError(f"{path}: the motion has no frames")
    for k, v in data.items():
        if k != "expr" and v.shape[1] != POSE_PARAM_SIZES[k]:
            raise UserInputError(f"{path}: {k} needs {POSE_PARAM_SIZES[k]} values per frame, "
                                 f"has {v.shape[1]}")
        if not np.isfinite(v).all():
            bad = int(np.flatnonzero(~np.isfinite(v).all(axis=1))[0])
            raise UserInputError(f"{path}: {k} holds NaN or infinite values (first at frame {bad})")
    data.setdefault("expr", np.zeros((T, 0), np.float32))
    for key, size in POSE_PARAM_SIZES.items():
        data.setdefault(key, np.zeros((T, size), np.float32))
    return data, fps


def _read_csv(path: Path) -> tuple[dict[str, list[float]], float | None]:
    """Header row of names, then one row of numbers per frame."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserInputError(f"{path}: not a readable CSV file ({exc})") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise UserInputError(f"{path}: the file is empty (expected a header row with "
                             f"{TIME_COLUMN!r} and curve names)")
    names = [cell.strip() for cell in rows[0]]
    _check_names(path, names)
    columns: dict[str, list[float]] = {n: [] for n in names}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(names):
            raise UserInputError(f"{path}: line {line} has {len(row)} values, the header has "
                                 f"{len(names)}")
        for name, cell in zip(names, row):
            try:
                columns[name].append(float(cell))
            except ValueError:
                raise UserInputError(f"{path}: line {line}, column {name}: {cell!r} is not a "
                                     "number") from None
    return columns, None


def _read_json(path: Path) -> tuple[dict[str, list[float]], float | None]:
    """{"fps": f, "columns": {name: [...]}} or a bare {name: [...]} object."""
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserInputError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(document, dict):
        raise UserInputError(f"{path}: expected a JSON object with a {TIME_COLUMN!r} list and "
                             "one list per curve")
    fps = document.get("fps")
    if "columns" in document:
        columns = document["columns"]
        if not isinstance(columns, dict):
            raise UserInputError(f"{path}: \"columns\" must be an object of name: [values]")
    else:
        columns = {k: v for k, v in document.items() if k not in ("fps", "rig")}
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float))):
        raise UserInputError(f"{path}: fps must be a number, got {fps!r}")
    _check_names(path, list(columns))
    out: dict[str, list[float]] = {}
    for name, values in columns.items():
        if not isinstance(values, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise UserInputError(f"{path}: column {name} must be a list of numbers")
        out[name] = [float(v) for v in values]
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise UserInputError(f"{path}: columns have different lengths "
                             f"{ {k: len(v) for k, v in out.items()} }")
    return out, None if fps is None else float(fps)


def _check_names(path: Path, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if not name:
            raise UserInputError(f"{path}: a column has an empty name")
        if name in seen:
            raise UserInputError(f"{path}: column {name} appears twice")
        seen.add(name)
    if TIME_COLUMN not in seen:
        raise UserInputError(f"{path}: no {TIME_COLUMN!r} column (seconds of each frame); "
                             f"found {', '.join(names[:6])}{', ...' if len(names) > 6 else ''}")


def _params_from_columns(path: Path, columns: dict[str, list[float]], fps: float | None,
                         expr_names: Sequence[str], say: Callable[[str], None]
                         ) -> tuple[dict[str, np.ndarray], float]:
    """Checked columns -> rig parameters on a regular grid, and its rate."""
    arrays = {k: np.asarray(v, np.float64) for k, v in columns.items()}
    times = arrays.pop(TIME_COLUMN)
    if times.size == 0:
        raise UserInputError(f"{path}: the motion has no frames")
    for name, values in [(TIME_COLUMN, times), *arrays.items()]:
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise UserInputError(f"{path}: column {name} holds NaN or infinite values (first "
                                 f"at frame {int(bad[0])})")
    steps = np.diff(times)
    if (steps <= 0).any():
        k = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise UserInputError(f"{path}: time must increase from frame to frame; frame {k} is at "
                             f"{times[k]:g} s after {times[k - 1]:g} s")
    if times[0] < 0:
        raise UserInputError(f"{path}: time starts at {times[0]:g} s; it must be 0 or later")
    known = set(curve_names(expr_names)) | set(expr_names)
    unknown = [n for n in arrays if n not in known]
    ignored = [n for n in unknown if n in ARKIT_52]
    refused = [n for n in unknown if n not in ARKIT_52]
    if refused:
        raise UserInputError(f"{path}: unknown column(s) {', '.join(refused)}; this rig's "
                             f"columns are {', '.join(curve_names(expr_names)[1:8])}, ... "
                             "(ARKit-52 names and the rig's expression names)")
    if ignored:
        say(f"{path}: ignoring ARKit curves this rig has no counterpart for: {', '.join(ignored)}")
    for name in ignored:
        del arrays[name]
    for i, cols in expression_columns(expr_names):
        if expr_names[i] in arrays and any(c in arrays and c != expr_names[i] for c in cols):
            raise UserInputError(f"{path}: {expr_names[i]} is given twice (as {expr_names[i]} "
                                 f"and as {'/'.join(cols)}); keep one")
    rate = (_check_fps(path, fps) if fps is not None else
            _check_fps(path, _rate_of(times), "the frame rate of the time column (fps)"))
    if not arrays:
        arrays = {"jawOpen": np.zeros_like(times)}   # only times: the rest pose throughout
    params = curves_to_params(arrays, expr_names)
    return _resample(times, params, rate), rate


def _rate_of(times: np.ndarray) -> float:
    """The rate of the median time step, as a tidy fraction (30, 30000/1001...)."""
    if times.size < 2:
        return float(MOTION_FPS)
    step = float(np.median(np.diff(times)))
    if not step > 0:
        return float(MOTION_FPS)
    return float(Fraction(1.0 / step).limit_denominator(1001))


def _check_fps(path: Path, fps: float, what: str = "fps") -> float:
    lo, hi = MOTION_FPS_RANGE
    if not math.isfinite(fps) or not lo <= fps <= hi:
        raise UserInputError(f"{path}: {what} must be from {lo:g} to {hi:g}, got {fps:g}")
    return fps


def _resample(times: np.ndarray, params: dict[str, np.ndarray], fps: float) -> dict[str, np.ndarray]:
    """Parameters at `times` -> at k / fps, k = 0..(last time), linear, held at the ends."""
    n = int(math.floor(times[-1] * fps + 1e-6)) + 1
    grid = np.arange(n) / fps
    if times.size == n and np.allclose(times, grid, rtol=0, atol=1e-9):
        return {k: np.asarray(v, np.float32) for k, v in params.items()}
    out = {}
    for key, values in params.items():
        values = np.asarray(values, np.float64)
        out[key] = np.stack([np.interp(grid, times, values[:, j]) for j in range(values.shape[1])],
                            axis=1).astype(np.float32) if values.shape[1] else \
            np.zeros((n, 0), np.float32)
    return out


def _check_ranges(path: Path, data: dict[str, np.ndarray]) -> None:
    """Values no face makes: the rig's shared limits for jaw, rotations and expressions."""

    def refuse(what: str, lo: float, hi: float, values: np.ndarray) -> None:
        outside = (values < lo) | (values > hi)                     # values: (frames, n)
        if outside.any():
            frame = int(np.flatnonzero(outside.any(axis=1))[0])
            raise UserInputError(f"{path}: {what} must stay within {lo:g}..{hi:g}; frame "
                                 f"{frame} has {float(values[frame][outside[frame]][0]):g}")

    refuse("expr", -MAX_EXPR_COEFF, MAX_EXPR_COEFF, data["expr"])
    refuse("jaw_pose[:, 0] (jaw opening, radians)", *JAW_OPEN_RANGE_RAD, data["jaw_pose"][:, :1])
    for key in ("rotation", "neck_pose", "jaw_pose", "eyes_pose"):
        refuse(f"{key} (radians)", -MAX_POSE_RAD, MAX_POSE_RAD, data[key])
