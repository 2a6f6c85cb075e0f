"""FLAME 2020/2023 model pickles without chumpy, and their vertex masks.

FLAME 2020 files are Python-2 pickles of chumpy arrays (chumpy is unmaintained and breaks on
current numpy), sometimes with a scipy.sparse J_regressor and old numpy module paths. A restricted
unpickler maps chumpy classes to a stand-in that keeps only the array, and refuses any class a
model file has no reason to hold (a pickle can run code; we only load files the user names).
"""
from __future__ import annotations

import dataclasses
import importlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from splat.errors import UserInputError
from splat.rig import RigData

FLAME_IDENTITY_COMPONENTS = 300
MASKS_FILE = "FLAME_masks.pkl"
_REQUIRED = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")
# Everything a FLAME model or mask pickle legitimately references.
_ALLOWED: dict[str, set[str] | None] = {
    "builtins": {"object", "set", "frozenset", "list", "dict", "tuple", "int", "float",
                 "complex", "bytes", "bytearray", "str", "bool", "slice", "range"},
    "copyreg": {"_reconstructor", "__newobj__"},
    "_codecs": {"encode"},
    "numpy": {"ndarray", "dtype", "_reconstruct", "scalar", "_frombuffer"},
    "scipy.sparse": {"csc_matrix", "csr_matrix", "coo_matrix", "csc_array", "csr_array",
                     "coo_array"},
}
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _ChumpyArray:
    """Stand-in for any chumpy class: chumpy pickles an array's value under state['x']."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {}

    def to_numpy(self) -> np.ndarray:
        if "x" not in self.state:
            raise UserInputError("FLAME pickle holds a chumpy expression without a value "
                                 "(state 'x'); re-export the model as plain numpy arrays")
        return np.asarray(_to_numpy(self.state["x"]))


class _FlameUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_MODULES.get(module, module)
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyArray
        if module.startswith("numpy"):                 # numpy.core.multiarray, numpy._core, ...
            if name in _ALLOWED["numpy"]:
                for candidate in (module, module.replace("numpy.core", "numpy._core"), "numpy"):
                    try:
                        obj = getattr(importlib.import_module(candidate), name, None)
                    except ImportError:
                        continue
                    if obj is not None:
                        return obj
        elif module.startswith("scipy.sparse"):       # old private paths: scipy.sparse.csc, ...
            if name in _ALLOWED["scipy.sparse"]:
                return getattr(importlib.import_module("scipy.sparse"), name)
        elif name in (_ALLOWED.get(module) or ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a model file")


def _to_numpy(value: Any) -> Any:
    if isinstance(value, _ChumpyArray):
        return value.to_numpy()
    if hasattr(value, "toarray"):                      # scipy.sparse matrix/array
        return np.asarray(value.toarray())
    return value


def load_restricted_pickle(path: str | Path, what: str = "FLAME pickle") -> Any:
    """A user's pickle read with the restricted unpickler: numpy arrays, scipy.sparse matrices,
    chumpy values and plain containers only, so a crafted file cannot run code. Any failure is
    one UserInputError naming the file and `what` it should have been."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return _FlameUnpickler(fh, encoding="latin1").load()
    except UserInputError:
        raise
    except Exception as exc:
        raise UserInputError(f"{path}: not a readable {what} ({type(exc).__name__}: {exc})"
                             ) from None


def read_flame_pickle(path: str | Path) -> dict[str, Any]:
    """The pickle's dict with chumpy and sparse values turned into dense numpy arrays."""
    raw = load_restricted_pickle(path)
    if not isinstance(raw, dict):
        raise UserInputError(f"{path}: expected a pickled dict, found {type(raw).__name__}")
    return {str(k): _to_numpy(v) for k, v in raw.items()}


def load_flame_pickle(path: str | Path) -> RigData:
    """A FLAME 2020/2023 model as RigData: 300 identity components first, the rest expression."""
    path = Path(path)
    d = read_flame_pickle(path)
    missing = [k for k in _REQUIRED if k not in d]
    if missing:
        raise UserInputError(f"{path}: not a FLAME model (missing {', '.join(missing)})")
    arrays = _numeric_arrays(path, d)
    v_template = arrays["v_template"].astype(np.float32)
    if v_template.ndim != 2 or v_template.shape[1] != 3 or len(v_template) == 0:
        raise UserInputError(f"{path}: v_template has shape {v_template.shape}, expected (V, 3)")
    V = v_template.shape[0]
    _check_per_vertex(path, "shapedirs", arrays["shapedirs"], V, 3, "(V, 3, components)")
    _check_per_vertex(path, "posedirs", arrays["posedirs"], V, 3 * 36, "(V, 3, 36)")
    shapedirs = arrays["shapedirs"].astype(np.float32).reshape(V, 3, -1)
    n_shape = min(FLAME_IDENTITY_COMPONENTS, shapedirs.shape[2])
    n_expr = shapedirs.shape[2] - n_shape
    J_regressor = arrays["J_regressor"].astype(np.float32)
    weights = arrays["weights"].astype(np.float32)
    faces = arrays["f"].astype(np.int64)
    version = "flame2023" if "2023" in path.name else "flame2020"
    rig = RigData(   # checks the arrays against each other before the masks use them
        v_template=v_template, faces=faces, shapedirs=shapedirs, n_shape=n_shape, n_expr=n_expr,
        posedirs=arrays["posedirs"].astype(np.float32).reshape(V, 3, -1),
        J_regressor=J_regressor, weights=weights,
        kintree_table=arrays["kintree_table"].astype(np.int64),
        expr_names=[f"expr_{i:03d}" for i in range(n_expr)],
        shape_names=[f"shape_{i:03d}" for i in range(n_shape)],
        rig_id=version,
    )
    masks = load_flame_masks(path.parent / MASKS_FILE, V)
    if masks is None:
        masks = geometric_masks(rig.v_template, rig.weights, rig.J_regressor)
    return dataclasses.replace(rig, masks=masks)


def _numeric_arrays(path: Path, d: dict[str, Any]) -> dict[str, np.ndarray]:
    """The required entries as finite numeric arrays, or a UserInputError naming the field."""
    out: dict[str, np.ndarray] = {}
    for key in _REQUIRED:
        arr = np.asarray(d[key])
        if arr.dtype.kind not in "fiub":
            raise UserInputError(f"{path}: {key} is not a numeric array ({arr.dtype})")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise UserInputError(f"{path}: {key} holds NaN or infinite values")
        out[key] = arr
    return out


def _check_per_vertex(path: Path, key: str, arr: np.ndarray, num_verts: int, per_vertex: int,
                      layout: str) -> None:
    """Refuse an array that cannot be laid out per vertex of v_template (before a reshape
    would fail with numpy's own message, or silently regroup the values)."""
    if arr.ndim == 0 or arr.size == 0 or arr.shape[0] != num_verts \
            or arr.size % (num_verts * per_vertex):
        raise UserInputError(f"{path}: {key} has shape {arr.shape}, which does not fit the "
                             f"{num_verts} vertices of v_template (expected {layout})")


def load_flame_masks(path: Path, num_verts: int) -> dict[str, np.ndarray] | None:
    """FLAME_masks.pkl's regions plus the three our metrics need; None when absent or foreign.

    upper_face = forehead + eye_region + nose (what moves little in speech, for FDD);
    eyes = both eyeballs (gaze and blinks).
    """
    if not path.is_file():
        return None
    regions = {k: np.asarray(v, dtype=np.int64).ravel() for k, v in read_flame_pickle(path).items()
               if isinstance(v, np.ndarray) and v.dtype.kind in "iu"}
    needed = ("lips", "forehead", "eye_region", "nose", "left_eyeball", "right_eyeball")
    if any(k not in regions for k in needed) or any(
            v.size and v.max() >= num_verts for v in regions.values()):
        return None
    masks = dict(regions)
    masks["upper_face"] = np.unique(np.concatenate(
        [regions["forehead"], regions["eye_region"], regions["nose"]]))
    masks["eyes"] = np.unique(np.concatenate([regions["left_eyeball"], regions["right_eyeball"]]))
    masks["eyeballs"] = masks["eyes"]
    return masks


def geometric_masks(v_template: np.ndarray, weights: np.ndarray, J_regressor: np.ndarray
                    ) -> dict[str, np.ndarray]:
    """Crude lips / upper_face / eyes masks from skinning weights and joint positions.

    Only a fallback when FLAME_masks.pkl is missing: eyes = vertices skinned to the eye joints;
    lips = front-facing vertices partly skinned to the jaw (the mouth corners and lip line);
    upper_face = front vertices above the lowest eye-joint height minus one eyeball radius.
    """
    joints = J_regressor @ v_template                       # (5,3)
    eyes = np.flatnonzero(weights[:, 3:5].sum(1) > 0.5)
    jaw = weights[:, 2]
    front_z = np.quantile(v_template[:, 2], 0.75)
    lips = np.flatnonzero((jaw > 0.2) & (jaw < 0.8) & (v_template[:, 2] > front_z))
    eye_y = joints[3:5, 1].min()
    radius = 0.0125                                          # a human eyeball's radius, metres
    upper = np.flatnonzero((v_template[:, 1] > eye_y - radius) & (v_template[:, 2] > front_z))
    upper = np.setdiff1d(upper, eyes)
    return {"lips": lips, "upper_face": upper, "eyes": eyes, "eyeballs": eyes}
