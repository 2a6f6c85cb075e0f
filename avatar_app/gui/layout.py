"""The window's widgets: a fixed action row, five tabs of controls, the view and a status line.

Sized for a 1366x768 screen (the default window is 1280x720): the controls live in tabs so
no tab needs to scroll, and the long list of expression sliders scrolls inside its own box.
Every control gets a tooltip through `tip`, which also records it so the GUI test can check
that none was forgotten. Callbacks only call the window's public methods (`AvatarApp`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from avatar_app.gui.hotkeys import legend
from avatar_app.gui.orbit import PRESETS
from avatar_app.settings import RANGES
from avatar_app.vad import GATE_MODES
from splat.assets_paths import EMBEDDED_AVATARS

if TYPE_CHECKING:
    from avatar_app.gui.app import AvatarApp

PANEL_W = 370
BOTTOM_H = 62   # below the panel and the view: two status lines and the message line
SLIDER_W = 170
CHAR_W = 7.2    # width of one character of dearpygui's default font, in pixels
SIZES = (256, 384, 512, 768, 1024)
MOTION_FORMATS = {"": "none", ".npz": ".npz (flame_param)", ".csv": ".csv (ARKit names)",
                  ".json": ".json (ARKit names)"}
# widget types that take input and so must explain themselves with a tooltip
INTERACTIVE = ("mvButton", "mvSliderFloat", "mvSliderInt", "mvCombo", "mvCheckbox",
               "mvColorEdit", "mvInputText")


def tip(app: "AvatarApp", item: int | str, text: str) -> int | str:
    """Attach a hover tooltip to `item` (and remember it for the tooltip test)."""
    dpg = app.dpg
    with dpg.tooltip(item):
        dpg.add_text(text, wrap=300)
    app.tooltips[dpg.get_alias_id(item) if isinstance(item, str) else item] = text
    return item


def build(app: "AvatarApp", size: int) -> None:
    dpg = app.dpg
    with dpg.window(tag="main", no_scrollbar=True):
        with dpg.group(horizontal=True):
            with dpg.child_window(width=PANEL_W, tag="panel", height=-BOTTOM_H):
                _action_row(app)
                with dpg.tab_bar(tag="tabs"):
                    with dpg.tab(label="Audio", tag="tab_audio"):
                        _audio_tab(app)
                    with dpg.tab(label="Lip-sync & look", tag="tab_look"):
                        _look_tab(app)
                    with dpg.tab(label="Pose", tag="tab_pose"):
                        _pose_tab(app)
                    with dpg.tab(label="Avatar", tag="tab_avatar"):
                        _avatar_tab(app)
                    with dpg.tab(label="Output", tag="tab_output"):
                        _output_tab(app)
            with dpg.child_window(tag="view", no_scrollbar=True, height=-BOTTOM_H):
                dpg.add_image("tex", tag="image", width=size, height=size)
        dpg.add_text("", tag="status")
        dpg.add_text("", tag="message", color=(255, 200, 80))
        with dpg.tooltip("message"):
            dpg.add_text("", tag="message_full", wrap=600)
    _dialogs(app)


def _action_row(app: "AvatarApp") -> None:
    dpg = app.dpg
    with dpg.group(horizontal=True):
        tip(app, dpg.add_button(label="Start live", tag="btn_live", width=90,
                                callback=lambda: app.toggle_live()),
            "Drive the avatar from the microphone chosen on the Audio tab (hotkey: Space).")
        tip(app, dpg.add_button(label="Record", tag="btn_rec", width=110,
                                callback=lambda: app.toggle_record()),
            "Record what the view shows with the sound that drove it, plus its motion file "
            "(Output tab). Hotkey: R.")
        tip(app, dpg.add_button(label="Screenshot", tag="btn_shot",
                                callback=lambda: app.save_render()),
            "Save the current render as a PNG (transparent if chosen). Hotkey: S.")
    dpg.add_progress_bar(tag="level", default_value=0.0, overlay="level", width=-1)
    tip(app, "level", "Input level after the gain, in dBFS. Speech should reach about -30 to "
                      "-10 dB; raise the input gain if it stays low.")


def _audio_tab(app: "AvatarApp") -> None:
    dpg, s = app.dpg, app.settings
    with dpg.group(horizontal=True):
        tip(app, dpg.add_combo([], label="", tag="device", width=250,
                               callback=lambda _s, v: app.set_setting("input_device", v)),
            "Microphone. Plugged-in devices appear by themselves within a few seconds while "
            "nothing plays; Refresh looks now.")
        tip(app, dpg.add_button(label="Refresh", tag="btn_refresh",
                                callback=lambda: app.refresh_devices()),
            "Look for microphones again (after plugging one in). Stops nothing: while live, "
            "the list refreshes after you stop.")
    tip(app, dpg.add_slider_float(
        label="input gain dB", tag="gain", default_value=s.input_gain_db,
        min_value=RANGES["input_gain_db"][0], max_value=RANGES["input_gain_db"][1],
        width=SLIDER_W, format="%.1f", callback=lambda _s, v: app.set_gain(v)),
        "Amplifies (or attenuates) the microphone before everything else: the level meter, "
        "the gate, the lip-sync model and the recording.")
    tip(app, dpg.add_checkbox(label="mute (avatar rests, recording silent)", tag="mute",
                              default_value=s.muted, callback=lambda _s, v: app.set_mute(v)),
        "Ignore the microphone without closing it: the avatar rests and a recording gets "
        "silence.")
    tip(app, dpg.add_combo(list(GATE_MODES), default_value=s.gate_mode, label="gate", width=110,
                           tag="gate", callback=lambda _s, v: app.set_gate(v)),
        "What may move the mouth. voice: only speech (Silero VAD), loud noise stays out. "
        "noise: anything above a level. off: every sound.")
    tip(app, dpg.add_slider_float(
        label="open at dB", tag="gate_db", default_value=s.gate_threshold_db,
        min_value=RANGES["gate_threshold_db"][0], max_value=RANGES["gate_threshold_db"][1],
        width=SLIDER_W, format="%.0f", callback=lambda _s, v: app.set_gate_level(v)),
        "Noise gate: the level (dBFS, after the gain) above which sound reaches the model.")
    tip(app, dpg.add_slider_float(
        label="voice threshold", tag="gate_voice", default_value=s.voice_threshold,
        min_value=RANGES["voice_threshold"][0], max_value=RANGES["voice_threshold"][1],
        width=SLIDER_W, format="%.2f", callback=lambda _s, v: app.set_voice_threshold(v)),
        "Voice gate: how sure the speech detector must be (0..1) before it opens. Lower "
        "opens for softer or distant speech, higher ignores more noise.")
    dpg.add_separator()
    with dpg.group(horizontal=True):
        tip(app, dpg.add_button(label="Play audio file...", callback=lambda: dpg.show_item("dlg_audio")),
            "Drive the avatar from a speech file (wav, flac, mp3, ...) played on the speakers.")
        tip(app, dpg.add_button(label="Stop", tag="btn_stop", callback=lambda: app.stop_live()),
            "Stop the microphone, the audio file or the motion file.")
    dpg.add_text(s.audio_file or "(no file)", tag="audio_file", wrap=PANEL_W - 30)
    dpg.add_separator()
    dpg.add_text("Motion file (.npz / .csv / .json)")
    with dpg.group(horizontal=True):
        tip(app, dpg.add_input_text(tag="motion_path", default_value=s.motion_file, width=190,
                                    hint="path/to/motion.npz"),
            "A motion file saved by Record or `render --save-motion` (or another tool's "
            "ARKit-named CSV/JSON). Type a path or browse.")
        tip(app, dpg.add_button(label="...", callback=lambda: dpg.show_item("dlg_motion")),
            "Browse for a motion file.")
        tip(app, dpg.add_button(label="Play motion", tag="btn_motion",
                                callback=lambda: app.play_motion(dpg.get_value("motion_path"))),
            "Play the motion file on the avatar (no sound); Stop ends it.")
    dpg.add_text("", tag="no_mic", color=(255, 120, 120), wrap=PANEL_W - 30)


def _look_tab(app: "AvatarApp") -> None:
    dpg, s = app.dpg, app.settings
    tip(app, dpg.add_slider_float(
        label="lip-sync strength", tag="strength", default_value=s.expression_intensity,
        min_value=RANGES["expression_intensity"][0], max_value=RANGES["expression_intensity"][1],
        width=SLIDER_W, format="%.2f",
        callback=lambda _s, v: app.set_setting("expression_intensity", v)),
        "Scales how far speech moves the mouth: expressions and jaw (1 = as the model says).")
    tip(app, dpg.add_slider_float(
        label="smoothing ms", tag="smoothing", default_value=s.smoothing_ms,
        min_value=RANGES["smoothing_ms"][0], max_value=RANGES["smoothing_ms"][1],
        width=SLIDER_W, format="%.0f", callback=lambda _s, v: app.set_smoothing(v)),
        "Calms a fluttering mouth: a low-pass with this time constant on the speech motion. "
        "0 = off; it delays the mouth by about this much.")
    hints = {"blink": "Idle blinking (and how strong).", "gaze": "Idle eye movements.",
             "sway": "Idle head sway."}
    for key in ("blink", "gaze", "sway"):
        with dpg.group(horizontal=True):
            tip(app, dpg.add_checkbox(label=key, tag=key, default_value=getattr(s, key),
                                      callback=lambda _s, v, k=key: app.set_setting(k, v)),
                hints[key])
            tip(app, dpg.add_slider_float(
                tag=f"{key}_strength", default_value=getattr(s, f"{key}_strength"),
                min_value=0.0, max_value=2.0, width=150, format="%.2f",
                callback=lambda _s, v, k=key: app.set_setting(f"{k}_strength", v)),
                f"{hints[key]} 0 switches it off, 1 is natural.")
    tip(app, dpg.add_color_edit(tuple(int(c * 255) for c in s.background), label="background",
                                tag="background", no_alpha=True, width=SLIDER_W,
                                callback=lambda _s, v: app.set_setting(
                                    "background", [c / 255.0 if c > 1 else c for c in v[:3]])),
        "Background colour of the view, screenshots, recordings and the virtual camera.")
    tip(app, dpg.add_checkbox(label="transparent background", tag="transparent",
                              default_value=s.transparent,
                              callback=lambda _s, v: app.set_setting("transparent", v)),
        "Alpha instead of the background colour: screenshots are RGBA PNGs and recordings "
        "keep the alpha channel (Output tab says the format).")
    with dpg.group(horizontal=True):
        tip(app, dpg.add_combo([str(x) for x in SIZES], default_value=str(s.render_size),
                               label="size", tag="size", width=70,
                               callback=lambda _s, v: app.set_setting("render_size", int(v))),
            "Render resolution in pixels (square). Smaller is faster on a CPU.")
        tip(app, dpg.add_combo(["auto", "cpu", "gsplat"], default_value=s.backend,
                               label="renderer", tag="backend", width=80,
                               callback=lambda _s, v: app.set_backend(v)),
            "gsplat: NVIDIA GPU (CUDA); cpu: the project's own renderer; auto picks.")
    tip(app, dpg.add_slider_float(
        label="A/V delay ms", tag="delay", default_value=s.display_delay_ms,
        min_value=RANGES["display_delay_ms"][0], max_value=RANGES["display_delay_ms"][1],
        width=SLIDER_W, format="%.0f",
        callback=lambda _s, v: app.set_setting("display_delay_ms", v)),
        "Show the face this much later, to match a sound path that lags the picture.")
    with dpg.group(horizontal=True):
        tip(app, dpg.add_button(label="Reset view", callback=lambda: app.view.reset()),
            "Back to the face view's angle and distance. Drag the view to orbit, right-drag "
            "to pan, wheel to zoom.")
        for key, label in PRESETS.items():
            tip(app, dpg.add_button(label=label, tag=f"btn_{key}",
                                    callback=lambda _s, _a, k=key: app.frame_preset(k)),
                f"Frame the {label.lower()} like `still` and `render` do"
                + (" (hotkey: F)." if key == "face" else "."))


def _pose_tab(app: "AvatarApp") -> None:
    dpg = app.dpg
    tip(app, dpg.add_slider_float(label="jaw open (rad)", default_value=0.0, min_value=0.0,
                                  max_value=0.35, width=SLIDER_W, tag="jaw", format="%.3f",
                                  callback=lambda _s, v: app.set_pose("jaw", v)),
        "Open the jaw by hand (added to speech motion).")
    tip(app, dpg.add_button(label="Reset pose", callback=lambda: app.reset_pose()),
        "All pose sliders back to 0.")
    dpg.add_text("Expressions of this avatar's rig (added to the motion):", wrap=PANEL_W - 30)
    dpg.add_child_window(tag="pose_sliders", height=-4, border=False)


def build_pose_sliders(app: "AvatarApp", names: list[str], lo: float, hi: float) -> None:
    """One slider per rig expression (rebuilt whenever another avatar loads)."""
    dpg = app.dpg
    for item in dpg.get_item_children("pose_sliders", 1) or []:
        app.tooltips.pop(item, None)
    dpg.delete_item("pose_sliders", children_only=True)
    if not names:
        dpg.add_text("This avatar has no rig: nothing to pose.", parent="pose_sliders")
        return
    for i, name in enumerate(names):
        item = dpg.add_slider_float(label=name, default_value=0.0, min_value=lo, max_value=hi,
                                    width=SLIDER_W, format="%.2f", parent="pose_sliders",
                                    callback=lambda _s, v, k=i: app.set_pose(k, v))
        tip(app, item, f"Expression '{name}' by hand ({lo:g}..{hi:g}; 1 is its full extreme).")


def _avatar_tab(app: "AvatarApp") -> None:
    dpg, s = app.dpg, app.settings
    tip(app, dpg.add_combo(list(EMBEDDED_AVATARS), label="embedded head", tag="avatar_pick",
                           width=150, callback=lambda _s, v: app.pick_avatar(v)),
        "The heads that come with the app: procedural (stylised) or human (MakeHuman CC0, "
        "relightable). Another folder shows here as 'folder: NAME'.")
    with dpg.group(horizontal=True):
        tip(app, dpg.add_button(label="Avatar folder...",
                                callback=lambda: dpg.show_item("dlg_avatar")),
            "A GaussianAvatars-style folder (point_cloud.ply + flame_param.npz) or a plain .ply "
            "folder. The current avatar stays until the new one has loaded.")
        tip(app, dpg.add_button(label="FLAME model...",
                                callback=lambda: dpg.show_item("dlg_flame")),
            "generic_model.pkl (FLAME 2020) or flame2023.pkl, for avatars without their own rig.")
        tip(app, dpg.add_button(label="Checkpoint...", callback=lambda: dpg.show_item("dlg_ckpt")),
            "A speech-to-motion model folder (config.json + model.safetensors).")
    dpg.add_text("", tag="current", wrap=PANEL_W - 30)
    with dpg.group(tag="light_controls", show=False):
        dpg.add_separator()
        with dpg.group(horizontal=True):
            tip(app, dpg.add_checkbox(label="light", tag="light_on", default_value=s.light_on,
                                      callback=lambda _s, v: app.set_setting("light_on", v)),
                "Shade this relightable avatar under a movable light (like `still --light`); "
                "off shows its baked colours.")
            tip(app, dpg.add_color_edit(
                tuple(int(c * 255) for c in s.light_colour), label="light colour",
                tag="light_colour", no_alpha=True, no_inputs=True,
                callback=lambda _s, v: app.set_setting(
                    "light_colour", [c / 255.0 if c > 1 else c for c in v[:3]])),
                "The light's colour; darker is dimmer (the ambient part keeps the skin's own "
                "colour).")
        for key, label, hint in (
                ("light_az", "light azimuth", "Where the light comes from around the head, in "
                 "degrees: 0 is the front, negative the viewer's left."),
                ("light_el", "light elevation", "How high the light stands, in degrees: 90 "
                 "straight above, negative from below.")):
            tip(app, dpg.add_slider_float(
                label=label, tag=key, default_value=getattr(s, key), min_value=RANGES[key][0],
                max_value=RANGES[key][1], width=SLIDER_W, format="%.0f",
                callback=lambda _s, v, k=key: app.set_setting(k, float(v))), hint)
    dpg.add_separator()
    with dpg.group(horizontal=True):
        dpg.add_text("Identity (a new face, live):")
        tip(app, dpg.add_button(label="Reset identity", tag="btn_identity",
                                callback=lambda: app.reset_identity()),
            "The identity sliders back to the avatar's own face.")
    dpg.add_child_window(tag="identity_sliders", height=-4, border=False)


def build_identity_sliders(app: "AvatarApp", names: list[str], values: list[float],
                           lo: float, hi: float) -> None:
    """One slider per rig identity component (rebuilt whenever another avatar loads); a rig
    without any gets a line saying so and a disabled reset button."""
    dpg = app.dpg
    for item in dpg.get_item_children("identity_sliders", 1) or []:
        app.tooltips.pop(item, None)
    dpg.delete_item("identity_sliders", children_only=True)
    dpg.configure_item("btn_identity", enabled=bool(names))
    if not names:
        dpg.add_text("This avatar's rig has no identity components: its face is fixed.",
                     parent="identity_sliders", wrap=PANEL_W - 30)
        return
    for i, (name, value) in enumerate(zip(names, values)):
        item = dpg.add_slider_float(label=name, default_value=value, min_value=lo, max_value=hi,
                                    width=SLIDER_W, format="%.2f", parent="identity_sliders",
                                    tag=f"shape_{i}",
                                    callback=lambda _s, v, k=i: app.set_identity(k, v))
        tip(app, item, f"Identity component '{name}' ({lo:g}..{hi:g}): reshapes the face "
                       "live, without reloading; Reset identity restores the avatar's own.")


def _output_tab(app: "AvatarApp") -> None:
    dpg, s = app.dpg, app.settings
    tip(app, dpg.add_combo(list(MOTION_FORMATS.values()), label="motion beside recording",
                           tag="record_motion", default_value=MOTION_FORMATS[s.record_motion],
                           width=150, callback=lambda _s, v: app.set_setting(
                               "record_motion", next(k for k, n in MOTION_FORMATS.items() if n == v))),
        "Record also writes the avatar's motion next to the video: .npz replays in "
        "GaussianAvatars-style viewers and `render --motion`; .csv/.json use ARKit names.")
    dpg.add_text("", tag="record_format", wrap=PANEL_W - 30)
    tip(app, dpg.add_checkbox(label="virtual camera", tag="vcam", default_value=False,
                              callback=lambda _s, v: app.set_virtual_camera(v)),
        "Send the view to an OS virtual camera (video calls, OBS). Needs pyvirtualcam plus "
        "v4l2loopback (Linux) or OBS's Virtual Camera (Windows, macOS). Transparent parts "
        "get the background colour (cameras carry no alpha).")
    dpg.add_text("", tag="saved", wrap=PANEL_W - 30)
    dpg.add_separator()
    dpg.add_text("Hotkeys: " + legend(), wrap=PANEL_W - 30)


def _dialogs(app: "AvatarApp") -> None:
    dpg = app.dpg
    with dpg.file_dialog(directory_selector=True, show=False, tag="dlg_avatar", width=600,
                         height=400, callback=lambda _s, a: app.picked("avatar", a)):
        pass
    for tag, kind, exts in (("dlg_flame", "flame", (".pkl",)), ("dlg_ckpt", "checkpoint", (".json",)),
                            ("dlg_audio", "audio", (".wav", ".flac", ".mp3", ".ogg")),
                            ("dlg_motion", "motion", (".npz", ".csv", ".json"))):
        with dpg.file_dialog(show=False, tag=tag, width=600, height=400,
                             callback=lambda _s, a, k=kind: app.picked(k, a)):
            for ext in exts:
                dpg.add_file_extension(ext)
            dpg.add_file_extension(".*")


def missing_tooltips(app: "AvatarApp") -> list[str]:
    """Interactive widgets in the control panel that have no tooltip (the test wants none)."""
    dpg = app.dpg
    missing, stack = [], ["panel"]
    while stack:
        item = stack.pop()
        for slot in (0, 1):
            stack.extend(dpg.get_item_children(item, slot) or [])
        kind = dpg.get_item_type(item).split("::")[-1]
        if kind in INTERACTIVE and item not in app.tooltips:
            missing.append(dpg.get_item_label(item) or dpg.get_item_alias(item) or str(item))
    return missing
