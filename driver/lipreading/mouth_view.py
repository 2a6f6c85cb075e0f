"""Grayscale mouth crops of an avatar's motion: what the lip reader sees, and only that.

A camera is framed on the mouth (the lips' centre on the neutral mesh, a square field of
`FIELD_M` metres) and only the Gaussians that can appear in it are rendered (those near the
mouth at rest, with a margin for the jaw and head motion), so a crop costs a few milliseconds on
the project's CPU renderer. `MouthView` is one clip's viewing conditions: `canonical()` (front,
neutral identity, white background, clean) is what evaluation renders; `sample(rng)` varies
camera, identity, head motion, background, exposure, sensor noise and JPEG compression, so a
reader trained on such crops reads lips rather than one fixed picture.
"""
from __future__ import annotations

import dataclasses
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from driver.audio import MOTION_FPS
from driver.motion_space import motion_params
from splat.avatar import load_avatar, resolve_avatar_rig
from splat.cameras import DEFAULT_FOV_Y_DEG, Camera, orbit_camera
from splat.errors import UserInputError
from splat.pipeline import AvatarPipeline

CROP_SIZE = 48            # pixels (AV-HuBERT uses 88; 48 keeps rendering and training CPU-sized)
FIELD_M = 0.075           # side of the square field at the lips, metres (lips ~5.4 cm wide)
CENTRE_DROP_M = 0.006     # the crop centre sits this far below the lips so an open jaw stays in
KEEP_HALF_M = 0.055       # Gaussians within this x/y distance of the centre at rest are rendered,
KEEP_BEHIND_M = 0.07      # unless this far behind the lips (the back of the head never shows)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)    # ITU-R BT.601 grey


@dataclass(frozen=True)
class MouthView:
    """One clip's viewing conditions (all zero/one = the canonical front view)."""

    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    distance_scale: float = 1.0
    shift_m: tuple[float, float] = (0.0, 0.0)        # camera target offset (x, y)
    shape: tuple[float, ...] = ()                    # identity coefficients (rig shape space)
    sway_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)   # head rotation amplitude per axis
    sway_hz: tuple[float, float, float] = (0.3, 0.4, 0.5)
    sway_phase: tuple[float, float, float] = (0.0, 0.0, 0.0)
    background: float = 1.0                          # grey level behind the face
    gain: float = 1.0                                # exposure: grey' = gain * grey^gamma + bias
    gamma: float = 1.0
    bias: float = 0.0
    noise: float = 0.0                               # sensor noise std (0..1 grey units)
    jpeg: int = 0                                    # JPEG round-trip quality (0 = none)

    @classmethod
    def canonical(cls) -> "MouthView":
        return cls()

    @classmethod
    def sample(cls, rng: np.random.Generator, n_shape: int) -> "MouthView":
        """Random conditions within what a webcam framing the face would see."""
        return cls(
            yaw_deg=float(rng.uniform(-15, 15)), pitch_deg=float(rng.uniform(-10, 10)),
            distance_scale=float(rng.uniform(0.88, 1.12)),
            shift_m=(float(rng.normal(0, 0.002)), float(rng.normal(0, 0.002))),
            shape=tuple(float(x) for x in np.clip(rng.normal(0, 1, n_shape), -2, 2)),
            sway_deg=tuple(float(x) for x in rng.uniform(0, 3, 3)),
            sway_hz=tuple(float(x) for x in rng.uniform(0.15, 0.8, 3)),
            sway_phase=tuple(float(x) for x in rng.uniform(0, 2 * math.pi, 3)),
            background=float(rng.uniform(0, 1)), gain=float(rng.uniform(0.7, 1.3)),
            gamma=float(rng.uniform(0.7, 1.4)), bias=float(rng.uniform(-0.1, 0.1)),
            noise=float(rng.uniform(0, 0.03)),
            jpeg=int(rng.choice([0, 25, 40, 60, 80])))

    def head_motion(self, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """(T, 3) global rotation (axis-angle, rad) and (T, 3) translation (m) of the sway."""
        t = np.arange(n_frames)[:, None] / MOTION_FPS
        amp = np.radians(np.asarray(self.sway_deg))[None]
        rot = amp * np.sin(2 * np.pi * np.asarray(self.sway_hz)[None] * t
                           + np.asarray(self.sway_phase)[None])
        trans = 0.05 * rot[:, [1, 0, 2]] * np.array([1.0, -1.0, 0.0])   # follows the nod/turn
        return rot.astype(np.float32), trans.astype(np.float32)


def photometric(grey: np.ndarray, view: MouthView, rng: np.random.Generator) -> np.ndarray:
    """Exposure, noise and compression of one (H, W) grey frame in [0, 1] → uint8."""
    out = view.gain * np.power(np.clip(grey, 0.0, 1.0), view.gamma) + view.bias
    if view.noise > 0:
        out = out + rng.normal(0.0, view.noise, out.shape)
    out8 = np.round(np.clip(out, 0.0, 1.0) * 255).astype(np.uint8)
    if view.jpeg:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(out8).save(buffer, format="JPEG", quality=view.jpeg)
        out8 = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L"))
    return out8


class MouthRenderer:
    """Renders motion (T, E+3) of the corpus's rig as (T, S, S) uint8 grey mouth crops."""

    def __init__(self, avatar_dir: Path, size: int = CROP_SIZE, field_m: float = FIELD_M) -> None:
        avatar = load_avatar(avatar_dir)
        rig = resolve_avatar_rig(avatar_dir, avatar=avatar)
        if rig is None or "lips" not in rig.masks:
            raise UserInputError(f"{avatar_dir}: the lip reader needs a rigged avatar with a "
                                 "lip mask")
        full = AvatarPipeline(avatar, rig, backend="cpu")
        neutral = full.vertices({})
        self.centre = neutral[rig.masks["lips"]].mean(0) - np.array([0.0, CENTRE_DROP_M, 0.0])
        means = full.gaussians({}).means.numpy()
        near = (np.all(np.abs(means[:, :2] - self.centre[:2]) < KEEP_HALF_M, axis=1)
                & (means[:, 2] > self.centre[2] - KEEP_BEHIND_M))
        self.keep = np.nonzero(near)[0]
        sub = dataclasses.replace(
            avatar, xyz=avatar.xyz[self.keep], log_scales=avatar.log_scales[self.keep],
            quats=avatar.quats[self.keep], opacity_logits=avatar.opacity_logits[self.keep],
            sh=avatar.sh[self.keep], binding=avatar.binding[self.keep])
        self.pipeline = AvatarPipeline(sub, rig, backend="cpu")
        self.rig_data = rig
        self.size, self.field_m = int(size), float(field_m)
        self.distance = 0.5 * field_m / math.tan(math.radians(DEFAULT_FOV_Y_DEG) / 2)

    def camera(self, view: MouthView) -> Camera:
        target = self.centre + np.array([*view.shift_m, 0.0])
        return orbit_camera(view.yaw_deg, view.pitch_deg, self.distance * view.distance_scale,
                            target, DEFAULT_FOV_Y_DEG, self.size)

    def params(self, motion: np.ndarray | torch.Tensor, view: MouthView) -> dict[str, torch.Tensor]:
        """Batched rig parameters (T, ...) of motion seen under `view` (identity, sway)."""
        m = torch.as_tensor(np.asarray(motion, np.float32))
        params = motion_params(m, self.rig_data.n_expr)
        rot, trans = view.head_motion(len(m))
        params["rotation"], params["translation"] = torch.from_numpy(rot), torch.from_numpy(trans)
        if view.shape:
            params["shape"] = torch.tensor(view.shape, dtype=torch.float32)[None].expand(len(m), -1)
        return params

    def render(self, motion: np.ndarray, view: MouthView | None = None,
               seed: int = 0) -> np.ndarray:
        """(T, S, S) uint8 crops of `motion`; `seed` draws the sensor noise."""
        view = view or MouthView.canonical()
        rng = np.random.default_rng(seed)
        camera = self.camera(view)
        params = self.params(motion, view)
        background = (view.background,) * 3
        frames = np.empty((len(motion), self.size, self.size), np.uint8)
        for t in range(len(motion)):
            image, _ = self.pipeline.render({k: v[t] for k, v in params.items()}, camera,
                                            background)
            frames[t] = photometric(image @ LUMA, view, rng)
        return frames
