"""Builds the default rig and avatar and writes them (`python main.py assets` calls this).

Deterministic by construction: numpy seeded Generators, single-threaded torch for the binding
inverse, and npz members written with fixed timestamps and fixed compression, so the same seed
on the same machine gives byte-identical files (the manifest test relies on it).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from splat.avatar import FLAME_PARAM_NAME, PLY_NAME, RIG_NAME, save_avatar
from splat.default_rig_spec import EXPRESSION_NAMES
from splat.procedural.blendshapes import expression_shapedirs
from splat.procedural.gaussians import build_avatar
from splat.procedural.geometry import HeadGeometry, build_head
from splat.procedural.head_mesh import lip_heights
from splat.procedural.identity import MOUTH_HALF_WIDTH, SHAPE_NAMES, Y_MOUTH, Identity
from splat.procedural.mesh_builder import Part
from splat.procedural.skinning import KINTREE_TABLE, joint_regressor, skinning_weights
from splat.rig import RigData, save_rig_data

RIG_ID = "procedural-head-v1"
DEFAULT_SEED = 7
OUTPUT_FILES = (RIG_NAME, PLY_NAME, FLAME_PARAM_NAME)


def _masks(geo: HeadGeometry) -> dict[str, np.ndarray]:
    """Vertex index sets: lips, upper_face (FDD), eyes, mouth, teeth, tongue, eyeballs, eyelids."""
    n_skin = len(geo.skin.verts)
    # Builder coordinates: the regions keep the vertex sets they were first defined on while
    # the proportions are polished (the speech model is trained against these masks).
    x, y, z = geo.builder_verts.T
    skin = np.arange(len(x)) < n_skin
    up, low = lip_heights(x)
    dy = y - Y_MOUTH
    red_lip = skin & (dy < up + 0.001) & (dy > -low - 0.001) & (np.abs(x) < MOUTH_HALF_WIDTH + 0.002) & (z > 0.06)
    inner = geo.part == Part.INNER_LIP
    lid_w = sum(geo.eyelids.upper[s] + geo.eyelids.lower[s] for s in (1, -1))
    eyelids = np.zeros(len(x), dtype=bool)
    eyelids[:n_skin] = lid_w > 0.05
    eyeballs = geo.part == Part.EYEBALL
    teeth = np.isin(geo.part, [Part.TEETH_UPPER, Part.TEETH_LOWER])
    tongue = geo.part == Part.TONGUE
    upper_face = skin & (y > -0.047) & (y < 0.07) & (np.abs(x) < 0.06) & (z > 0.035)
    mouth_skin = skin & (np.abs(x) < 0.036) & (dy > -0.022) & (dy < 0.016) & (z > 0.05)
    inside = inner | teeth | tongue | (geo.part == Part.CAVITY)
    sets = {
        "lips": red_lip | inner, "upper_face": upper_face, "eyes": eyelids | eyeballs,
        "mouth": mouth_skin | inside, "teeth": teeth, "tongue": tongue, "eyeballs": eyeballs,
        "eyelids": eyelids,
    }
    return {k: np.flatnonzero(v).astype(np.int64) for k, v in sets.items()}


def build_rig(geo: HeadGeometry) -> RigData:
    """The rig's FLAME-layout arrays from the default head and its identity variants."""
    identity_dirs = [build_head(Identity().with_unit(name)).verts - geo.verts for name in SHAPE_NAMES]
    weights = skinning_weights(geo)
    expr_dirs = expression_shapedirs(geo, weights[:, 2])
    shapedirs = np.concatenate([np.stack(identity_dirs, axis=-1), expr_dirs], axis=-1)
    return RigData(
        v_template=geo.verts, faces=geo.faces, shapedirs=shapedirs,
        n_shape=len(SHAPE_NAMES), n_expr=len(EXPRESSION_NAMES),
        posedirs=np.zeros((len(geo.verts), 3, 36)), J_regressor=joint_regressor(geo),
        weights=weights, kintree_table=KINTREE_TABLE, expr_names=list(EXPRESSION_NAMES),
        shape_names=list(SHAPE_NAMES), masks=_masks(geo), rig_id=RIG_ID,
    )


def neutral_flame_param(rig: RigData) -> dict[str, np.ndarray]:
    """Identity zeros and one neutral time step, GaussianAvatars' flame_param.npz layout."""
    z = lambda *s: np.zeros(s, dtype=np.float32)  # noqa: E731
    return {"shape": z(rig.n_shape), "static_offset": z(1, rig.num_verts, 3),
            "expr": z(1, rig.n_expr), "rotation": z(1, 3), "neck_pose": z(1, 3),
            "jaw_pose": z(1, 3), "eyes_pose": z(1, 6), "translation": z(1, 3)}


def _deflate_npz(path: Path) -> None:
    """Rewrite an .npz with deflate compression and fixed member dates (small, reproducible)."""
    with zipfile.ZipFile(path) as src:
        members = [(info.filename, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, data, compresslevel=6)


def generate_default_avatar(out_dir: Path, seed: int = DEFAULT_SEED) -> list[Path]:
    """Write rig.npz, point_cloud.ply and flame_param.npz into out_dir; returns their paths."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        geo = build_head(Identity())
        rig = build_rig(geo)
        save_rig_data(rig, out_dir / RIG_NAME)
        avatar = build_avatar(geo, neutral_flame_param(rig), seed)
        save_avatar(avatar, out_dir)
        for name in (RIG_NAME, FLAME_PARAM_NAME):
            _deflate_npz(out_dir / name)
    finally:
        torch.set_num_threads(threads)
    return [out_dir / name for name in OUTPUT_FILES]
