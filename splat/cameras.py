"""Pinhole cameras in the OpenCV convention shared by every renderer backend.

World space is FLAME space (+y up, +z out of the face); cameras are OpenCV (x right, y down,
z forward) with a world-to-camera `viewmat`, exactly what `gsplat.rasterization` takes, so one
`Camera` drives both the CUDA and the CPU renderer without conversion.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Pitch is kept off the poles so the look-at frame (built against world +y) never degenerates.
MAX_PITCH_DEG = 89.0
DEFAULT_FOV_Y_DEG = 20.0


@dataclass
class Camera:
    """A pinhole camera: world-to-camera `viewmat` (4,4), intrinsics `K` (3,3), image size."""

    viewmat: np.ndarray
    K: np.ndarray
    width: int
    height: int
    near: float = 0.01
    far: float = 100.0

    def __post_init__(self) -> None:
        self.viewmat = np.asarray(self.viewmat, dtype=np.float64).reshape(4, 4)
        self.K = np.asarray(self.K, dtype=np.float64).reshape(3, 3)
        self.width = int(self.width)
        self.height = int(self.height)

    @property
    def center(self) -> np.ndarray:
        """Camera position in world space (needed for view-dependent SH colour)."""
        rot = self.viewmat[:3, :3]
        return -rot.T @ self.viewmat[:3, 3]


def intrinsics_from_fov(fov_y_deg: float, width: int, height: int) -> np.ndarray:
    """K for square pixels with the principal point at the image centre (pixel centres at +0.5)."""
    focal = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2.0)
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def look_at(
    eye: np.ndarray, target: np.ndarray, up: tuple[float, float, float] = (0.0, 1.0, 0.0)
) -> np.ndarray:
    """World-to-camera matrix of an OpenCV camera at `eye` looking at `target`, world `up` on screen up."""
    eye = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    viewmat = np.eye(4)
    viewmat[:3, :3] = np.stack([right, down, forward])
    viewmat[:3, 3] = -viewmat[:3, :3] @ eye
    return viewmat


def orbit_camera(
    yaw_deg: float,
    pitch_deg: float,
    distance: float,
    target: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 0.0),
    fov_y_deg: float = DEFAULT_FOV_Y_DEG,
    width: int = 512,
    height: int | None = None,
) -> Camera:
    """A camera on a sphere around `target`.

    yaw = pitch = 0 sits on +z looking towards -z (the face seen from the front); positive yaw
    moves the camera towards +x (the subject's left); positive pitch raises it above the target.
    """
    height = width if height is None else height
    yaw = math.radians(yaw_deg)
    pitch = math.radians(max(-MAX_PITCH_DEG, min(MAX_PITCH_DEG, pitch_deg)))
    target = np.asarray(target, dtype=np.float64)
    offset = np.array([math.sin(yaw) * math.cos(pitch), math.sin(pitch), math.cos(yaw) * math.cos(pitch)])
    viewmat = look_at(target + distance * offset, target)
    return Camera(viewmat, intrinsics_from_fov(fov_y_deg, width, height), width, height)


# Fraction of the image the framed bounds fill, per preset: "face" fills the frame with the
# face (the head above the neck when the mesh has one); "head" leaves room around the whole
# mesh (head and shoulders in a real capture).
_PRESET_FILL = {"face": 0.9, "head": 0.6}
PRESETS = tuple(_PRESET_FILL)
# A mesh "has a neck" when its lowest slices are much thinner (width x depth) than its widest;
# the face preset then frames only the top part of the height (crown to just below the chin).
_NECK_BAND = 0.2
_NECK_RATIO = 0.6
_FACE_TOP_FRACTION = 0.78


def _face_points(verts: np.ndarray) -> np.ndarray:
    """The points the face preset frames: all of them, or the head above a detected neck."""
    y = verts[:, 1]
    lo, hi = float(y.min()), float(y.max())
    if len(verts) < 50 or hi - lo <= 0:
        return verts
    edges = np.linspace(lo, hi, 25)
    which = np.clip(np.searchsorted(edges, y, side="right") - 1, 0, len(edges) - 2)
    area = np.zeros(len(edges) - 1)
    for k in range(len(area)):
        sel = verts[which == k]
        if len(sel) >= 3:
            ext = sel.max(axis=0) - sel.min(axis=0)
            area[k] = ext[0] * ext[2]
    n_bottom = max(1, int(round(_NECK_BAND * len(area))))
    bottom = area[:n_bottom]
    bottom = bottom[bottom > 0]
    if area.max() <= 0 or bottom.size == 0:
        return verts
    if np.median(bottom) <= _NECK_RATIO * area.max():
        return verts[y >= hi - _FACE_TOP_FRACTION * (hi - lo)]
    # Head and shoulders: the neck is the narrowest band between the shoulders and the head.
    middle = np.arange(n_bottom, int(0.75 * len(area)))
    middle = middle[area[middle] > 0]
    if middle.size == 0:
        return verts
    neck = int(middle[np.argmin(area[middle])])
    if area[neck] > _NECK_RATIO * area[neck + 1:].max(initial=0.0):
        return verts
    return verts[y >= edges[neck]]


def preset_view(
    verts: np.ndarray, preset: str, width: int, height: int | None = None, fov_y_deg: float = DEFAULT_FOV_Y_DEG
) -> tuple[np.ndarray, float]:
    """(target, distance) that frame the mesh bounds for `preset` ("face" fills the view with the
    face: the head above the neck when the mesh has one; "head" leaves room around the whole
    mesh, head and shoulders), so any rig, whatever its size or origin, frames well."""
    if preset not in _PRESET_FILL:
        from splat.errors import UserInputError

        raise UserInputError(f"unknown framing preset {preset!r}; choose one of {sorted(_PRESET_FILL)}")
    height = width if height is None else height
    verts = np.asarray(verts, dtype=np.float64).reshape(-1, 3)
    if preset == "face":
        verts = _face_points(verts)
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    half = (hi - lo) / 2.0
    tan_y = math.tan(math.radians(fov_y_deg) / 2.0)
    tan_x = tan_y * width / height
    # Distance at which the bounds' half-height/half-width fill the wanted fraction of the view,
    # measured to the nearest face of the bounding box (the depth half-extent is added).
    fill = _PRESET_FILL[preset]
    needed = max(half[1] / (fill * tan_y), half[0] / (fill * tan_x))
    return (lo + hi) / 2.0, float(needed + half[2])


def frame_preset(
    verts: np.ndarray,
    preset: str,
    width: int,
    height: int | None = None,
    fov_y_deg: float = DEFAULT_FOV_Y_DEG,
    yaw_deg: float = 0.0,
    pitch_deg: float = 0.0,
) -> Camera:
    """An orbit camera around the mesh whose target and distance come from `preset_view`."""
    height = width if height is None else height
    target, distance = preset_view(verts, preset, width, height, fov_y_deg)
    return orbit_camera(yaw_deg, pitch_deg, distance, target, fov_y_deg, width, height)
