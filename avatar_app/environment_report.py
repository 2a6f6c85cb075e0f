"""What this machine can do for the app: the facts `doctor` prints and the GUI's status line uses.

Each probe returns a short human string and never raises, because the report is most needed
exactly on machines where something is broken.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
from pathlib import Path


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


def gsplat_build_dir() -> Path | None:
    """Where torch's JIT puts gsplat's kernels (under TORCH_EXTENSIONS_DIR), if torch can say."""
    try:
        from torch.utils.cpp_extension import _get_build_directory

        return Path(_get_build_directory("gsplat_cuda", verbose=False))
    except Exception:  # private torch helper: its absence only means we cannot tell
        return None


def gsplat_built() -> bool:
    build_dir = gsplat_build_dir()
    return bool(build_dir and any(build_dir.glob("gsplat_cuda.*")))


def gsplat_summary() -> list[tuple[str, str]]:
    if _version("gsplat") == "not installed":
        return [("gsplat kernels", "gsplat not installed (CUDA machines: ./run.sh installs it)")]
    nvcc = nvcc_path()
    state = "built" if gsplat_built() else "not built yet (python main.py doctor --build-gsplat)"
    return [
        ("nvcc", nvcc or "not found (needed once to build gsplat's kernels)"),
        ("gsplat kernels", f"{state}; cache: {gsplat_build_dir()}"),
    ]


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


def display_summary() -> list[tuple[str, str]]:
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        where = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        return [("display", f"available ({where})")]
    return [("display", "none: the window cannot open; use `python main.py render` for headless clips")]


def full_report() -> list[tuple[str, str]]:
    return python_and_packages() + cuda_summary() + gsplat_summary() + audio_summary() + display_summary()
