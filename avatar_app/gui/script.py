"""Scripted runs (`main.py gui --script steps.json`): drive the real window without a person.

Used by the integration tests under Xvfb and for making the README screenshots. A script is a
JSON list of one-key steps run in order on the GUI thread, e.g.
  [{"wait_loaded": true}, {"do": "start_live"}, {"wait_audio": true}, {"wait": 2}, {"screenshot": "a.png"},
   {"set": {"jaw": 0.25}}, {"report": "state.json"}, {"do": "quit"}]
A step that waits for a condition is retried every frame. Steps go through the window's
public surface only (`AvatarApp`'s methods and attributes), like a person's clicks do.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from avatar_app.gui.layout import missing_tooltips
from splat.errors import UserInputError

if TYPE_CHECKING:
    from avatar_app.gui.app import AvatarApp

ACTIONS = ("start_live", "stop_live", "record_start", "record_stop", "reset_view",
           "preset_face", "preset_head", "refresh_devices", "reset_pose", "reset_identity", "quit")


def load_script(path: str) -> list[dict]:
    try:
        steps = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UserInputError(f"cannot read script {path}: {exc}") from None
    if not isinstance(steps, list) or not all(isinstance(s, dict) and len(s) == 1 for s in steps):
        raise UserInputError(f"script {path} must be a JSON list of one-key objects")
    return steps


class ScriptRunner:
    """The steps still to run and the time a `wait` step holds them until."""

    def __init__(self, steps: list[dict]) -> None:
        self.steps = list(steps)
        self.wait_until = 0.0
        self.frames_target: tuple[int, float] | None = None   # a wait_frames step's (count, start)

    def run(self, app: AvatarApp) -> None:
        """Called once per GUI frame: run steps until one waits."""
        while self.steps and time.monotonic() >= self.wait_until:
            step = self.steps.pop(0)
            if not run_step(app, step, self):
                self.steps.insert(0, step)  # step waits for a condition; retry next frame
                return


def run_step(app: AvatarApp, step: dict, runner: ScriptRunner) -> bool:
    """Run one step; False means "not yet" (the step is waiting for its condition)."""
    dpg = app.dpg
    (key, value), = step.items()
    if key == "wait":
        runner.wait_until = time.monotonic() + float(value)
    elif key == "wait_loaded":
        return app.scene is not None and not app.loading and app.shown_frame is not None
    elif key == "wait_audio":  # until the live source has delivered its first samples
        # Servers can sit on a new capture stream for a while (a fresh PulseAudio null sink's
        # monitor sends nothing for its first 2 s block); a test must not speak before that.
        source = app.session.source
        return source is not None and getattr(source, "captured", 1) > 0
    elif key == "wait_idle":  # until a load request (good or bad) has been answered
        return not app.loading
    elif key == "do":
        if value not in ACTIONS:
            raise UserInputError(f"unknown script action {value!r}; choose from {', '.join(ACTIONS)}")
        {"start_live": app.start_mic, "stop_live": app.stop_live,
         "record_start": lambda: app.session.recorder is None and app.toggle_record(),
         "record_stop": app.stop_record, "reset_view": app.view.reset,
         "preset_face": lambda: app.frame_preset("face"),
         "preset_head": lambda: app.frame_preset("head"),
         "refresh_devices": app.refresh_devices, "reset_pose": app.reset_pose,
         "reset_identity": app.reset_identity,
         "quit": app.request_quit}[value]()
    elif key == "set":  # settings by name (as the controls set them); "jaw" is the pose slider
        for name, v in value.items():
            if name == "jaw":
                app.set_pose("jaw", float(v))
            else:
                app.set_setting(name, v)
    elif key == "pose":  # {"smile_L": 1.0}: the Pose tab's expression sliders by name
        for name, v in value.items():
            app.set_pose(str(name), float(v))
    elif key == "identity":  # {"nose_size": 1.0}: the Avatar tab's identity sliders by name
        for name, v in value.items():
            app.set_identity(str(name), float(v))
    elif key == "avatar":  # "human": the Avatar tab's picker of embedded heads
        app.pick_avatar(str(value))
    elif key == "tab":   # show a tab of the control panel ("tab_audio", "tab_pose", ...)
        dpg.set_value("tabs", value)
    elif key == "wait_devices":  # until the microphone list names this device
        return any(d.name == value for d in app.devices)
    elif key == "wait_message":  # until a message containing this text was shown
        return any(value in m for m in app.messages)
    elif key == "wait_motion_done":  # until a played motion file has finished
        return app.playback is None
    elif key == "wait_frames":  # until this many new images were shown, the last one rendered
        # after this step began: a change is visible however deep the render pipeline runs
        if runner.frames_target is None:
            runner.frames_target = (app.frames_shown + int(value), time.monotonic())
        count, since = runner.frames_target
        shown = app.shown_frame
        if app.frames_shown < count or shown is None or shown.t_started < since:
            return False
        runner.frames_target = None
    elif key == "wait_hotkeys":  # until this many hotkeys have been acted on
        return len(app.hotkeys_used) >= int(value)
    elif key == "play_file":
        app.play_file(str(value))
    elif key == "render_fps":  # cap the live renderer: plays a machine too slow for 30 fps
        app.session.renderer.set_max_fps(float(value))
    elif key == "play_motion":
        app.play_motion(str(value))
    elif key == "load_avatar":
        app.load_avatar(str(value))
    elif key == "orbit":
        app.view.orbit(*value)
    elif key == "screenshot":
        dpg.output_frame_buffer(file=str(value))
    elif key == "save_render":
        app.save_render(str(value))
    elif key == "report":
        Path(value).write_text(json.dumps(report(app), indent=2))
    else:
        raise UserInputError(f"unknown script step {key!r}")
    return True


def report(app: AvatarApp) -> dict:
    """State a test can check: messages, files written, figures, where the image sits."""
    dpg = app.dpg
    lat = app.session.latency.summary()
    return {
        "messages": app.messages,
        "saved_recording": app.saved_recording,
        "avatar": app.scene.name if app.scene is not None else None,
        "live": app.live_kind,
        "status": app.status_line(),
        "latency_ms": {"median": lat[0], "p95": lat[1], "count": app.session.latency.count} if lat else None,
        "image_rect": [*dpg.get_item_rect_min("image"), *dpg.get_item_rect_size("image")],
        "viewport": [dpg.get_viewport_client_width(), dpg.get_viewport_client_height()],
        "render_ms": app.session.renderer.render_ms,
        "devices": [d.name for d in app.devices],
        "input_device": app.settings.input_device,
        "level_db": app.session.source.level_db() if app.session.source is not None else None,
        "capture_rate": getattr(app.session.source, "capture_rate", None),
        "hotkeys_used": list(app.hotkeys_used),
        "missing_tooltips": missing_tooltips(app),
        "tooltips": len(app.tooltips),
        "gate_sliders_shown": [t for t in ("gate_db", "gate_voice") if dpg.is_item_shown(t)],
        "rects": {t: _rect(dpg, t) for t in ("panel", "view", "image", "status", "message")},
        "panel_scroll_max": dpg.get_y_scroll_max("panel"),
        "tab": dpg.get_item_alias(dpg.get_value("tabs")) or dpg.get_value("tabs"),
        "pose_sliders": sum(dpg.get_item_type(i).endswith("mvSliderFloat")
                            for i in dpg.get_item_children("pose_sliders", 1) or []),
        "virtual_camera": app.vcam.name if app.vcam is not None else None,
        "avatar_pick": dpg.get_value("avatar_pick"),
        "identity_sliders": sum(dpg.get_item_type(i).endswith("mvSliderFloat")
                                for i in dpg.get_item_children("identity_sliders", 1) or []),
        "identity_reset_enabled": dpg.is_item_enabled("btn_identity"),
        "identity": [float(v) for v in app.identity],
        "light_shown": dpg.is_item_shown("light_controls"),
        "light": _light(app),
    }


def _light(app: AvatarApp) -> dict | None:
    """The light the shown avatar is shaded under (None: baked colours or no avatar)."""
    light = app.scene.pipeline.light if app.scene is not None else None
    return None if light is None else {"direction": list(light.direction),
                                       "colour": list(light.colour)}


def _rect(dpg, item: str) -> list[float]:
    """[x, y, w, h] of an item in viewport pixels (child windows report position + size)."""
    state = dpg.get_item_state(item)
    if "rect_min" in state:
        return [*state["rect_min"], *state["rect_size"]]
    return [*dpg.get_item_pos(item), *dpg.get_item_rect_size(item)]
