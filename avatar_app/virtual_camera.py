"""The window's picture as an OS virtual camera (pyvirtualcam), for video calls and OBS.

pyvirtualcam is an optional extra (`pip install talking-splat[virtualcam]`): it drives
v4l2loopback on Linux and OBS's Virtual Camera on Windows and macOS. Every way this can fail
(the package missing, no loopback device, OBS not installed) is one line saying what to
install, and the window keeps running without the camera.

Virtual cameras carry no alpha: every backend converts to a YUV or RGB format, so a
transparent background is sent composited over the window's background colour.
"""
from __future__ import annotations

import platform

import numpy as np

from driver.audio import MOTION_FPS
from splat.errors import UserInputError

EXTRA = "pip install 'talking-splat[virtualcam]' (or: pip install pyvirtualcam)"


def install_hint(system: str | None = None) -> str:
    """What gives this OS a virtual camera device, in one clause."""
    system = system or platform.system()
    if system == "Linux":
        return ("install v4l2loopback (sudo apt install v4l2loopback-dkms, then sudo modprobe "
                "v4l2loopback exclusive_caps=1 card_label=TalkingSplat)")
    return "install OBS Studio (obsproject.com) and start its Virtual Camera once"


def composite(rgba: np.ndarray, background: tuple[float, float, float]) -> np.ndarray:
    """Straight-alpha float RGBA -> uint8 RGB over `background` (what a camera can carry)."""
    a = np.clip(rgba[..., 3:4], 0.0, 1.0)
    rgb = rgba[..., :3] * a + np.asarray(background, np.float32) * (1.0 - a)
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class VirtualCamera:
    """An open virtual camera of a fixed size; `send` resizes frames of another size to it."""

    def __init__(self, camera, width: int, height: int) -> None:
        self._camera = camera
        self.width, self.height = width, height
        self.name = str(camera.device)   # e.g. "/dev/video2" or "OBS Virtual Camera"
        self.frames = 0

    @classmethod
    def open(cls, width: int, height: int, fps: float = MOTION_FPS,
             backend: str | None = None) -> "VirtualCamera":
        """Open the first virtual camera the OS offers, or raise UserInputError saying what
        to install."""
        try:
            import pyvirtualcam
        except ImportError:
            raise UserInputError(f"virtual camera: pyvirtualcam is not installed; {EXTRA}, "
                                 f"and {install_hint()}") from None
        try:
            camera = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB,
                                         backend=backend)
        except RuntimeError:   # pyvirtualcam: no backend could open a device (its reasons
            # name internals such as /dev/video[0-99]; what to install is the useful part)
            raise UserInputError(f"virtual camera: no virtual camera device found; "
                                 f"{install_hint()}") from None
        return cls(camera, width, height)

    def send(self, rgba: np.ndarray, background: tuple[float, float, float]) -> None:
        """Send one straight-alpha float RGBA frame (the window's image)."""
        rgb = composite(rgba, background)
        if rgb.shape[:2] != (self.height, self.width):
            import cv2

            rgb = cv2.resize(rgb, (self.width, self.height), interpolation=cv2.INTER_AREA)
        self._camera.send(np.ascontiguousarray(rgb))
        self.frames += 1

    def close(self) -> None:
        self._camera.close()
