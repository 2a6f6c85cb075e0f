"""The human head's FLAME-layout rig: joints, skinning, 52 ARKit expressions, identity shapes.

- Skinning: MakeHuman's per-bone weights folded onto FLAME's five joints by the bone hierarchy
  (the jaw and everything under it, incl. the lower-lip bones and the tongue -> jaw; the head's
  other descendants -> neck; the neck bones blend from global to neck going up; eyeballs 100% to
  their eye joint).
- Joints: the eyes are their eyeballs' centroids; the others are affine combinations of the
  nearest skin vertices that reproduce MakeHuman's joint positions exactly (minimum-norm
  weights), so identity shapes carry the joints with the mesh as FLAME's J_regressor does.
- Expressions: the Face Units pack's 52 ARKit targets, by ARKit name, in the standard order.
- Identity: a few paired MakeHuman targets as signed components ((incr - decr) / 2, so +1 is
  one extreme and -1 the other).
"""
from __future__ import annotations

import json

import numpy as np

from splat.human.head_mesh import HeadMesh, HPart
from splat.human.makehuman import parse_target, parse_weights
from splat.human.source import FACEUNITS, MPFB, MakeHumanData
from splat.mesh_ops import vertex_normals
from splat.rig import RigData

GLOBAL, NECK, JAW, EYE_L, EYE_R = range(5)
KINTREE_TABLE = np.array([[-1, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64)
RIG_ID = "makehuman-head-v1"
ARKIT_NAMES: tuple[str, ...] = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
    "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight",
    "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft",
    "noseSneerRight", "tongueOut",
)
# Identity component name -> (target at +1, target at -1), paths under mpfb2/targets/.
T = "targets/"
SHAPE_TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "masculine": ((T + "macrodetails/caucasian-male-young.target.gz",),
                  (T + "macrodetails/caucasian-female-young.target.gz",)),
    "head_fat": ((T + "head/head-fat-incr.target.gz",), (T + "head/head-fat-decr.target.gz",)),
    "face_oval": ((T + "head/head-oval.target.gz",), (T + "head/head-round.target.gz",)),
    "nose_size": ((T + "nose/nose-scale-horiz-incr.target.gz", T + "nose/nose-scale-vert-incr.target.gz"),
                  (T + "nose/nose-scale-horiz-decr.target.gz", T + "nose/nose-scale-vert-decr.target.gz")),
    "mouth_width": ((T + "mouth/mouth-scale-horiz-incr.target.gz",),
                    (T + "mouth/mouth-scale-horiz-decr.target.gz",)),
    "lip_fullness": ((T + "mouth/mouth-lowerlip-volume-incr.target.gz", T + "mouth/mouth-upperlip-volume-incr.target.gz"),
                     (T + "mouth/mouth-lowerlip-volume-decr.target.gz", T + "mouth/mouth-upperlip-volume-decr.target.gz")),
    "chin_prominent": ((T + "chin/chin-prominent-incr.target.gz",), (T + "chin/chin-prominent-decr.target.gz",)),
    "jaw_width": ((T + "chin/chin-width-incr.target.gz",), (T + "chin/chin-width-decr.target.gz",)),
    "cheek_bones": ((T + "cheek/l-cheek-bones-incr.target.gz", T + "cheek/r-cheek-bones-incr.target.gz"),
                    (T + "cheek/l-cheek-bones-decr.target.gz", T + "cheek/r-cheek-bones-decr.target.gz")),
    "eye_size": ((T + "eyes/l-eye-scale-incr.target.gz", T + "eyes/r-eye-scale-incr.target.gz"),
                 (T + "eyes/l-eye-scale-decr.target.gz", T + "eyes/r-eye-scale-decr.target.gz")),
}
# Share of each neck bone that follows the head (the rest stays with the shoulders).
NECK_BLEND = {"neck03": 0.8, "neck02": 0.45, "neck01": 0.15}
JOINT_NEIGHBOURS = 24


def _bone_classes(rig_json: dict) -> dict[str, int]:
    """Bone -> FLAME joint by ancestry (eye bones handled per vertex)."""
    parent = {b: info.get("parent") for b, info in rig_json.items()}

    def ancestors(bone: str) -> list[str]:
        out = []
        while parent.get(bone):
            bone = parent[bone]
            out.append(bone)
        return out

    classes = {}
    for bone in rig_json:
        chain = [bone] + ancestors(bone)
        classes[bone] = JAW if "jaw" in chain else NECK if "head" in chain else GLOBAL
    return classes


def skinning_weights(data: MakeHumanData, head: HeadMesh, num_hm08: int) -> np.ndarray:
    """(V,5) convex weights."""
    bones = parse_weights(data.text(MPFB + "rigs/standard/weights.default.json"), num_hm08)
    classes = _bone_classes(json.loads(data.text(MPFB + "rigs/standard/rig.default.json")))
    w = np.zeros((len(head.verts), 5))
    for bone, field in bones.items():
        share = head.from_hm08(field)
        if bone in NECK_BLEND:
            w[:, NECK] += NECK_BLEND[bone] * share
            w[:, GLOBAL] += (1.0 - NECK_BLEND[bone]) * share
        else:
            w[:, classes.get(bone, GLOBAL)] += share
    w[w.sum(axis=1) < 1e-6, GLOBAL] = 1.0
    w /= w.sum(axis=1, keepdims=True)
    for joint, side in ((EYE_L, 1.0), (EYE_R, -1.0)):
        eye = (head.part == HPart.EYEBALL) & (np.sign(head.verts[:, 0]) == side)
        w[eye] = 0.0
        w[eye, joint] = 1.0
    upper = head.part == HPart.TEETH_UPPER
    w[upper] = 0.0
    w[upper, NECK] = 1.0
    return w


def _affine_row(verts: np.ndarray, candidates: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Minimum-norm weights over the nearest candidates with sum 1 and sum w*v = point."""
    near = candidates[np.argsort(np.linalg.norm(verts[candidates] - point, axis=1),
                                 kind="stable")[:JOINT_NEIGHBOURS]]
    A = np.vstack([verts[near].T, np.ones(len(near))])       # (4,k)
    b = np.append(point, 1.0)
    row = np.zeros(len(verts))
    row[near] = A.T @ np.linalg.solve(A @ A.T, b)
    return row


def joint_regressor(head: HeadMesh, joint_points: dict[int, np.ndarray]) -> np.ndarray:
    """(5,V): eye centroids; global/neck/jaw reproduce MakeHuman's joint positions."""
    J = np.zeros((5, len(head.verts)))
    skin = np.flatnonzero(head.part == HPart.SKIN)
    for joint in (GLOBAL, NECK, JAW):
        J[joint] = _affine_row(head.verts, skin, joint_points[joint])
    for joint, side in ((EYE_L, 1.0), (EYE_R, -1.0)):
        eye = np.flatnonzero((head.part == HPart.EYEBALL) & (np.sign(head.verts[:, 0]) == side))
        J[joint, eye] = 1.0 / len(eye)
    return J


def expression_dirs(data: MakeHumanData, head: HeadMesh, num_hm08: int) -> np.ndarray:
    """(V,3,52) ARKit face units."""
    fields = [head.from_hm08(parse_target(data.read(f"{FACEUNITS}{name}.target"), num_hm08))
              for name in ARKIT_NAMES]
    return np.stack(fields, axis=-1)


def identity_dirs(data: MakeHumanData, head: HeadMesh, num_hm08: int) -> np.ndarray:
    """(V,3,S) signed identity components."""
    def total(paths: tuple[str, ...]) -> np.ndarray:
        return sum(head.from_hm08(parse_target(data.read(MPFB + p), num_hm08)) for p in paths)
    return np.stack([(total(pos) - total(neg)) / 2.0 for pos, neg in SHAPE_TARGETS.values()],
                    axis=-1)


def rig_masks(head: HeadMesh, lips: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """The vertex sets the project's rigs name (lips, upper_face, eyes, mouth, ...)."""
    x, y, z = head.verts.T
    skin = head.part == HPart.SKIN
    lips = np.isin(np.arange(len(x)), lips)
    normals = vertex_normals(head.verts, head.faces)
    eyeballs = head.part == HPart.EYEBALL
    mouth_y = float(y[lips].mean())
    eye_y = float(y[eyeballs].mean())
    front = skin & (z > 0.0) & (normals[:, 2] > 0.2)
    eyelids = front & (np.abs(np.abs(x) - 0.031) < 0.02) & (np.abs(y - eye_y) < 0.016)
    upper_face = front & (y > mouth_y + 0.012) & (y < eye_y + 0.06) & (np.abs(x) < 0.065)
    mouth = (skin & front & (np.abs(x) < 0.035) & (np.abs(y - mouth_y) < 0.02)) | lips | \
        np.isin(head.part, [HPart.TEETH_UPPER, HPart.TEETH_LOWER, HPart.TONGUE])
    nose = front & (np.abs(x) < 0.02) & (y < eye_y - 0.005) & (y > mouth_y + 0.012) & (z > 0.07)
    forehead = front & (y > eye_y + 0.025) & (y < eye_y + 0.07) & (np.abs(x) < 0.04)
    sets = {
        "lips": lips, "upper_face": upper_face, "eyes": eyelids | eyeballs, "mouth": mouth,
        "teeth": np.isin(head.part, [HPart.TEETH_UPPER, HPart.TEETH_LOWER]),
        "tongue": head.part == HPart.TONGUE, "eyeballs": eyeballs, "eyelids": eyelids,
        "nose": nose, "forehead": forehead, "lashes": head.part == HPart.LASH,
    }
    return {k: np.flatnonzero(v).astype(np.int64) for k, v in sets.items()}


def build_rig(head: HeadMesh, weights: np.ndarray, J: np.ndarray, expr: np.ndarray,
              shape: np.ndarray, masks: dict[str, np.ndarray]) -> RigData:
    return RigData(
        v_template=head.verts, faces=head.faces,
        shapedirs=np.concatenate([shape, expr], axis=-1), n_shape=shape.shape[-1],
        n_expr=expr.shape[-1], posedirs=np.zeros((len(head.verts), 3, 36)), J_regressor=J,
        weights=weights, kintree_table=KINTREE_TABLE, expr_names=list(ARKIT_NAMES),
        shape_names=list(SHAPE_TARGETS), masks=masks, rig_id=RIG_ID)
