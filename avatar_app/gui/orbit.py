"""Mouse-driven orbit camera for the viewport: drag to orbit, wheel to zoom, right-drag to pan.

Kept free of dearpygui so the camera maths is unit-testable; the window feeds it mouse deltas.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from splat.cameras import DEFAULT_FOV_Y_DEG, Camera, orbit_camera

PRESETS = {"face": "Face", "head": "Head and shoulders"}


@dataclass
class OrbitView:
    yaw: float = 0.0
    pitch: float = 0.0
    distance: float = 1.0
    target: np.ndarray = field(default_factory=lambda: np.zeros(3))
    fov_y: float = DEFAULT_FOV_Y_DEG
    home: tuple | None = None  # (yaw, pitch, distance, target) restored by "reset view"

    def camera(self, size: int) -> Camera:
        return orbit_camera(self.yaw, self.pitch, self.distance, self.target, self.fov_y, size, size)

    def aim(self, target: np.ndarray, distance: float, preset: str = "face") -> None:
        """Look at `target` from `distance` (a preset's framing, `AvatarPipeline.framing`, the
        one `still` and `render` use), keeping the current angles; "face" becomes the home
        view that "reset view" restores."""
        self.target = np.asarray(target, np.float64).copy()
        self.distance = float(distance)
        if self.home is None or preset == "face":
            self.home = (0.0, 0.0, self.distance, self.target.copy())

    def reset(self) -> None:
        if self.home is not None:
            self.yaw, self.pitch, self.distance, target = self.home
            self.target = target.copy()

    def orbit(self, dx_px: float, dy_px: float) -> None:
        """Dragging right turns the head to show its left side; dragging up looks from above."""
        self.yaw -= dx_px * 0.3
        self.pitch = max(-85.0, min(85.0, self.pitch + dy_px * 0.3))

    def zoom(self, wheel: float) -> None:
        self.distance = max(0.05, self.distance * math.pow(0.9, wheel))

    def pan(self, dx_px: float, dy_px: float, view_px: float) -> None:
        """Move the target in the image plane so the avatar follows the mouse."""
        cam = self.camera(64)
        right, down = cam.viewmat[0, :3], cam.viewmat[1, :3]
        metres_per_px = 2 * self.distance * math.tan(math.radians(self.fov_y) / 2) / max(view_px, 1)
        self.target = self.target - (right * dx_px + down * dy_px) * metres_per_px
