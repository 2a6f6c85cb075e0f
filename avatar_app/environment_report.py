"""What this machine can do for the app: the facts `doctor` prints and the GUI's status line uses.

Each probe returns a short human string and never raises, because the report is most needed
exactly on machines where something is broken.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

# sys.platform values whose desktop needs no DISPLAY/WAYLAND_DISPLAY -> how the report names it.
DESKTOP_PLATFORMS = {"win32": "Windows desktop", "darwin": "macOS desktop"}


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def python_and_packages() -> list[tuple[str, str]]:
    rows = [("python", f"{platform.python_version()} ({platform.platform()})")]
    for dist in ("torch", "numpy", "numba", "gsplat", "transformers", "dearpygui", "sounddevice", "av"):
        rows.append((dist, _version(dist)))
    return rows


def cuda_summary() -> list[tuple[str, str]]:
    import torch

    if not torch.cuda.is_available():
        built_for = torch.version.cuda or "none (CPU build)"
        return [("cuda", f"not available (torch built for CUDA: {built_for}); rendering uses the CPU backend")]
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return [("cuda", f"torch CUDA {torch.version.cuda}; devices: {', '.join(names)}")]


def nvcc_path() -> str | None:
    cuda_home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if cuda_home and (Path(cuda_home) / "bin" / "nvcc").is_file():
        return str(Path(cuda_home) / "bin" / "nvcc")
    return shutil.which("nvcc")


def nvcc_cuda_version(nvcc: str) -> str | None:
    """The CUDA release nvcc reports ("12.4"), or None when it cannot be run or parsed."""
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"release (\d+\.\d+)", out)
    return found.group(1) if found else None


def cuda_version_mismatch(nvcc_version: str | None, torch_cuda: str | None) -> str | None:
    """Why a build with this nvcc would not fit this torch (major versions differ), or None."""
    if not nvcc_version or not torch_cuda:
        return None
    if nvcc_version.split(".")[0] != torch_cuda.split(".")[0]:
        return (f"nvcc is CUDA {nvcc_version} but torch was built for CUDA {torch_cuda}: "
                f"gsplat's build needs matching major versions (install the CUDA {torch_cuda.split('.')[0]}.x "
                "toolkit or the torch build for your toolkit)")
    return None


def gsplat_summary() -> list[tuple[str, str]]:
    import torch

    from splat.render.gsplat_backend import BUILD_COMMAND, gsplat_build_dir, gsplat_kernels_built

    if _version("gsplat") == "not installed":
        return [("gsplat kernels", "gsplat not installed (CUDA machines: ./run.sh installs it)")]
    nvcc = nvcc_path()
    rows = []
    if nvcc:
        version = nvcc_cuda_version(nvcc)
        rows.append(("nvcc", f"{nvcc} (CUDA {version or 'version unknown'}; torch built for "
                             f"{torch.version.cuda or 'no CUDA'})"))
        mismatch = cuda_version_mismatch(version, torch.version.cuda)
        if mismatch:
            rows.append(("warning", mismatch))
    else:
        rows.append(("nvcc", "not found (needed once to build gsplat's kernels)"))
    state = "built" if gsplat_kernels_built() else f"not built yet ({BUILD_COMMAND})"
    rows.append(("gsplat kernels", f"{state}; cache: {gsplat_build_dir()}"))
    return rows


def audio_summary() -> list[tuple[str, str]]:
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio library missing
        return [("audio", f"PortAudio unavailable ({exc}); install libportaudio2")]
    try:
        devices = sd.query_devices()
    except Exception as exc:  # PortAudioError and friends
        return [("audio", f"cannot list devices: {exc}")]
    inputs = [d["name"] for d in devices if d["max_input_channels"] > 0]
    outputs = [d["name"] for d in devices if d["max_output_channels"] > 0]
    return [
        ("microphones", ", ".join(inputs) if inputs else "none (the app offers file mode)"),
        ("speakers", ", ".join(outputs) if outputs else "none (file mode animates silently)"),
    ]


def display_available() -> bool:
    """True where the window can open: always on Windows and macOS (their desktop is there
    without any variable), elsewhere when a Wayland display is announced or an X11 one opens.

    dearpygui/GLFW abort the process without a display, so the window checks this first.
    """
    if sys.platform in DESKTOP_PLATFORMS:
        return True
    if os.environ.get("WAYLAND_DISPLAY"):
        return True
    if not os.environ.get("DISPLAY"):
        return False
    lib = ctypes.util.find_library("X11")
    if lib is None:
        return True  # cannot probe; let GLFW try
    x11 = ctypes.CDLL(lib)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    handle = x11.XOpenDisplay(None)
    if not handle:
        return False
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay(handle)
    return True


def display_summary() -> list[tuple[str, str]]:
    if not display_available():
        return [("display", "none: the window cannot open; use `python main.py render` for headless clips")]
    where = (DESKTOP_PLATFORMS.get(sys.platform) or os.environ.get("WAYLAND_DISPLAY")
             or os.environ.get("DISPLAY"))
    return [("display", f"available ({where})")]


def full_report() -> list[tuple[str, str]]:
    return python_and_packages() + cuda_summary() + gsplat_summary() + audio_summary() + display_summary()
