"""What the app assumes about the machine it runs on: the display, the user's folders, the
first-run compile note and the torch thread count of offline inference."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from main import ROOT
from avatar_app import environment_report
from splat import user_dirs


@pytest.mark.parametrize("platform, label", [("win32", "Windows desktop"), ("darwin", "macOS desktop")])
def test_windows_and_macos_always_have_a_display(monkeypatch, platform, label):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", platform)
    assert environment_report.display_available()
    assert environment_report.display_summary() == [("display", f"available ({label})")]


def test_linux_needs_an_announced_display(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not environment_report.display_available()
    assert "none" in environment_report.display_summary()[0][1]
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-7")
    assert environment_report.display_available()
    assert environment_report.display_summary() == [("display", "available (wayland-7)")]


def test_the_window_uses_the_one_display_check():
    from avatar_app.commands import gui

    assert gui.display_available is environment_report.display_available


def test_settings_and_caches_live_in_the_users_folders(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert user_dirs.config_dir() == tmp_path / "config" / "talking-splat"
    assert user_dirs.cache_dir("retarget") == tmp_path / "cache" / "talking-splat" / "retarget"
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "mine"))
    user_dirs.set_compile_cache_defaults()
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "cache" / "talking-splat" / "numba")
    assert os.environ["TORCH_EXTENSIONS_DIR"] == str(tmp_path / "mine")  # a choice already made stays


def test_a_cold_kernel_cache_is_announced_once(tmp_path):
    """An empty numba cache: every entry kernel is uncached and the note is said once (nothing
    is compiled here: the check only reads numba's index files)."""
    from splat.kernel_cache import COMPILE_NOTE

    probe = ("from splat import kernel_cache as k\n"
             "print(sorted(k.uncached_kernels()))\n"
             "print(k.announce_cold_compile(print), k.announce_cold_compile(print))\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"), OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    kernels, note, said = result.stdout.splitlines()
    for kernel in ("splat.binding_fast.bind_to_faces", "splat.render.cpu_project.project_gaussians",
                   "splat.render.cpu_bin.sort_and_bin", "splat.render.cpu_raster.composite_tiles"):
        assert kernel in kernels
    assert "_unit" not in kernels  # inline-only helpers compile inside the others
    assert note == COMPILE_NOTE and said == "True False"


def test_a_warm_kernel_cache_is_not_announced(one_torch_thread):
    """Once the renderer and the binding ran (compiled now or loaded from the cache), numba's
    index files are fresh: nothing to announce."""
    import torch

    from splat import kernel_cache
    from splat.render.cpu import warmup
    from splat.binding_fast import bind_to_faces, face_table
    import numpy as np

    warmup()
    verts, faces = np.zeros((3, 3), np.float32), np.array([[0, 1, 2]], np.int64)
    table = np.zeros((1, 17), np.float32)
    face_table(verts, faces, table)
    out = [np.zeros((1, c), np.float32) for c in (3, 4, 3)]
    bind_to_faces(table, np.zeros(1, np.int64), np.zeros((1, 3), np.float32),
                  np.array([[1, 0, 0, 0]], np.float32), np.ones((1, 3), np.float32), *out)
    assert torch.get_num_threads() == 1
    assert kernel_cache.uncached_kernels() == []
    _a_newer_file_time_keeps_a_content_stamped_cache_warm(kernel_cache)


def _a_newer_file_time_keeps_a_content_stamped_cache_warm(kernel_cache) -> None:
    """A checkout or copy gives a kernel's source a new time but the same bytes: numba (≥ 0.61
    stamps its index with a hash of the bytes) loads the cache, so no compile is announced."""
    from numba.core import caching

    if not hasattr(caching, "_hash_source_file"):
        return                       # an mtime-stamped numba really recompiles after a touch
    import splat.render.cpu_raster as module

    before = os.stat(module.__file__)
    try:
        os.utime(module.__file__, (before.st_atime, before.st_mtime + 3600))
        assert kernel_cache.uncached_kernels() == []
    finally:
        os.utime(module.__file__, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_offline_inference_runs_on_the_chosen_thread_count(monkeypatch):
    import torch

    from driver import motion_source
    from splat.assets_paths import DEFAULT_RIG
    from splat.rig import load_rig_data
    from splat.torch_threads import OFFLINE_INFERENCE_THREADS

    seen = []
    monkeypatch.setattr(motion_source, "infer_offline",
                        lambda *args, **kwargs: seen.append(torch.get_num_threads()) or [])
    source = motion_source.open_motion(None, load_rig_data(DEFAULT_RIG), device="cpu")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        source.infer(None)
        assert seen == [OFFLINE_INFERENCE_THREADS]
        assert torch.get_num_threads() == 2  # restored for whatever runs next
    finally:
        torch.set_num_threads(before)
