"""Relighting of Gaussians that carry albedo and normals: colours computed per frame.

A simple, smooth model that suits skin-like splats: wrapped diffuse (a soft terminator, as
subsurface scattering gives real skin), an ambient term, and a soft Blinn-Phong specular whose
strength and exponent come per Gaussian (dull skin, wet lips and eyes). The light is fixed in
world space; normals ride their parent triangles, so a head turn changes the shading as it
would under a real lamp. The result replaces the SH DC colour before rendering, so every
renderer backend (CPU or gsplat) draws relit splats without knowing about light.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from splat.errors import UserInputError

if TYPE_CHECKING:
    from splat.avatar import GaussianAvatar
    from splat.cameras import Camera
    from splat.gaussians import WorldGaussians

SH_C0 = 0.28209479177387814
WRAP = 0.35                 # diffuse wrap: 0 is Lambert, larger is softer
AMBIENT = 0.42
DEFAULT_AZ_EL = (-30.0, 30.0)   # from the viewer's upper left


@dataclass(frozen=True)
class Light:
    """A directional light in world space: direction towards the light, colour, ambient."""

    direction: tuple[float, float, float]
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ambient: float = AMBIENT

    @classmethod
    def from_az_el(cls, az_deg: float, el_deg: float,
                   colour: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> "Light":
        """Azimuth about +y (0 = from the front, + towards the subject's left, -x is the
        viewer's left), elevation above the horizon, both in degrees."""
        az, el = math.radians(az_deg), math.radians(el_deg)
        return cls((math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)), colour)


DEFAULT_LIGHT = Light.from_az_el(*DEFAULT_AZ_EL)


def parse_light(text: str) -> Light:
    """`AZ,EL` (degrees) or `AZ,EL,R,G,B` (colour 0..2 per channel) -> Light."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (2, 5) or not all(math.isfinite(v) for v in values):
        raise UserInputError(f"--light {text!r}: give AZ,EL in degrees (e.g. -30,30) or "
                             "AZ,EL,R,G,B")
    az, el = values[:2]
    if not -360.0 <= az <= 360.0 or not -90.0 <= el <= 90.0:
        raise UserInputError(f"--light {text!r}: azimuth must be within +-360 and elevation "
                             "within +-90 degrees")
    colour = tuple(values[2:]) if len(values) == 5 else (1.0, 1.0, 1.0)
    if any(not 0.0 <= c <= 2.0 for c in colour):
        raise UserInputError(f"--light {text!r}: colour values must be within 0..2")
    return Light.from_az_el(az, el, colour)  # type: ignore[arg-type]


def shade(albedo: torch.Tensor, normals: torch.Tensor, means: torch.Tensor,
          specular: torch.Tensor, camera_pos: torch.Tensor, light: Light) -> torch.Tensor:
    """RGB (N,3) in [0,1]: albedo (N,3), world normals (N,3) unit, world means (N,3),
    specular (N,2) = (strength, exponent), camera centre (3,)."""
    dev, dt = albedo.device, albedo.dtype
    l_dir = torch.nn.functional.normalize(torch.tensor(light.direction, device=dev, dtype=dt), dim=0)
    colour = torch.tensor(light.colour, device=dev, dtype=dt)
    ndl = normals @ l_dir
    diffuse = ((ndl + WRAP) / (1.0 + WRAP)).clamp(0.0, 1.0) ** 1.3
    view = torch.nn.functional.normalize(camera_pos.to(dev, dt) - means, dim=-1)
    half = torch.nn.functional.normalize(view + l_dir, dim=-1)
    ndh = (normals * half).sum(-1).clamp(0.0, 1.0)
    lit_side = (ndl * 4.0).clamp(0.0, 1.0)
    spec = specular[:, 0] * ndh ** specular[:, 1] * lit_side
    rgb = albedo * (light.ambient + (1.0 - light.ambient) * diffuse[:, None] * colour) \
        + spec[:, None] * colour
    return rgb.clamp(0.0, 1.0)


def camera_centre(viewmat: np.ndarray | torch.Tensor) -> torch.Tensor:
    """World position of a camera from its world-to-camera matrix."""
    m = torch.as_tensor(np.asarray(viewmat), dtype=torch.float32)
    return -(m[:3, :3].T @ m[:3, 3])


def rgb_to_sh_dc(rgb: torch.Tensor) -> torch.Tensor:
    """Degree-0 SH coefficients (N,1,3) that render as `rgb`."""
    return ((rgb - 0.5) / SH_C0)[:, None, :]


def parse_light_option(text: str | None) -> Light | None | str:
    """`--light`: None (not given: the avatar's default), "off" (baked colour), or a Light."""
    if text is None:
        return None
    if text.strip().lower() == "off":
        return "off"
    return parse_light(text)


class Relighter:
    """Per-frame colours of a relightable avatar's Gaussians (the pipeline owns one).

    Normals are stored in each Gaussian's parent-triangle frame, so the deformed mesh's
    triangle rotations carry them (head turns, the jaw, the eyes) exactly as they carry the
    Gaussians' own rotations.
    """

    def __init__(self, avatar: "GaussianAvatar", faces: np.ndarray,
                 device: torch.device | str = "cpu") -> None:
        if not avatar.relightable or avatar.binding is None:
            raise ValueError("Relighter needs a bound avatar with albedo, normals and specular")
        f32 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)  # noqa: E731
        self.albedo = f32(avatar.albedo)
        self.normals = torch.nn.functional.normalize(f32(avatar.normals), dim=-1)
        self.specular = f32(avatar.specular)
        self.binding = torch.as_tensor(avatar.binding, dtype=torch.long, device=device)
        self.faces = torch.as_tensor(faces, dtype=torch.long, device=device)

    def world_normals(self, verts: torch.Tensor) -> torch.Tensor:
        """(N,3) unit normals on the deformed mesh `verts` (V,3)."""
        from splat.binding import triangle_frames

        R, _, _ = triangle_frames(verts[None], self.faces)
        R = R[0].index_select(0, self.binding)
        return (R @ self.normals.unsqueeze(-1)).squeeze(-1)

    def colours(self, gaussians: "WorldGaussians", verts: torch.Tensor, camera: "Camera",
                light: Light) -> torch.Tensor:
        """SH (N,1,3) of the relit Gaussians for this frame and camera."""
        eye = camera_centre(camera.viewmat).to(verts.device)
        rgb = shade(self.albedo, self.world_normals(verts), gaussians.means, self.specular, eye,
                    light)
        return rgb_to_sh_dc(rgb)
