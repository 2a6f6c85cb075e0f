"""The window's keyboard shortcuts (VTube Studio-style single keys), in one table.

Keys act only when no text field or file dialog has the keyboard, so typing a path that
contains an "s" never takes a screenshot.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from avatar_app.gui.app import AvatarApp

# key name (dearpygui's mvKey_<name>) -> (what it does, the window's method)
HOTKEYS: dict[str, tuple[str, str]] = {
    "Spacebar": ("live microphone on/off", "toggle_live"),
    "R": ("start/stop recording", "toggle_record"),
    "S": ("screenshot (PNG of the render)", "save_render"),
    "F": ("face view", "face_view"),
}


def legend() -> str:
    """"Space live · R record · ..." for the window's help line and tooltips."""
    short = {"Spacebar": "Space"}
    return "  ".join(f"{short.get(k, k)}: {what}" for k, (what, _) in HOTKEYS.items())


def install(app: "AvatarApp", typing: Callable[[], bool]) -> None:
    """Register a key-press handler per hotkey; `typing()` true means the keys are text."""
    dpg = app.dpg

    def pressed(_sender, _key, method: str) -> None:
        if not typing():
            app.hotkey(method)

    with dpg.handler_registry(tag="hotkeys"):
        for key, (_what, method) in HOTKEYS.items():
            dpg.add_key_press_handler(getattr(dpg, f"mvKey_{key}"), callback=pressed,
                                      user_data=method)
