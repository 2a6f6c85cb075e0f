"""The per-frame path every consumer shares: rig parameters -> mesh -> Gaussians -> pixels.

`still`, `render`, the GUI and `bench` all call `AvatarPipeline`, so the avatar's constant
tensors (activated scales, opacities, normalised quaternions) are built once here, the avatar's
identity (flame_param `shape` and `static_offset`) is applied to every frame, and the renderer
backend is resolved once.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from splat.avatar import GaussianAvatar, check_avatar_against_rig, load_avatar, resolve_avatar_rig
from splat.binding import AvatarTensors, bind_gaussians
from splat.binding_fast import FastBinder
from splat.cameras import Camera, preset_view
from splat.errors import UserInputError
from splat.gaussians import WorldGaussians
from splat.kernel_cache import announce_cold_compile
from splat.relight import DEFAULT_LIGHT, Light, Relighter
from splat.render import render, resolve_backend
from splat.rig import Rig, RigData
from splat.torch_threads import RIG_BIND_THREADS, torch_threads

# flame_param.npz keys that describe who the avatar is (not how it moves): applied every frame.
IDENTITY_KEYS = ("shape", "static_offset")
# A frame whose most opaque pixel is below one 8-bit step shows no avatar at all.
MIN_VISIBLE_ALPHA = 1.0 / 255.0


class AvatarPipeline:
    """Deform, bind and render one avatar; `rig_data=None` for a plain world-space 3DGS scene."""

    def __init__(
        self,
        avatar: GaussianAvatar,
        rig_data: RigData | None,
        backend: str = "auto",
        device: str | torch.device | None = None,
    ) -> None:
        self.backend = resolve_backend(backend)
        if device is None:
            device = "cuda" if self.backend == "gsplat" else "cpu"
        self.device = torch.device(device)
        self.avatar = avatar
        if rig_data is None:
            if avatar.binding is not None:
                raise UserInputError("this avatar is bound to a mesh; it needs a rig to render")
            self.rig = None
            faces = np.zeros((0, 3), dtype=np.int64)
        else:
            check_avatar_against_rig(avatar, rig_data)
            self.rig = Rig(rig_data).to(self.device)
            faces = rig_data.faces
        self.tensors = AvatarTensors.from_avatar(avatar, faces, device=self.device)
        # On the CPU the compiled binding replaces the torch one frame by frame (same maths).
        if self.device.type == "cpu" or self.backend == "cpu":
            announce_cold_compile()
        self._fast_bind = (FastBinder(self.tensors)
                           if self.device.type == "cpu" and self.tensors.binding is not None else None)
        self.identity = {k: avatar.flame_param[k] for k in IDENTITY_KEYS if k in avatar.flame_param}
        # Relightable avatars (albedo + normals, the embedded heads) are shaded every frame under
        # `light` (None: their baked colour); other avatars always keep their baked look.
        self.relighter = (Relighter(avatar, faces, self.device)
                          if avatar.relightable and self.rig is not None else None)
        self.light: Light | None = DEFAULT_LIGHT if self.relighter is not None else None
        if self.backend == "cpu":
            from splat.render.cpu import warmup

            warmup()

    @classmethod
    def open(
        cls,
        avatar_dir: str | Path,
        flame: str | Path | None = None,
        teeth: bool | None = None,
        backend: str = "auto",
        device: torch.device | None = None,
        stage: Callable[[str], AbstractContextManager[None]] | None = None,
    ) -> "AvatarPipeline":
        """The one way a command opens an avatar folder (or .ply): Gaussians, its rig
        (`resolve_avatar_rig`: its own rig.npz, else `flame`), and the renderer.

        `device` is where the caller computes (`--device`, resolved by driver.devices); gsplat
        renders there when it is a CUDA device, any other combination renders where the backend
        does by default. `stage`
        wraps each step ("avatar", "rig", "renderer") so a caller can blame the part that
        failed (the window names the file at fault).
        """
        guard = stage or (lambda _part: nullcontext())
        with guard("avatar"):
            avatar = load_avatar(avatar_dir)
        with guard("rig"):
            rig = resolve_avatar_rig(avatar_dir, flame, teeth=teeth, avatar=avatar)
        with guard("renderer"):
            resolved = resolve_backend(backend)
            on_gpu = resolved == "gsplat" and device is not None and device.type == "cuda"
            return cls(avatar, rig, backend=resolved, device=device if on_gpu else None)

    def framing(self, preset: str = "face", width: int = 1,
                height: int = 1) -> tuple[np.ndarray, float]:
        """(target, distance) of a view for a camera preset ("face", "head"), framed on
        the neutral pose so expressions never move the camera: what `still`, `render`, the
        benches and the window's view buttons all aim with. `width`/`height` (default square)
        give the image's aspect: the same vertical field of view, backed off when the image is
        too narrow for the face."""
        return preset_view(self.framing_points({}), preset, width, height)

    def set_light(self, light: Light | None) -> None:
        """Light a relightable avatar (None: its baked colour); other avatars refuse a light."""
        if light is not None and self.relighter is None:
            raise UserInputError("this avatar is not relightable (it has no albedo and normals); "
                                 "it keeps its baked colours")
        self.light = light

    @property
    def rig_data(self) -> RigData | None:
        """The avatar's rig (None for a plain 3DGS scene): what motion is opened for."""
        return self.rig.data if self.rig is not None else None

    def vertices(self, params: Mapping[str, object] | None = None) -> np.ndarray:
        """Deformed mesh vertices (V,3) for one frame of rig parameters (unbatched)."""
        return self._vertices(params)[0].detach().cpu().numpy()

    def framing_points(self, params: Mapping[str, object] | None = None) -> np.ndarray:
        """Points a camera preset should frame: the mesh, or the Gaussians of a rigless scene."""
        if self.rig is None:
            return self.tensors.xyz.detach().cpu().numpy()
        return self.vertices(params)

    def gaussians(self, params: Mapping[str, object] | None = None,
                  camera: Camera | None = None) -> WorldGaussians:
        """World-space Gaussians for one frame (no autograd: training binds with splat.binding);
        given the `camera`, a relightable avatar's colours are shaded under `self.light`."""
        if self.rig is None:
            return bind_gaussians(self.tensors, torch.zeros(0, 3, device=self.device))
        verts = self._vertices(params)[0]
        if self._fast_bind is not None:
            gaussians = self._fast_bind(verts)
        else:
            with torch.no_grad():
                gaussians = bind_gaussians(self.tensors, verts)
        if self.relighter is not None and self.light is not None and camera is not None:
            with torch.no_grad():
                gaussians = replace(gaussians, sh=self.relighter.colours(gaussians, verts, camera,
                                                                          self.light))
        return gaussians

    def render(
        self,
        params: Mapping[str, object] | None,
        camera: Camera,
        background: Sequence[float] = (1.0, 1.0, 1.0),
        timings: dict[str, float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(image (H,W,3) float32 in [0,1], alpha (H,W)) for one frame, as host arrays.

        `timings`, when given, accumulates seconds per stage: "rig+bind" and the renderer's own
        stages ("project", "sort+bin", "composite" on CPU; "render" for gsplat, incl. the copy back).
        """
        t0 = time.perf_counter()
        with torch.no_grad(), torch_threads(RIG_BIND_THREADS if self.backend == "cpu" else None):
            gaussians = self.gaussians(params, camera)
        t1 = time.perf_counter()
        if self.backend == "cpu":
            from splat.render.cpu import render_cpu

            image, alpha = render_cpu(gaussians, camera, background, timings=timings)
        else:
            image, alpha = render(gaussians, camera, background, backend=self.backend)
        if timings is not None:
            timings["rig+bind"] = timings.get("rig+bind", 0.0) + t1 - t0
            if self.backend != "cpu":
                timings["render"] = timings.get("render", 0.0) + time.perf_counter() - t1
        return image, alpha

    def check_visible(self, alpha: np.ndarray, params: Mapping[str, object] | None,
                      what: str = "the frame") -> None:
        """Refuse a rendered frame with no avatar pixels, naming the likeliest cause.

        The renderers return an empty image, not an error, for NaN geometry or a camera that
        sees nothing; `still` and `render` call this so such a frame is never written as a
        success.
        """
        if float(np.max(alpha, initial=0.0)) >= MIN_VISIBLE_ALPHA:
            return
        if self.rig is not None and not np.isfinite(self.vertices(params)).all():
            cause = ("the posed mesh has NaN or infinite vertices (check the rig file, the "
                     "avatar's flame_param.npz and the motion or expression values)")
        elif not torch.isfinite(self.tensors.xyz).all() or not torch.isfinite(
                self.tensors.scales).all():
            cause = "the avatar's Gaussians have non-finite positions or scales"
        else:
            cause = ("no Gaussian falls inside the camera's view (check --distance, --yaw and "
                     "--pitch, and the avatar's opacities and scales)")
        raise UserInputError(f"{what} shows no avatar pixels: {cause}")

    def _vertices(self, params: Mapping[str, object] | None) -> torch.Tensor:
        if self.rig is None:
            raise UserInputError("this avatar is a plain 3DGS scene without a rig")
        merged = {**self.identity, **(params or {})}
        with torch.no_grad():
            return self.rig(merged)
