"""The user's own folders for the app's settings and caches: one definition for every module.

platformdirs picks the platform's convention ($XDG_CONFIG_HOME / $XDG_CACHE_HOME, else ~/.config
and ~/.cache on Linux; ~/Library/... on macOS; %LOCALAPPDATA% on Windows), so an installed
package never writes beside its own code and the folders are re-read from the environment at
every call (tests point them at temporary folders).
"""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "talking-splat"


def config_dir() -> Path:
    """Where the window's settings live (settings.json)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def cache_dir(*parts: str) -> Path:
    """A folder under the app's cache (created by whoever writes there); `parts` name the cache."""
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)).joinpath(*parts)


def set_compile_cache_defaults() -> None:
    """Point numba's and torch's compile caches at the user's cache unless already chosen.

    Must run before numba is imported (it reads NUMBA_CACHE_DIR once); the command-line entry
    point calls it first thing. numba would otherwise write beside the installed code (or, where
    that is read-only, in a numba-wide folder), and torch would build gsplat in a shared /tmp.
    """
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir("numba")))
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(cache_dir("torch_extensions")))
