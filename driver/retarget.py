"""Motion retargeting: drive one FLAME-layout rig with motion predicted for another.

A regressor predicts the parameters of the rig it was trained on (the default model: the
procedural head's 27 named expressions + jaw). A user's GaussianAvatars avatar lives on FLAME
(100 PCA expression components). Both rigs share FLAME's joint layout, so poses carry over; the
expression spaces do not, so we build a linear map between them from geometry alone:

1. Similarity alignment (weighted Umeyama) of the source template onto the target template from
   landmarks every FLAME-layout rig has or lets us find: eye joints, lip centroid, mouth corners,
   nose tip, chin, plus centroids of anatomical masks both rigs name alike (nose, forehead);
   then a few trimmed ICP steps fit the similarity to the face surfaces themselves.
2. Dense correspondence: every target vertex takes the closest point of the aligned source
   surface (barycentric on a triangle with a compatible normal), restricted to the same part
   class (eyeballs, teeth and tongue only match their own kind; a part the other rig lacks
   drops out of the fit).
3. Each source blendshape's displacement field is carried to the target vertices (rotated and
   scaled by the alignment) and the target's expression coefficients are fitted by ridge
   regularised, area- and lip-weighted least squares over the moving face region: one matrix
   `M (n_src_expr x n_tgt_expr)`, so retargeting a frame is `expr_tgt = expr_src @ M`.
   An ARKit-52 target driven from the default rig (the embedded human head) takes its
   expressions from the native map by name instead (driver.arkit_map: the fit cannot know that
   mouthClose only seals lips as far as the jaw opened them); steps 1 and 4 still apply.
4. Poses pass through, conjugated by the alignment rotation (exactly pass-through when the rigs
   share FLAME's axes); translation is scaled and rotated, and corrected for the two rigs' root
   joints sitting in different places so a global head rotation pivots where the source did.

The fit takes about a second on a 5023-vertex FLAME; the result is cached per pair of rigs
(by content, not only topology: FLAME 2020 and 2023 share faces but not bases).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from driver import arkit_map
from driver.motion import MotionFrame
from splat.errors import UserInputError
from splat.mesh_ops import (Similarity, closest_points_on_nearby_triangles, triangle_normals,
                            trimmed_icp, umeyama, vertex_areas, vertex_normals)
from splat.rig import RigData, load_rig_data
from splat.user_dirs import cache_dir

if TYPE_CHECKING:
    from driver.streaming import MotionEngine

METHOD_VERSION = 1                       # bump when the fit changes: old cache files go stale
EXCLUSIVE_PARTS = ("eyeballs", "teeth", "tongue")   # parts that only correspond to their kind
LANDMARK_WEIGHTS = {"eye_L": 1.0, "eye_R": 1.0, "lips": 1.0, "mouth_L": 1.0, "mouth_R": 1.0,
                    "nose_tip": 1.0, "chin": 0.5, "mask_nose": 0.5, "mask_forehead": 0.5}
ICP_ITERATIONS = 8
SHARED_MASK_LANDMARKS = ("nose", "forehead")
CANDIDATE_TRIANGLES = 24                 # nearest source triangles examined per target vertex
JAW_WEIGHT_COST = 0.03                  # x eye distance per unit of jaw-skinning mismatch
MAX_CORRESPONDENCE = 0.25                # x eye distance: farther target vertices have no partner
ACTIVE_MARGIN = 0.3                      # x eye distance: still region around moving source parts


# --------------------------------------------------------------------------------- landmarks

def part_mask(rig: RigData, part: str) -> np.ndarray:
    """Vertex indices of an exclusive part; FLAME masks name eyeballs per side."""
    if part == "eyeballs" and "eyeballs" not in rig.masks:
        sides = [rig.masks[k] for k in ("left_eyeball", "right_eyeball") if k in rig.masks]
        return np.unique(np.concatenate(sides)) if sides else np.zeros(0, np.int64)
    return rig.masks.get(part, np.zeros(0, np.int64))


def vertex_parts(rig: RigData) -> np.ndarray:
    """Per-vertex part label: 0 = skin, i+1 = EXCLUSIVE_PARTS[i]."""
    labels = np.zeros(rig.num_verts, np.int64)
    for i, part in enumerate(EXCLUSIVE_PARTS):
        labels[part_mask(rig, part)] = i + 1
    return labels


@dataclass(frozen=True)
class FaceFrame:
    """A rig's own face axes (x to the subject's left, y up, z forward) from eyes and lips, so
    landmark searches work however the rig is posed in its file."""

    origin: np.ndarray                   # between the eyes
    axes: np.ndarray                     # (3,3) rows x, y, z
    eye_dist: float

    def local(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, np.float64) - self.origin) @ self.axes.T


def face_frame(rig: RigData) -> FaceFrame:
    joints = rig.J_regressor.astype(np.float64) @ rig.v_template
    eye_l, eye_r = joints[3], joints[4]
    lips = rig.masks.get("lips", np.zeros(0, np.int64))
    if lips.size == 0:
        raise UserInputError(f"rig {rig.rig_id!r} has no 'lips' mask; it cannot be retargeted")
    x = eye_l - eye_r
    eye_dist = float(np.linalg.norm(x))
    if eye_dist < 1e-6:
        raise UserInputError(f"rig {rig.rig_id!r}: its eye joints coincide; cannot find its face")
    x /= eye_dist
    origin = (eye_l + eye_r) / 2
    up = origin - rig.v_template[lips].mean(0)
    up -= (up @ x) * x
    up /= np.linalg.norm(up)
    return FaceFrame(origin, np.stack([x, up, np.cross(x, up)]), eye_dist)


def landmarks(rig: RigData, frame: FaceFrame) -> dict[str, np.ndarray]:
    """Named 3D landmarks of a rig's template (a landmark the rig cannot show is left out)."""
    v = rig.v_template.astype(np.float64)
    loc = frame.local(v)
    skin = vertex_parts(rig) == 0
    lips = rig.masks["lips"]
    lips_loc = loc[lips].mean(0)
    ed = frame.eye_dist
    joints = rig.J_regressor.astype(np.float64) @ v
    out = {"eye_L": joints[3], "eye_R": joints[4], "lips": v[lips].mean(0),
           "mouth_L": v[lips[np.argmax(loc[lips, 0])]], "mouth_R": v[lips[np.argmin(loc[lips, 0])]]}
    # The nose tip: most forward midline point between 30% and 85% of the way from the eye
    # line down to the lips (above that the brow ridge can stand out further on a flat nose).
    nose = (skin & (np.abs(loc[:, 0]) < 0.2 * ed) & (loc[:, 1] < 0.3 * lips_loc[1])
            & (loc[:, 1] > 0.85 * lips_loc[1]))
    if nose.any():
        out["nose_tip"] = v[np.flatnonzero(nose)[np.argmax(loc[nose, 2])]]
    chin = (skin & (np.abs(loc[:, 0]) < 0.15 * ed) & (rig.weights[:, 2] > 0.5)
            & (loc[:, 2] > lips_loc[2] - 0.35 * ed) & (loc[:, 1] < lips_loc[1]))
    if chin.any():
        out["chin"] = v[np.flatnonzero(chin)[np.argmin(loc[chin, 1])]]
    for name in SHARED_MASK_LANDMARKS:
        if rig.masks.get(name, np.zeros(0)).size:
            out[f"mask_{name}"] = v[rig.masks[name]].mean(0)
    return out


def align(source: RigData, target: RigData) -> tuple[Similarity, float]:
    """Similarity of source onto target: landmarks give the start, ICP on the face surface the
    answer (landmarks are only as exact as the mesh resolution). Also returns the landmarks'
    RMS misfit under the result (target units: how different the faces' proportions are)."""
    ls, lt = landmarks(source, face_frame(source)), landmarks(target, face_frame(target))
    names = [n for n in LANDMARK_WEIGHTS if n in ls and n in lt]
    src = np.stack([ls[n] for n in names])
    dst = np.stack([lt[n] for n in names])
    sim = umeyama(src, dst, np.array([LANDMARK_WEIGHTS[n] for n in names]))
    sim = refine_on_surface(sim, source, target)
    rms = float(np.sqrt(np.mean(np.sum((sim.apply(src) - dst) ** 2, axis=1))))
    return sim, rms


def face_vertices(rig: RigData) -> np.ndarray:
    """Skin vertices of the face proper: within 1.2 eye distances of the point between the
    eyes and the lips, facing forward (no ears, scalp or neck, whose shapes vary most)."""
    frame = face_frame(rig)
    loc = frame.local(rig.v_template)
    centre = frame.local(rig.v_template[rig.masks["lips"]]).mean(0) / 2
    normals = vertex_normals(rig.v_template.astype(np.float64), rig.faces) @ frame.axes.T
    near = np.linalg.norm(loc - centre, axis=1) < 1.2 * frame.eye_dist
    return np.flatnonzero(near & (normals[:, 2] > 0.2) & (vertex_parts(rig) == 0))


def refine_on_surface(sim: Similarity, source: RigData, target: RigData) -> Similarity:
    """Trimmed similarity ICP: target face vertices <- closest source surface points."""
    face = face_vertices(target)
    area = vertex_areas(target.v_template.astype(np.float64), target.faces)[face]
    src_v = source.v_template.astype(np.float64)

    def match(current: Similarity) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        corr = correspond(current.apply(src_v), source, target, np.inf, only=face)
        partner = np.einsum("nc,ncd->nd", corr.bary[face], src_v[source.faces[corr.tri[face]]])
        return partner, corr.distance[face], corr.valid[face]

    return trimmed_icp(sim, match, target.v_template[face].astype(np.float64), area,
                       ICP_ITERATIONS)


# ---------------------------------------------------------------------------- correspondence

@dataclass
class Correspondence:
    """Target vertex i <- source triangle tri[i] at barycentric bary[i]; valid[i] False where
    no compatible source surface is near."""

    tri: np.ndarray                      # (Vt,) source face index
    bary: np.ndarray                     # (Vt,3)
    valid: np.ndarray                    # (Vt,) bool
    distance: np.ndarray                 # (Vt,) with the jaw-weight term


def correspond(source_verts: np.ndarray, source: RigData, target: RigData, max_dist: float,
               only: np.ndarray | None = None) -> Correspondence:
    """Closest compatible source surface point for every target vertex (source_verts already
    placed in target space); a target part the source lacks gets no partner.

    Distance is measured with the jaw skinning weight as a fourth coordinate, so where the
    lips touch an upper-lip vertex (head-skinned) never takes the lower lip (jaw-skinned).
    `only` limits the work to those target vertices (the rest stay invalid)."""
    tgt_v = target.v_template.astype(np.float64)
    tgt_n = vertex_normals(tgt_v, target.faces)
    tri_v = source_verts[source.faces]
    tri_n = triangle_normals(source_verts, source.faces)
    tri_part = vertex_parts(source)[source.faces].max(axis=1)
    tgt_part = vertex_parts(target)
    n_t = target.num_verts
    jaw_cost = JAW_WEIGHT_COST * face_frame(target).eye_dist
    tgt_jaw = target.weights[:, 2].astype(np.float64) * jaw_cost
    tri_jaw = source.weights[source.faces, 2].astype(np.float64) * jaw_cost      # (F,3)
    out = Correspondence(np.zeros(n_t, np.int64), np.zeros((n_t, 3)), np.zeros(n_t, bool),
                         np.full(n_t, np.inf))
    wanted = np.zeros(n_t, bool)
    wanted[np.arange(n_t) if only is None else only] = True
    for part in np.unique(tgt_part[wanted]):
        faces = np.flatnonzero(tri_part == part)
        verts = np.flatnonzero((tgt_part == part) & wanted)
        if faces.size:
            _match_part(out, verts, faces, (tgt_v, tgt_n, tgt_jaw), (tri_v, tri_n, tri_jaw),
                        max_dist)
    return out


def _match_part(out: Correspondence, verts: np.ndarray, faces: np.ndarray,
                tgt: tuple[np.ndarray, np.ndarray, np.ndarray],
                src: tuple[np.ndarray, np.ndarray, np.ndarray], max_dist: float) -> None:
    """Fill `out` for target vertices `verts` from source faces `faces`; tgt/src are
    (positions, normals, scaled jaw weights) of target vertices / source triangles."""
    (tgt_v, tgt_n, tgt_jaw), (tri_v, tri_n, tri_jaw) = tgt, src
    local, points, bary = closest_points_on_nearby_triangles(tgt_v[verts], tri_v[faces],
                                                             CANDIDATE_TRIANGLES)
    n, k = local.shape
    cand = faces[local]                                                      # (n,k) face ids
    flat = cand.ravel()
    dist = np.linalg.norm(points - tgt_v[verts][:, None], axis=2)
    jaw_gap = (np.einsum("nc,nc->n", bary.reshape(-1, 3), tri_jaw[flat]).reshape(n, k)
               - tgt_jaw[verts, None])
    dist = np.sqrt(dist ** 2 + jaw_gap ** 2)
    facing = np.einsum("nc,nc->n", np.repeat(tgt_n[verts], k, axis=0), tri_n[flat]) > 0
    facing = facing.reshape(n, k)
    dist = np.where(facing, dist, np.inf)
    best = np.argmin(dist, axis=1)
    rows = np.arange(n)
    out.tri[verts] = cand[rows, best]
    out.bary[verts] = bary[rows, best]
    out.distance[verts] = dist[rows, best]
    out.valid[verts] = dist[rows, best] <= max_dist


# ------------------------------------------------------------------------------------- fit

@dataclass
class RetargetFit:
    """What the expensive part produces (and the cache stores)."""

    matrix: np.ndarray                   # (n_src_expr, n_tgt_expr)
    residual: np.ndarray                 # (n_src_expr,) relative residual, 0 = perfect
    similarity: Similarity
    landmark_rms: float                  # target units
    region_size: int                     # target vertices in the fit


def expression_dirs(rig: RigData) -> np.ndarray:
    """(V,3,E) float64 expression blendshapes."""
    return rig.shapedirs[:, :, rig.n_shape:].astype(np.float64)


def fit_retarget(source: RigData, target: RigData, ridge: float = 1e-4,
                 lips_weight: float = 4.0) -> RetargetFit:
    """The full method (module docstring): alignment, correspondence, weighted ridge fit."""
    if source.n_expr == 0 or target.n_expr == 0:
        raise UserInputError(f"retargeting needs expression blendshapes on both rigs "
                             f"({source.rig_id!r}: {source.n_expr}, {target.rig_id!r}: "
                             f"{target.n_expr})")
    sim, rms = align(source, target)
    eye_dist = face_frame(target).eye_dist
    placed = sim.apply(source.v_template)
    corr = correspond(placed, source, target, MAX_CORRESPONDENCE * eye_dist)
    src_dirs = expression_dirs(source)
    region = corr.valid & _near_motion(placed, source.faces, src_dirs, corr,
                                       ACTIVE_MARGIN * eye_dist)
    idx = np.flatnonzero(region)
    if idx.size < 3:
        raise UserInputError(f"rigs {source.rig_id!r} and {target.rig_id!r} share no face "
                             "surface after alignment; cannot retarget")
    corners = source.faces[corr.tri[idx]]                                 # (n,3)
    moved = np.einsum("nc,ncdk->ndk", corr.bary[idx], src_dirs[corners])  # (n,3,Es)
    moved = sim.scale * np.einsum("ij,njk->nik", sim.R, moved)
    weights = vertex_areas(target.v_template.astype(np.float64), target.faces)[idx]
    weights *= np.where(np.isin(idx, target.masks["lips"]), lips_weight, 1.0)
    B = expression_dirs(target)[idx]                                      # (n,3,Et)
    matrix, fit_resid = _ridge_fit(B, moved, weights, ridge)
    lost = _lost_fraction(source, target, src_dirs)
    residual = np.sqrt((1 - lost) * fit_resid ** 2 + lost)
    return RetargetFit(matrix.astype(np.float32), residual, sim, rms, int(idx.size))


def _near_motion(placed: np.ndarray, faces: np.ndarray, src_dirs: np.ndarray,
                 corr: Correspondence, margin: float) -> np.ndarray:
    """Target vertices whose source partner moves under some expression, or lies within
    `margin` of a vertex that does (the still rim tells the fit where motion must stop)."""
    magnitude = np.linalg.norm(src_dirs, axis=1).max(axis=1)
    active = magnitude > 0.01 * magnitude.max()
    dist, _ = cKDTree(placed[active]).query(placed, k=1)
    return (dist <= margin)[faces[corr.tri]].any(axis=1)


def _ridge_fit(B: np.ndarray, D: np.ndarray, weights: np.ndarray, ridge: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """argmin_M sum_i w_i |B_i M^T - D_i|^2 + lam |M|^2 with lam = ridge * mean diag(B^T W B)
    (scale-free), and each source column's weighted relative residual."""
    n, _, Et = B.shape
    w = np.repeat(weights, 3)
    Bf, Df = B.reshape(n * 3, Et), D.reshape(n * 3, -1)
    gram = Bf.T @ (w[:, None] * Bf)
    lam = ridge * np.trace(gram) / Et
    coeffs = np.linalg.solve(gram + lam * np.eye(Et), Bf.T @ (w[:, None] * Df))   # (Et,Es)
    err = Bf @ coeffs - Df
    total = np.sqrt(w @ Df ** 2)
    resid = np.sqrt(w @ err ** 2) / np.where(total > 0, total, 1.0)
    return coeffs.T, resid


def _lost_fraction(source: RigData, target: RigData, src_dirs: np.ndarray) -> np.ndarray:
    """Per source expression, the share of its (area-weighted) motion energy on parts the
    target does not have (e.g. a tongue): that motion cannot transfer at all."""
    missing = [i + 1 for i, part in enumerate(EXCLUSIVE_PARTS) if part_mask(target, part).size == 0]
    lost_vertices = np.isin(vertex_parts(source), missing)
    area = vertex_areas(source.v_template.astype(np.float64), source.faces)
    energy = np.einsum("v,vck->vk", area, src_dirs ** 2)                  # (V,Es)
    total = energy.sum(axis=0)
    return np.where(total > 0, energy[lost_vertices].sum(axis=0) / np.maximum(total, 1e-30), 0.0)


# ------------------------------------------------------------------------------------ cache

def default_cache_dir() -> Path:
    """The user's cache folder for fits (splat.user_dirs: $XDG_CACHE_HOME/talking-splat/retarget
    on Linux), never beside the installed code."""
    return cache_dir("retarget")


def rig_content_digest(rig: RigData) -> str:
    """Hash of everything the fit reads: same topology with another template or basis (FLAME
    2020 vs 2023) must not reuse a cached matrix."""
    h = hashlib.sha1(rig.topology_digest().encode())
    for arr in (rig.v_template, rig.shapedirs[:, :, rig.n_shape:], rig.J_regressor, rig.weights):
        h.update(np.ascontiguousarray(arr, np.float32).tobytes())
    for name in sorted(rig.masks):
        h.update(name.encode() + np.ascontiguousarray(rig.masks[name], "<i8").tobytes())
    return h.hexdigest()


def _cache_path(cache_dir: Path, source: RigData, target: RigData, ridge: float,
                lips_weight: float) -> Path:
    key = hashlib.sha1(f"v{METHOD_VERSION}|{rig_content_digest(source)}|"
                       f"{rig_content_digest(target)}|{ridge!r}|{lips_weight!r}".encode())
    name = f"{source.topology_digest()}__{target.topology_digest()}__{key.hexdigest()[:16]}"
    return cache_dir / f"{name}.npz"


def _save_fit(path: Path, fit: RetargetFit) -> None:
    """Best effort: a read-only cache folder only costs the refit next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, matrix=fit.matrix, residual=fit.residual, scale=fit.similarity.scale,
                     R=fit.similarity.R, t=fit.similarity.t, landmark_rms=fit.landmark_rms,
                     region_size=fit.region_size)
        tmp.replace(path)
    except OSError:
        pass


def _load_fit(path: Path) -> RetargetFit | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return RetargetFit(z["matrix"], z["residual"],
                               Similarity(float(z["scale"]), z["R"], z["t"]),
                               float(z["landmark_rms"]), int(z["region_size"]))
    except (OSError, KeyError, ValueError):   # absent or damaged: refit
        return None


# ------------------------------------------------------------------------------ retargeter

class Retargeter:
    """Maps MotionFrames in `source`'s parameters to `target`'s (see the module docstring).

    `cache_dir=None` disables the on-disk cache; by default it is `default_cache_dir()`.
    """

    def __init__(self, source: RigData, target: RigData, *, ridge: float = 1e-4,
                 lips_weight: float = 4.0, cache_dir: Path | None | str = "default") -> None:
        self.source, self.target = source, target
        folder = default_cache_dir() if cache_dir == "default" else cache_dir
        path = _cache_path(Path(folder), source, target, ridge, lips_weight) if folder else None
        fit = _load_fit(path) if path is not None and path.is_file() else None
        self.from_cache = fit is not None and fit.matrix.shape == (source.n_expr, target.n_expr)
        if not self.from_cache:
            fit = fit_retarget(source, target, ridge=ridge, lips_weight=lips_weight)
            if path is not None:
                _save_fit(path, fit)
        self.fit: RetargetFit = fit
        self.matrix = fit.matrix
        # Expressions by name where the target is an ARKit rig (see driver.arkit_map).
        self.native = (arkit_map.ArkitMap.for_rigs(source, target)
                       if arkit_map.applies(source, target) else None)
        sim = fit.similarity
        src_root = (source.J_regressor.astype(np.float64) @ source.v_template)[0]
        tgt_root = (target.J_regressor.astype(np.float64) @ target.v_template)[0]
        self._pivot_offset = sim.apply(src_root[None])[0] - tgt_root

    def quality(self) -> dict[str, float]:
        """Source expression name -> relative residual of its transfer (0 = exact, 1 = nothing
        of it reaches the target), including motion on parts the target lacks. It describes
        the geometric fit; with `.native` the expressions come from the ARKit map instead."""
        return {n: float(r) for n, r in zip(self.source.expr_names, self.fit.residual)}

    def summary(self) -> str:
        """One line for logs and the CLI."""
        q = np.asarray(self.fit.residual)
        sim = self.fit.similarity
        head = (f"motion is retargeted from rig {self.source.rig_id!r} to rig "
                f"{self.target.rig_id!r} (scale {sim.scale:.3f}, rotation {sim.angle_deg:.1f} deg, "
                f"{self.fit.region_size} face vertices; ")
        if self.native is not None:
            return (head + f"expressions by the native ARKit map: {self.native.mapped_units()} "
                    f"of {self.source.n_expr} reach the rig)")
        return (head + f"expression transfer residual median {np.median(q):.2f}, worst "
                f"{self.source.expr_names[int(np.argmax(q))]} {q.max():.2f})")

    def apply(self, frame: MotionFrame) -> MotionFrame:
        """The same motion in the target rig's parameters."""
        expr = np.asarray(frame.expr, np.float32)
        if expr.shape[0] > self.source.n_expr:
            raise ValueError(f"frame has {expr.shape[0]} expression values, rig "
                             f"{self.source.rig_id!r} has {self.source.n_expr}")
        expr = np.pad(expr, (0, self.source.n_expr - expr.shape[0]))
        sim = self.fit.similarity
        rotation = self._rotate(frame.rotation)
        # Both rigs rotate the head about their root joint; where the roots differ, shift so
        # the target pivots where the aligned source would: t' = sR t + (I - G')(j_src - j_tgt).
        G = Rotation.from_rotvec(rotation).as_matrix()
        translation = (sim.scale * sim.R @ np.asarray(frame.translation, np.float64)
                       + (np.eye(3) - G) @ self._pivot_offset)
        mapped = (expr @ self.matrix if self.native is None
                  else self.native.expressions(expr, float(frame.jaw_pose[0])))
        return MotionFrame(t=frame.t, expr=mapped.astype(np.float32),
                           jaw_pose=self._rotate(frame.jaw_pose),
                           neck_pose=self._rotate(frame.neck_pose), rotation=rotation,
                           eyes_pose=self._rotate(frame.eyes_pose),
                           translation=translation.astype(np.float32))

    def _rotate(self, axis_angles: np.ndarray) -> np.ndarray:
        """Axis-angle vectors expressed in the target's axes: R G R^T = rot(R @ axis_angle)."""
        v = np.asarray(axis_angles, np.float64).reshape(-1, 3)
        return (v @ self.fit.similarity.R.T).ravel().astype(np.float32)


def find_source_rig(rig_id: str, rig_topology: str, candidates: Sequence[Path]) -> RigData:
    """The rig a checkpoint was trained for, from rig files that might be it (the checkpoint's
    own folder, the default avatar): the first whose topology matches."""
    for path in candidates:
        if Path(path).is_file():
            rig = load_rig_data(path)
            if rig.topology_digest() == rig_topology:
                return rig
    raise UserInputError(f"cannot find rig {rig_id!r} ({rig_topology}) that the checkpoint was "
                         "trained for; pass it with --source-rig")


class RetargetedStream:
    """A streaming engine whose frames come out in another rig's parameters.

    The live app uses it when the user loads an avatar on a rig the checkpoint was not trained
    for: the model keeps driving its own rig and every frame is mapped, so streaming state and
    look-ahead are those of the wrapped engine.
    """

    def __init__(self, engine: "MotionEngine", retargeter: Retargeter) -> None:
        self.engine = engine
        self.retargeter = retargeter

    def push(self, block: np.ndarray, t0: float) -> list[MotionFrame]:
        return [self.retargeter.apply(f) for f in self.engine.push(block, t0)]

    def flush(self) -> list[MotionFrame]:
        return [self.retargeter.apply(f) for f in self.engine.flush()]

    def reset(self) -> None:
        self.engine.reset()

    def __getattr__(self, name: str):
        return getattr(self.engine, name)
