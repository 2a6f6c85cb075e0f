"""Gaussian avatars on disk: GaussianAvatars folders and plain 3DGS PLYs, validated on load.

An avatar folder holds `point_cloud.ply` (Gaussians in parent-triangle local space with a
`binding_0` face index), optionally `flame_param.npz` (identity and a recorded motion) and
optionally the project's own `rig.npz`. A PLY without `binding_0` is a plain world-space 3DGS
scene. Files come from users, so every way they can be wrong ends in a one-line UserInputError.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from plyfile import PlyData, PlyElement

from splat.errors import UserInputError
from splat.rig import RigData, load_rig_data

PLY_NAME = "point_cloud.ply"
FLAME_PARAM_NAME = "flame_param.npz"
RIG_NAME = "rig.npz"
FLAME_NUM_FACES = 9976          # plain FLAME; GaussianAvatars' teeth add 168 faces after these
FLAME_TEETH_NUM_FACES = 10144
# Degenerate Gaussians a trained file can still hold: a log-scale above this is a Gaussian over
# e^12 (160000x) its parent triangle or metre, covering any view; a quaternion this short has no
# orientation (normalising it divides by ~0).
MAX_LOG_SCALE = 12.0
MIN_QUAT_NORM = 1e-6
# flame_param.npz magnitudes past which a value is corrupt rather than unusual: static_offset is
# a per-vertex identity offset in metres (real ones are millimetres), the rest are FLAME
# coefficients, poses and translations.
_FLAME_PARAM_LIMITS = {"static_offset": 1.0}
_FLAME_PARAM_LIMIT = 1000.0
_BASE_PROPS = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
               "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
# Extra properties of relightable avatars (readers that do not know them ignore them).
_MATERIAL_PROPS = {"albedo": ["albedo_0", "albedo_1", "albedo_2"], "normals": ["nx", "ny", "nz"],
                   "specular": ["spec_0", "spec_1"]}


@dataclass
class GaussianAvatar:
    """Raw (not activated) Gaussian attributes plus what binds them to a rig; numpy float32.

    xyz (N,3) triangle-local (world when `binding` is None); log_scales (N,3); quats (N,4) w,x,y,z
    as stored; opacity_logits (N,); sh (N,K,3) with K = (degree+1)^2 indexed [gaussian, coeff,
    rgb]; binding (N,) int64 parent faces or None; flame_param: arrays of flame_param.npz.
    """

    xyz: np.ndarray
    log_scales: np.ndarray
    quats: np.ndarray
    opacity_logits: np.ndarray
    sh: np.ndarray
    binding: np.ndarray | None = None
    flame_param: dict[str, np.ndarray] = field(default_factory=dict)
    source: Path = Path(".")
    # Relightable avatars (the embedded heads; splat.relight): albedo (N,3) in [0,1], shading
    # normals (N,3) in the parent triangle's frame (stored in the PLY's nx ny nz), specular
    # (N,2) strength and exponent. None for ordinary avatars, which keep their baked colour.
    albedo: np.ndarray | None = None
    normals: np.ndarray | None = None
    specular: np.ndarray | None = None

    @property
    def relightable(self) -> bool:
        return self.albedo is not None and self.normals is not None and self.specular is not None

    @property
    def sh_degree(self) -> int:
        return int(round(self.sh.shape[1] ** 0.5)) - 1

    def __len__(self) -> int:
        return int(self.xyz.shape[0])


# ----------------------------------------------------------------------------------- loading

def load_avatar(path: str | Path) -> GaussianAvatar:
    """Load an avatar folder (point_cloud.ply [+ flame_param.npz]) or a single .ply file."""
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"avatar not found: {path}")
    ply_path = path / PLY_NAME if path.is_dir() else path
    if not ply_path.is_file():
        raise UserInputError(f"avatar folder {path} has no {PLY_NAME}")
    avatar = read_ply(ply_path)
    param_path = ply_path.parent / FLAME_PARAM_NAME
    if param_path.is_file():
        avatar.flame_param = load_flame_param(param_path)
    return avatar


def read_ply(path: str | Path) -> GaussianAvatar:
    """Parse a GaussianAvatars or plain 3DGS PLY (SH degree 0..3 inferred from f_rest_*)."""
    path = Path(path)
    try:
        ply = PlyData.read(str(path))
        vertex = ply["vertex"]
        data = vertex.data
        count = vertex.count
        if len(data) != count:
            raise ValueError(f"{len(data)} of {count} Gaussians present")
    except KeyError:
        raise UserInputError(f"{path}: PLY has no 'vertex' element (not a Gaussian splat file)") from None
    except Exception as exc:  # plyfile raises several types for non-PLY, corrupt and cut files
        raise UserInputError(f"{path}: not a readable PLY file, or it is corrupt or truncated "
                             f"({type(exc).__name__}: {exc})") from None
    names = set(data.dtype.names or ())
    missing = [p for p in _BASE_PROPS if p not in names]
    if missing:
        raise UserInputError(f"{path}: PLY lacks Gaussian properties: {', '.join(missing)}")
    if count == 0:
        raise UserInputError(f"{path}: PLY holds no Gaussians")
    n_rest = sum(1 for n in names if n.startswith("f_rest_"))
    if n_rest % 3 or (n_rest // 3 + 1) not in (1, 4, 9, 16):
        raise UserInputError(f"{path}: PLY has {n_rest} f_rest_* properties; "
                             "expected 0, 9, 24 or 45 (SH degree 0-3)")
    missing_rest = [f"f_rest_{i}" for i in range(n_rest) if f"f_rest_{i}" not in names]
    if missing_rest:
        raise UserInputError(f"{path}: PLY lacks {', '.join(missing_rest)}")

    def cols(props: list[str]) -> np.ndarray:
        out = np.empty((count, len(props)), dtype=np.float32)
        for i, p in enumerate(props):
            out[:, i] = data[p]
        return out

    k_rest = n_rest // 3
    dc = cols(["f_dc_0", "f_dc_1", "f_dc_2"])
    rest = cols([f"f_rest_{i}" for i in range(n_rest)]).reshape(count, 3, k_rest)  # channel-major
    sh = np.concatenate([dc[:, None, :], rest.transpose(0, 2, 1)], axis=1)
    avatar = GaussianAvatar(
        xyz=cols(["x", "y", "z"]), log_scales=cols(["scale_0", "scale_1", "scale_2"]),
        quats=cols(["rot_0", "rot_1", "rot_2", "rot_3"]),
        opacity_logits=np.asarray(data["opacity"], dtype=np.float32), sh=np.ascontiguousarray(sh),
        binding=None, source=path,
    )
    for name in ("xyz", "log_scales", "quats", "opacity_logits", "sh"):
        if not np.isfinite(getattr(avatar, name)).all():
            raise UserInputError(f"{path}: PLY holds NaN or infinite values ({name})")
    if all(p in names for props in _MATERIAL_PROPS.values() for p in props):
        for attr, props in _MATERIAL_PROPS.items():
            values = cols(props)
            if not np.isfinite(values).all():
                raise UserInputError(f"{path}: PLY holds NaN or infinite values ({attr})")
            setattr(avatar, attr, values)
    if "binding_0" in names:
        raw = np.asarray(data["binding_0"], dtype=np.float64)
        if not np.isfinite(raw).all() or (raw < 0).any() or (raw != np.round(raw)).any():
            raise UserInputError(f"{path}: binding_0 must hold non-negative whole face indices")
        avatar.binding = raw.astype(np.int64)
    return drop_degenerate(avatar)


def drop_degenerate(avatar: GaussianAvatar) -> GaussianAvatar:
    """Remove Gaussians with a zero quaternion or a huge scale, with a warning saying how many.

    A handful of such Gaussians (an optimiser that diverged on a few) would otherwise paint the
    whole frame or render nothing; when every Gaussian is degenerate nothing usable is left and
    the file is refused.
    """
    zero_quat = np.linalg.norm(avatar.quats, axis=1) < MIN_QUAT_NORM
    huge = avatar.log_scales.max(axis=1) > MAX_LOG_SCALE
    bad = zero_quat | huge
    if not bad.any():
        return avatar
    path = avatar.source
    if bad.all():
        raise UserInputError(f"{path}: every Gaussian is degenerate ({int(zero_quat.sum())} with "
                             f"an all-zero rotation, {int(huge.sum())} with a log-scale above "
                             f"{MAX_LOG_SCALE:g}); nothing would render")
    warnings.warn(f"{path}: dropped {int(bad.sum())} of {len(avatar)} degenerate Gaussians "
                  f"({int(zero_quat.sum())} with an all-zero rotation, {int(huge.sum())} with a "
                  f"log-scale above {MAX_LOG_SCALE:g})", stacklevel=2)
    keep = ~bad
    return GaussianAvatar(
        xyz=avatar.xyz[keep], log_scales=avatar.log_scales[keep], quats=avatar.quats[keep],
        opacity_logits=avatar.opacity_logits[keep], sh=avatar.sh[keep],
        binding=None if avatar.binding is None else avatar.binding[keep],
        flame_param=avatar.flame_param, source=path,
        **{a: None if getattr(avatar, a) is None else getattr(avatar, a)[keep] for a in _MATERIAL_PROPS})


def load_flame_param(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays of a GaussianAvatars flame_param.npz (float32; rows are time steps)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            params = {k: np.asarray(z[k]) for k in z.files}
    except Exception as exc:
        raise UserInputError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc})") from None
    out: dict[str, np.ndarray] = {}
    for key, value in params.items():
        if value.dtype.kind not in "fiu":
            raise UserInputError(f"{path}: {key} is not numeric")
        value = value.astype(np.float32)
        if not np.isfinite(value).all():
            raise UserInputError(f"{path}: {key} holds NaN or infinite values")
        limit = _FLAME_PARAM_LIMITS.get(key, _FLAME_PARAM_LIMIT)
        if value.size and float(np.abs(value).max()) > limit:
            raise UserInputError(f"{path}: {key} holds {float(np.abs(value).max()):g}, beyond "
                                 f"the plausible +-{limit:g}; the file is corrupt")
        out[key] = value
    return out


# ----------------------------------------------------------------------------------- writing

def write_ply(avatar: GaussianAvatar, path: str | Path) -> None:
    """Write the GaussianAvatars property order (binding_0 last, only when bound)."""
    n, k = avatar.sh.shape[0], avatar.sh.shape[1]
    normals = avatar.normals if avatar.relightable else np.zeros((n, 3))
    columns: list[tuple[str, np.ndarray]] = [
        ("x", avatar.xyz[:, 0]), ("y", avatar.xyz[:, 1]), ("z", avatar.xyz[:, 2]),
        ("nx", normals[:, 0]), ("ny", normals[:, 1]), ("nz", normals[:, 2]),
    ]
    columns += [(f"f_dc_{c}", avatar.sh[:, 0, c]) for c in range(3)]
    rest = avatar.sh[:, 1:, :].transpose(0, 2, 1).reshape(n, 3 * (k - 1))  # channel-major
    columns += [(f"f_rest_{i}", rest[:, i]) for i in range(rest.shape[1])]
    columns += [("opacity", avatar.opacity_logits)]
    columns += [(f"scale_{i}", avatar.log_scales[:, i]) for i in range(3)]
    columns += [(f"rot_{i}", avatar.quats[:, i]) for i in range(4)]
    if avatar.relightable:
        columns += [(p, avatar.albedo[:, i]) for i, p in enumerate(_MATERIAL_PROPS["albedo"])]
        columns += [(p, avatar.specular[:, i]) for i, p in enumerate(_MATERIAL_PROPS["specular"])]
    if avatar.binding is not None:
        columns += [("binding_0", avatar.binding)]
    records = np.empty(n, dtype=[(name, "f4") for name, _ in columns])
    for name, col in columns:
        records[name] = col
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    PlyData([PlyElement.describe(records, "vertex")]).write(str(path))


def save_avatar(avatar: GaussianAvatar, folder: str | Path) -> None:
    """Write point_cloud.ply and, when there are any, flame_param.npz into `folder`."""
    folder = Path(folder)
    write_ply(avatar, folder / PLY_NAME)
    if avatar.flame_param:
        np.savez(folder / FLAME_PARAM_NAME,
                 **{k: np.asarray(v, dtype=np.float32) for k, v in avatar.flame_param.items()})


# -------------------------------------------------------------------------------- rig checks

def _is_plain_flame(rig: RigData) -> bool:
    return rig.rig_id.startswith("flame") and not rig.rig_id.endswith("+teeth")


def check_avatar_against_rig(avatar: GaussianAvatar, rig: RigData) -> None:
    """Refuse an avatar that cannot ride `rig`, saying what to change when we can tell."""
    if avatar.binding is not None:
        top = int(avatar.binding.max())
        if top >= rig.num_faces:
            hint = ("; avatar expects teeth; enable the teeth extension (--teeth)"
                    if _is_plain_flame(rig) and top < FLAME_TEETH_NUM_FACES
                    else "; it was made for another rig")
            raise UserInputError(f"avatar binds to faces up to {top} but the rig "
                                 f"{rig.rig_id!r} has {rig.num_faces}{hint}")
    fp = avatar.flame_param
    if "shape" in fp and fp["shape"].size != rig.n_shape:
        raise UserInputError(f"avatar's flame_param has {fp['shape'].size} shape values but the "
                             f"rig {rig.rig_id!r} has {rig.n_shape}")
    if "expr" in fp and fp["expr"].size and fp["expr"].shape[-1] > rig.n_expr:
        raise UserInputError(f"avatar's flame_param has {fp['expr'].shape[-1]} expression values "
                             f"but the rig {rig.rig_id!r} has {rig.n_expr}")
    if "static_offset" in fp:
        offset_verts = fp["static_offset"].reshape(-1, 3).shape[0]
        if offset_verts != rig.num_verts:
            raise UserInputError(f"avatar's static_offset covers {offset_verts} vertices but the "
                                 f"rig {rig.rig_id!r} has {rig.num_verts}")


def resolve_avatar_rig(avatar_dir: str | Path, flame_pkl: str | Path | None = None,
                       teeth: bool | None = None, avatar: GaussianAvatar | None = None
                       ) -> RigData | None:
    """The rig an avatar rides: its folder's own rig.npz, else the user's FLAME pickle.

    With a FLAME pickle, `teeth=None` turns the teeth extension on exactly when the avatar binds
    to teeth faces. A plain world-space 3DGS scene needs no rig: None, unless one is given.
    Pass the already loaded `avatar` to avoid reading its PLY twice.
    """
    avatar_dir = Path(avatar_dir)
    folder = avatar_dir if avatar_dir.is_dir() else avatar_dir.parent
    if avatar is None:
        avatar = load_avatar(avatar_dir)
    own_rig = folder / RIG_NAME
    if own_rig.is_file():
        if flame_pkl is not None:
            raise UserInputError(f"avatar {folder} carries its own rig ({RIG_NAME}); "
                                 "--flame applies only to FLAME-bound avatars")
        rig = load_rig_data(own_rig, teeth=bool(teeth))
    elif flame_pkl is None:
        if avatar.binding is None:
            return None
        raise UserInputError(f"avatar {folder} has no {RIG_NAME}; give the FLAME model it was "
                             "made for with --flame PATH (generic_model.pkl or flame2023.pkl)")
    else:
        if teeth is None:
            teeth = avatar.binding is not None and int(avatar.binding.max()) >= FLAME_NUM_FACES
        rig = load_rig_data(flame_pkl, teeth=teeth)
    check_avatar_against_rig(avatar, rig)
    return rig
