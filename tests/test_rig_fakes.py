"""Tiny fake FLAME-layout models for the rig, avatar and binding tests (no FLAME data in the repo).

The fakes have FLAME's keys, shapes and pickle quirks (chumpy arrays, a scipy.sparse
J_regressor, the uint32 root parent in kintree_table) but random geometry.
"""
from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import scipy.sparse

from splat.rig import RigData

ROOT_PARENT = np.uint32(4294967295)   # what real FLAME files store as the root's parent
N_SHAPE, N_EXPR = 300, 10


def fake_flame_dict(num_verts: int = 60, num_faces: int = 100, seed: int = 0) -> dict:
    """Plain-numpy FLAME-layout dict. Vertices [0, V/3) are jaw-skinned (with jaw correctives),
    two small groups ride the eyes, the rest mix global and neck."""
    rng = np.random.default_rng(seed)
    V = num_verts
    v_template = rng.normal(size=(V, 3)) * 0.05
    v_template[:, 2] += 0.05
    faces = np.stack([rng.choice(V, 3, replace=False) for _ in range(num_faces)]).astype(np.uint32)
    weights = np.zeros((V, 5))
    jaw = np.arange(V // 3)
    weights[jaw, 2] = 1.0
    weights[V // 3:V // 3 + 3, 3] = 1.0
    weights[V // 3 + 3:V // 3 + 6, 4] = 1.0
    rest = np.arange(V // 3 + 6, V)
    mix = rng.uniform(size=len(rest))
    weights[rest, 0], weights[rest, 1] = mix, 1 - mix
    posedirs = rng.normal(size=(V, 3, 36)) * 1e-3
    jaw_cols = slice(9, 18)   # joint 2 (jaw) is the second non-root joint: entries 9..17
    posedirs[V // 3:, :, jaw_cols] = 0.0
    J_regressor = rng.uniform(size=(5, V))
    J_regressor /= J_regressor.sum(1, keepdims=True)
    return {
        "v_template": v_template, "f": faces,
        "shapedirs": rng.normal(size=(V, 3, N_SHAPE + N_EXPR)) * 1e-3,
        "posedirs": posedirs, "J_regressor": J_regressor, "weights": weights,
        "kintree_table": np.array([[ROOT_PARENT, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.uint32),
        "J": J_regressor @ v_template, "bs_style": "lbs", "bs_type": "lrotmin",
    }


def fake_rig_data(num_verts: int = 60, num_faces: int = 100, rig_id: str = "flame2020",
                  seed: int = 0) -> RigData:
    d = fake_flame_dict(num_verts, num_faces, seed)
    return RigData(
        v_template=d["v_template"], faces=d["f"], shapedirs=d["shapedirs"], n_shape=N_SHAPE,
        n_expr=N_EXPR, posedirs=d["posedirs"], J_regressor=d["J_regressor"],
        weights=d["weights"], kintree_table=d["kintree_table"],
        expr_names=[f"expr_{i:03d}" for i in range(N_EXPR)],
        shape_names=[f"shape_{i:03d}" for i in range(N_SHAPE)],
        masks={"lips": np.arange(5), "upper_face": np.arange(5, 10), "eyes": np.arange(20, 26)},
        rig_id=rig_id,
    )


def write_plain_pickle(d: dict, path: Path, sparse_j: bool = False,
                       old_numpy_paths: bool = False) -> None:
    d = dict(d)
    if sparse_j:
        d["J_regressor"] = scipy.sparse.csc_matrix(d["J_regressor"])
    data = pickle.dumps(d, protocol=2)
    if old_numpy_paths:   # what a pickle written by numpy 1.x refers to
        data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    Path(path).write_bytes(data)


def write_chumpy_pickle(d: dict, path: Path) -> None:
    """Pickle `d` with array values wrapped in a stand-in `chumpy.ch.Ch` class, as FLAME 2020
    files are; the fake module is removed again so loading cannot rely on chumpy."""
    chumpy = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")

    class Ch:  # mimics chumpy: the value lives under state["x"], beside bookkeeping
        def __init__(self, x):
            self.x = x

        def __getstate__(self):
            return {"x": self.x, "_dirty_vars": set(), "_parents": {}, "_cache": {}}

        def __setstate__(self, state):
            self.x = state["x"]

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch.Ch = Ch
    chumpy.ch = ch
    wrap = {"v_template", "shapedirs", "posedirs", "weights", "J"}
    saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch")}
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = chumpy, ch
    try:
        wrapped = {k: Ch(v) if k in wrap else v for k, v in d.items()}
        wrapped["J_regressor"] = scipy.sparse.csc_matrix(d["J_regressor"])
        Path(path).write_bytes(pickle.dumps(wrapped, protocol=2))
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
