"""FLAME-format rigs: the data layout, its files, and differentiable linear blend skinning.

One layout serves FLAME 2020/2023 pickles (loaded by `splat.flame_pickle`) and the project's own
rigs (`.npz` with the same keys), so every consumer (binding, metrics, training losses, the live
app) deforms meshes through the same `Rig` module. The math follows REFERENCE.md §1.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from splat.errors import UserInputError

NUM_JOINTS = 5
JOINT_NAMES: tuple[str, ...] = ("global", "neck", "jaw", "left_eye", "right_eye")
# Parameter name -> values per frame; `shape`/`expr` lengths come from the rig.
POSE_PARAM_SIZES: dict[str, int] = {
    "rotation": 3, "neck_pose": 3, "jaw_pose": 3, "eyes_pose": 6, "translation": 3,
}
# flame_param.npz keys that the rig deliberately ignores (GaussianAvatars stores but never uses).
IGNORED_PARAMS = frozenset({"dynamic_offset"})
# Plausible values a user or a motion file may set, shared by every place that checks them.
# Jaw opening (jaw_pose[0], radians): a human jaw closes a little past rest and opens to about
# 40 degrees; far beyond is a typo, and an axis-angle past pi silently wraps to another pose.
JAW_OPEN_RANGE_RAD = (-0.2, 0.7)
# Any axis-angle component of a pose parameter: beyond pi the rotation wraps.
MAX_POSE_RAD = 3.1416
# Expression coefficients: speech uses about 0..1 (the default rig) or a few standard
# deviations (FLAME's PCA); 10 is far past any face and still renders without blowing up.
MAX_EXPR_COEFF = 10.0


@dataclass
class RigData:
    """A FLAME-layout rig as plain numpy arrays (the file-level truth; `Rig` is its torch twin).

    shapedirs holds `n_shape` identity components followed by `n_expr` expression components;
    posedirs keeps FLAME's (V,3,36) layout: 4 non-root joints x 9 entries of (R - I).
    """

    v_template: np.ndarray          # (V,3) float32
    faces: np.ndarray               # (F,3) int64
    shapedirs: np.ndarray           # (V,3,S+E) float32
    n_shape: int
    n_expr: int
    posedirs: np.ndarray            # (V,3,36) float32
    J_regressor: np.ndarray         # (5,V) float32, dense
    weights: np.ndarray             # (V,5) float32
    kintree_table: np.ndarray       # (2,5) int64
    expr_names: list[str]
    shape_names: list[str]
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # name -> int64 vertex indices
    rig_id: str = "unnamed"

    def __post_init__(self) -> None:
        for name, dtype in (("v_template", np.float32), ("faces", np.int64),
                            ("shapedirs", np.float32), ("posedirs", np.float32),
                            ("J_regressor", np.float32), ("weights", np.float32),
                            ("kintree_table", np.int64)):
            try:
                setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype))
            except (TypeError, ValueError):
                raise UserInputError(f"rig {self.rig_id!r}: {name} is not a numeric array"
                                     ) from None
        self.n_shape, self.n_expr = int(self.n_shape), int(self.n_expr)
        self.expr_names = [str(n) for n in self.expr_names]
        self.shape_names = [str(n) for n in self.shape_names]
        self.masks = {str(k): np.asarray(v, dtype=np.int64).ravel() for k, v in self.masks.items()}
        self.rig_id = str(self.rig_id)
        self.validate()

    @property
    def num_verts(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    def validate(self) -> None:
        """Check that the arrays agree with each other; a rig file from a user may not."""
        v = self.v_template.shape[0]
        expect = {
            "v_template": (self.v_template, (v, 3)),
            "shapedirs": (self.shapedirs, (v, 3, self.n_shape + self.n_expr)),
            "posedirs": (self.posedirs, (v, 3, 9 * (NUM_JOINTS - 1))),
            "J_regressor": (self.J_regressor, (NUM_JOINTS, v)),
            "weights": (self.weights, (v, NUM_JOINTS)),
            "kintree_table": (self.kintree_table, (2, NUM_JOINTS)),
        }
        for name, (arr, shape) in expect.items():
            if arr.shape != shape:
                raise UserInputError(
                    f"rig {self.rig_id!r}: {name} has shape {arr.shape}, expected {shape}")
            if not np.isfinite(arr).all():   # one NaN vertex blanks every rendered frame
                raise UserInputError(f"rig {self.rig_id!r}: {name} holds NaN or infinite values")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3 or len(self.faces) == 0:
            raise UserInputError(f"rig {self.rig_id!r}: faces must be a non-empty (F,3) array")
        if self.faces.min() < 0 or self.faces.max() >= v:
            raise UserInputError(f"rig {self.rig_id!r}: faces index vertices outside 0..{v - 1}")
        if len(self.expr_names) != self.n_expr or len(self.shape_names) != self.n_shape:
            raise UserInputError(f"rig {self.rig_id!r}: name lists do not match the blendshape counts")
        for name, idx in self.masks.items():
            if idx.size and (idx.min() < 0 or idx.max() >= v):
                raise UserInputError(f"rig {self.rig_id!r}: mask {name!r} indexes missing vertices")

    def topology_digest(self) -> str:
        return topology_digest(self.faces, self.num_verts)


def topology_digest(faces: np.ndarray, num_verts: int) -> str:
    """`V<v>-F<f>-<sha1[:12]>`: what a checkpoint records to refuse rigs it was not trained on."""
    faces = np.ascontiguousarray(faces, dtype="<i8")
    digest = hashlib.sha1(faces.tobytes()).hexdigest()[:12]
    return f"V{num_verts}-F{faces.shape[0]}-{digest}"


# --------------------------------------------------------------------------------------- files

def load_rig_data(path: str | Path, teeth: bool = False) -> RigData:
    """Load a FLAME pickle (`.pkl`) or a project rig (`.npz`); `teeth` adds GaussianAvatars' teeth."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"rig file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".pkl", ".npz"):
        raise UserInputError(f"{path}: unknown rig format (expected a FLAME .pkl or a rig .npz)")
    try:
        if suffix == ".pkl":
            from splat.flame_pickle import load_flame_pickle
            rig = load_flame_pickle(path)
        else:
            rig = _load_npz(path)
    except UserInputError as exc:       # RigData's checks name the rig; say which file it is
        message = str(exc)
        raise UserInputError(message if str(path) in message else f"{path}: {message}") from None
    if teeth and not rig.rig_id.endswith("+teeth"):
        from splat.teeth import add_teeth
        rig = add_teeth(rig)
    return rig


def save_rig_data(rig: RigData, path: str | Path) -> None:
    """Write the project's `.npz` rig layout (loadable by `load_rig_data`)."""
    arrays: dict[str, np.ndarray] = {
        "v_template": rig.v_template, "faces": rig.faces, "shapedirs": rig.shapedirs,
        "posedirs": rig.posedirs, "J_regressor": rig.J_regressor, "weights": rig.weights,
        "kintree_table": rig.kintree_table,
        "expr_names": np.asarray(rig.expr_names, dtype=np.str_),
        "shape_names": np.asarray(rig.shape_names, dtype=np.str_),
        "rig_id": np.asarray(rig.rig_id, dtype=np.str_),
    }
    for name, idx in rig.masks.items():
        arrays[f"mask_{name}"] = idx
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:  # a file handle keeps numpy from appending ".npz" to odd names
        np.savez(fh, **arrays)


def _load_npz(path: Path) -> RigData:
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile/ValueError/OSError: all mean "not a readable npz"
        raise UserInputError(f"{path}: not a readable rig .npz ({exc})") from None
    required = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                "kintree_table", "expr_names")
    missing = [k for k in required if k not in data]
    if "faces" not in data and "f" not in data:
        missing.append("faces")
    if missing:
        raise UserInputError(f"{path}: rig .npz lacks {', '.join(missing)}")
    expr_names = [str(n) for n in data["expr_names"].tolist()]
    n_total = int(data["shapedirs"].shape[-1]) if data["shapedirs"].ndim == 3 else -1
    shape_names = ([str(n) for n in data["shape_names"].tolist()] if "shape_names" in data
                   else [f"shape_{i:03d}" for i in range(max(n_total - len(expr_names), 0))])
    masks = {k[len("mask_"):]: v for k, v in data.items() if k.startswith("mask_")}
    return RigData(
        v_template=data["v_template"], faces=data.get("faces", data.get("f")),
        shapedirs=data["shapedirs"], n_shape=len(shape_names), n_expr=len(expr_names),
        posedirs=data["posedirs"], J_regressor=data["J_regressor"], weights=data["weights"],
        kintree_table=data["kintree_table"], expr_names=expr_names, shape_names=shape_names,
        masks=masks, rig_id=str(data["rig_id"]) if "rig_id" in data else path.stem,
    )


# ---------------------------------------------------------------------------------------- math

def axis_angle_to_matrix(rvec: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, (...,3) -> (...,3,3); the epsilon keeps gradients finite at zero."""
    angle = torch.linalg.vector_norm(rvec + 1e-8, dim=-1, keepdim=True)
    axis = rvec / angle
    cos, sin = torch.cos(angle)[..., None], torch.sin(angle)[..., None]
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*rvec.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rvec.dtype, device=rvec.device)
    return eye + sin * K + (1.0 - cos) * (K @ K)


class Rig(torch.nn.Module):
    """Differentiable, batched FLAME LBS: parameters -> vertices (B,V,3).

    Everything per-vertex is a single matrix product so one frame of a ~10k-vertex rig costs
    about a millisecond on a CPU; the kinematic chain loops over only five joints.
    """

    def __init__(self, rig_data: RigData) -> None:
        super().__init__()
        self.data = rig_data
        self.n_shape, self.n_expr = rig_data.n_shape, rig_data.n_expr
        self.expr_names = list(rig_data.expr_names)
        self.shape_names = list(rig_data.shape_names)
        self.masks = rig_data.masks
        self.num_verts = rig_data.num_verts
        self.rig_id = rig_data.rig_id
        self.joint_names = JOINT_NAMES
        parents = [int(p) for p in rig_data.kintree_table[0]]
        parents[0] = -1
        if any(not (0 <= p < j) for j, p in enumerate(parents) if j > 0):
            raise UserInputError(f"rig {rig_data.rig_id!r}: kintree_table is not a joint tree")
        self.parents = parents

        f32 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
        V, K = self.num_verts, self.n_shape + self.n_expr
        J_reg = f32(rig_data.J_regressor)
        dirs = f32(rig_data.shapedirs)                                        # (V,3,K)
        self.register_buffer("faces", torch.as_tensor(rig_data.faces, dtype=torch.long))
        self.register_buffer("v_template", f32(rig_data.v_template))
        self.register_buffer("shapedirs_T", dirs.reshape(V * 3, K).T.contiguous())  # (K,V*3)
        self.register_buffer("posedirs_T", f32(rig_data.posedirs).reshape(V * 3, -1).T.contiguous())
        self.register_buffer("J_regressor", J_reg)
        self.register_buffer("J_template", J_reg @ self.v_template)          # (5,3)
        self.register_buffer("J_shapedirs",                                   # (K,15)
                             torch.einsum("jv,vck->kjc", J_reg, dirs).reshape(K, -1).contiguous())
        self.register_buffer("weights", f32(rig_data.weights))

    def topology_digest(self) -> str:
        return self.data.topology_digest()

    def batch_params(self, params: Mapping[str, object]) -> dict[str, torch.Tensor]:
        """Numpy/torch, batched or not -> float32 tensors (B,...) on the rig's device."""
        device = self.v_template.device
        out: dict[str, torch.Tensor] = {}
        for key, value in params.items():
            if key in IGNORED_PARAMS:
                continue
            if key not in POSE_PARAM_SIZES and key not in ("shape", "expr", "static_offset"):
                raise KeyError(f"unknown rig parameter {key!r}")
            t = torch.as_tensor(value, dtype=torch.float32, device=device)
            unbatched_ndim = 2 if key == "static_offset" else 1
            out[key] = t.unsqueeze(0) if t.ndim == unbatched_ndim else t
        return out

    def forward(self, params: Mapping[str, object]) -> torch.Tensor:
        """Vertices (B,V,3); missing parameters are zeros, B=1 inputs broadcast to the batch."""
        p = self.batch_params(params)
        B = max([t.shape[0] for t in p.values()], default=1)
        dev, dt = self.v_template.device, self.v_template.dtype

        betas = torch.cat([self._coeffs(p, "shape", self.n_shape, B),
                           self._coeffs(p, "expr", self.n_expr, B)], dim=1)      # (B,K)
        v_shaped = self.v_template + (betas @ self.shapedirs_T).view(B, -1, 3)
        joints = self.J_template + (betas @ self.J_shapedirs).view(B, NUM_JOINTS, 3)
        if "static_offset" in p:
            offset = p["static_offset"]
            if offset.shape[-2:] != (self.num_verts, 3):
                raise UserInputError(f"static_offset has shape {tuple(offset.shape)}, the rig "
                                     f"has {self.num_verts} vertices")
            v_shaped = v_shaped + offset
            joints = joints + torch.einsum("jv,bvc->bjc", self.J_regressor, offset)

        pose = torch.cat([self._vec(p, k, B) for k in ("rotation", "neck_pose", "jaw_pose",
                                                         "eyes_pose")], dim=1)
        rot = axis_angle_to_matrix(pose.view(B, NUM_JOINTS, 3))                # (B,5,3,3)
        eye = torch.eye(3, device=dev, dtype=dt)
        pose_feature = (rot[:, 1:] - eye).reshape(B, -1)                        # (B,36)
        v_posed = v_shaped + (pose_feature @ self.posedirs_T).view(B, -1, 3)

        A = self._joint_transforms(rot, joints)                                 # (B,5,3,4)
        T = torch.einsum("vj,bjk->bvk", self.weights, A.reshape(B, NUM_JOINTS, 12))
        T = T.view(B, -1, 3, 4)
        verts = (T[..., :3] @ v_posed.unsqueeze(-1)).squeeze(-1) + T[..., 3]
        return verts + self._vec(p, "translation", B)[:, None, :]

    def _joint_transforms(self, rot: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        """World transforms along the kinematic tree, relative to the rest pose: (B,5,3,4)."""
        world_R: list[torch.Tensor] = []
        world_t: list[torch.Tensor] = []
        for j, parent in enumerate(self.parents):
            if parent < 0:
                world_R.append(rot[:, j])
                world_t.append(joints[:, j])
            else:
                local_t = joints[:, j] - joints[:, parent]
                world_R.append(world_R[parent] @ rot[:, j])
                world_t.append(world_t[parent] + (world_R[parent] @ local_t.unsqueeze(-1)).squeeze(-1))
        R = torch.stack(world_R, dim=1)
        t = torch.stack(world_t, dim=1)
        # Subtract the rest-pose joint position so the transform acts on rest-pose vertices.
        t = t - (R @ joints.unsqueeze(-1)).squeeze(-1)
        return torch.cat([R, t.unsqueeze(-1)], dim=-1)

    def _coeffs(self, p: dict[str, torch.Tensor], key: str, n: int, B: int) -> torch.Tensor:
        """(B,n) coefficients, zero-padded: FLAME fits often store fewer components than exist."""
        dev, dt = self.v_template.device, self.v_template.dtype
        if key not in p:
            return torch.zeros(B, n, device=dev, dtype=dt)
        t = p[key]
        if t.ndim != 2 or t.shape[1] > n:
            raise UserInputError(f"parameter {key!r} has {t.shape[-1]} values but the rig "
                                 f"{self.rig_id!r} has {n}")
        if t.shape[1] < n:
            t = torch.nn.functional.pad(t, (0, n - t.shape[1]))
        return t.expand(B, n)

    def _vec(self, p: dict[str, torch.Tensor], key: str, B: int) -> torch.Tensor:
        size = POSE_PARAM_SIZES[key]
        if key not in p:
            return torch.zeros(B, size, device=self.v_template.device, dtype=self.v_template.dtype)
        t = p[key]
        if t.ndim != 2 or t.shape[1] != size:
            raise UserInputError(f"parameter {key!r} must have {size} values per frame, "
                                 f"got shape {tuple(t.shape)}")
        return t.expand(B, size)
