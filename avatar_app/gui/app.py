"""The live window: viewport with the rendered avatar, audio/avatar/controls panels, status.

The GUI thread only builds widgets (gui.layout), uploads finished images (raw float texture,
pointer swap) and reacts to input; loading, inference and rendering happen on other threads
(see live_session). dearpygui runs widget callbacks on its own worker thread, so callbacks only
set state or start work; the main loop applies results. Device re-scans (gui.devices), motion
file playback (gui.motion_playback), hotkeys (gui.hotkeys) and the virtual camera
(avatar_app.virtual_camera) are driven from `tick`.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avatar_app import settings as settings_mod
from avatar_app.audio_in import (AUDIO_NOT_STARTED, CAPTURE_RATE, AudioInput, DeviceOpener,
                                  server_silent)
from avatar_app.gui import hotkeys, layout
from avatar_app.gui.devices import DeviceScanner, changes
from avatar_app.gui.motion_playback import MotionPlayback
from avatar_app.gui.orbit import OrbitView
from avatar_app.gui.script import ScriptRunner
from avatar_app.live_loading import Loaded, load_avatar_and_model
from avatar_app.live_render import RenderedFrame, RenderOptions, Scene, make_idle
from avatar_app.live_session import LiveSession
from avatar_app.motion_smoothing import SmoothedEngine
from avatar_app.output_paths import check_output_file
from avatar_app.vad import AudioGate, VoiceGate, make_gate
from avatar_app.virtual_camera import VirtualCamera
from driver.idle import IdleMotion
from driver.motion_source import default_checkpoint
from splat.assets_paths import DEFAULT_AVATAR, EMBEDDED_AVATARS
from splat.errors import UserInputError

PANEL_W = layout.PANEL_W
NO_MIC = "No microphone found: use 'Play audio file' or a motion file."
GATE_SETTINGS = ("gate_mode", "gate_threshold_db", "voice_threshold")
LIGHT_SETTINGS = ("light_on", "light_az", "light_el", "light_colour")
MAX_IDENTITY_SLIDERS = 20   # FLAME has 300 identity components; the first ones matter most


@dataclass
class AppOptions:
    """Command-line choices that override the saved settings for this run."""

    avatar: str | None = None
    flame: str | None = None
    checkpoint: str | None = None
    backend: str | None = None
    device: str = "auto"          # where the streaming regressor runs (driver.devices)
    size: int | None = None
    script: list | None = None
    screenshot: str | None = None
    width: int = 1280
    height: int = 720             # fits a 1366x768 screen with a task bar
    virtual_camera: bool = False  # `gui --virtual-camera`: start sending to one at once
    extra: dict = field(default_factory=dict)


class AvatarApp:
    """The window. Its public methods and attributes (`load_avatar`, `start_mic`, `play_file`,
    `play_motion`, `set_setting`, `set_pose`, `refresh_devices`, `frame_preset`,
    `toggle_record`, `save_render`, `set_virtual_camera`, `loading`, `shown_frame`, `messages`,
    ...) are also what `gui.script` drives."""

    def __init__(self, opts: AppOptions) -> None:
        import dearpygui.dearpygui as dpg

        self.dpg = dpg
        self.opts = opts
        self.settings = settings_mod.load_settings()
        s = self.settings
        # --avatar/--flame/--checkpoint/--backend are load requests: settings.json takes them
        # only once they have loaded (_apply_load), so a bad one cannot stick to later launches.
        if opts.size is not None:
            s.render_size = opts.size
        self.view = OrbitView()
        self.scene: Scene | None = None
        self.session = LiveSession(self.view.camera, self._idle_factory, self._gate_factory)
        self._apply_options()
        self.session.set_muted(s.muted)
        self.messages: list[str] = []
        self.live_kind = ""  # "", "mic", "file" or "motion"
        self.saved_recording = ""
        self.quit_requested = False
        self.stop_reason = ""  # e.g. "SIGTERM": why the window is closing, for the last line
        self._opening = None   # (DeviceOpener, kind, name) while an audio device opens
        self._fallback_note = ""  # why the embedded avatar shows instead of the requested one
        self._loading = False
        self._load_result: tuple[dict, Loaded] | None = None
        self.shown_frame: RenderedFrame | None = None  # the image on screen (keeps it alive)
        self._tex_size = 0
        self._gui_frames: list[float] = []
        self._render_frames: list[float] = []
        self._script = ScriptRunner(opts.script) if opts.script else None
        self._drag_last: dict[int, tuple[float, float]] = {}
        self.devices: list = []         # filled by the first scan (gui.devices), then hot-plug
        self.scanner = DeviceScanner()
        self.scanner.start(rescan=False)
        self._first_scan = True
        self._rescan_wanted = False     # Refresh pressed while a stream was open
        self._refresh_asked = False     # a scan the user asked for (its timeout is said)
        self.frames_shown = 0           # images uploaded so far (scripts wait on it)
        self._after_scan = None         # an audio start waiting for a running scan to end
        self.tooltips: dict[int, str] = {}
        # lines for the terminal, printed between device scans: PortAudio's start points the
        # process's stderr at /dev/null for a moment (sounddevice), which would swallow them
        self._terminal: list[str] = []
        self.hotkeys_used: list[str] = []
        self._hotkeys: list[str] = []   # pressed on dearpygui's handler thread, run in tick
        self.playback: MotionPlayback | None = None
        self.smoother: SmoothedEngine | None = None
        self.vcam: VirtualCamera | None = None
        self.pose_expr = np.zeros(0, np.float32)   # the Pose tab's expression sliders
        self.identity_own = np.zeros(0, np.float32)  # the avatar's flame_param shape (rig order)
        self.identity = np.zeros(0, np.float32)      # what the identity sliders make of it

    # ------------------------------------------------------------------ factories for workers
    def _idle_factory(self, ropts: RenderOptions) -> IdleMotion:
        scene = self.scene
        names = scene.rig.expr_names if scene is not None and scene.rig is not None else []
        return make_idle(ropts, names)

    def _gate_factory(self) -> AudioGate | None:
        s = self.settings
        return make_gate(s.gate_mode, s.gate_threshold_db, s.voice_threshold)

    def _apply_options(self) -> None:
        s = self.settings
        self.session.set_options(
            size=int(s.render_size), background=tuple(s.background), transparent=s.transparent,
            delay_s=s.display_delay_ms / 1000.0, expression_intensity=s.expression_intensity,
            blink=s.blink_strength if s.blink else 0.0, gaze=s.gaze_strength if s.gaze else 0.0,
            sway=s.sway_strength if s.sway else 0.0)

    # ------------------------------------------------------------------------------- messages
    def say(self, text: str) -> None:
        """Show a one-line message in the status area (and keep it for scripted reports)."""
        self.messages.append(text)
        if self.dpg.does_item_exist("message"):
            # one line that fits the window (a retargeting note runs long); hover shows it all
            fits = max(int((self.dpg.get_viewport_client_width() - 24) / layout.CHAR_W), 20)
            self.dpg.set_value("message", text if len(text) <= fits else text[:fits - 3] + "...")
            self.dpg.set_value("message_full", text)

    # --------------------------------------------------------------------------------- layout
    def build(self) -> None:
        dpg = self.dpg
        size = int(self.settings.render_size)
        self._blank = np.ones((size, size, 4), np.float32) * 0.5
        with dpg.texture_registry(tag="textures"):
            dpg.add_raw_texture(size, size, self._blank, format=dpg.mvFormat_Float_rgba, tag="tex")
        self._tex_size = size
        layout.build(self, size)
        self._show_devices(self.devices, "looking for microphones ...")
        self._show_gate_controls()
        self._show_record_format()
        with dpg.handler_registry():
            dpg.add_mouse_drag_handler(button=dpg.mvMouseButton_Left, callback=self._on_drag, user_data=0)
            dpg.add_mouse_drag_handler(button=dpg.mvMouseButton_Right, callback=self._on_drag, user_data=1)
            dpg.add_mouse_drag_handler(button=dpg.mvMouseButton_Middle, callback=self._on_drag, user_data=1)
            dpg.add_mouse_release_handler(callback=lambda: self._drag_last.clear())
            dpg.add_mouse_wheel_handler(callback=self._on_wheel)
        hotkeys.install(self, self._typing)
        dpg.set_primary_window("main", True)

    def _typing(self) -> bool:
        """A text field or file dialog has the keyboard: keys are text, not hotkeys."""
        dpg = self.dpg
        return dpg.is_item_active("motion_path") or any(
            dpg.is_item_shown(d) for d in ("dlg_avatar", "dlg_flame", "dlg_ckpt", "dlg_audio",
                                           "dlg_motion"))

    def _show_devices(self, devices: list, note: str) -> None:
        """Fill the input list; a chosen device that vanished falls back to the default."""
        dpg, s = self.dpg, self.settings
        names = [d.name for d in devices]
        if names and s.input_device not in names:   # no list at all keeps the saved choice
            s.input_device = next((d.name for d in devices if d.is_default), names[0])
        dpg.configure_item("device", items=names)
        dpg.set_value("device", s.input_device if names else "")
        dpg.set_value("no_mic", note if note and not devices else (NO_MIC if not devices else ""))

    def _show_gate_controls(self) -> None:
        """Only the slider that acts in the chosen gate mode is shown (none for "off")."""
        mode = self.settings.gate_mode
        self.dpg.configure_item("gate_db", show=mode == "noise")
        self.dpg.configure_item("gate_voice", show=mode == "voice")

    def _show_record_format(self) -> None:
        s = self.settings
        video = ".mov (ProRes 4444 with alpha + PCM)" if s.transparent else ".mp4 (H.264 + AAC)"
        motion = f" + motion {s.record_motion}" if s.record_motion else ""
        self.dpg.set_value("record_format", f"Record writes: {video}{motion}")

    # ------------------------------------------------------------------------------ callbacks
    def set_setting(self, key: str, value: object) -> None:
        """Change one saved setting (a control's value) and apply it where it acts."""
        setattr(self.settings, key, value)
        if key == "input_gain_db":
            self._apply_gain()
        elif key == "smoothing_ms":
            if self.smoother is not None:
                self.smoother.time_constant_s = float(value) / 1000.0
        elif key in GATE_SETTINGS:
            self._apply_gate(key)
        elif key == "muted":
            self.session.set_muted(bool(value))
        elif key == "backend":
            self.load_avatar(self.settings.avatar_dir, backend=str(value))
        elif key in LIGHT_SETTINGS:
            self._apply_light()
        elif key in ("transparent", "record_motion"):
            self._apply_options()
            self._show_record_format()
        elif key != "input_device":
            self._apply_options()

    # the controls' own names for set_setting (kept short for the layout's callbacks)
    def set_gain(self, db: float) -> None:
        self.set_setting("input_gain_db", float(db))

    def set_smoothing(self, ms: float) -> None:
        self.set_setting("smoothing_ms", float(ms))

    def set_mute(self, value: bool) -> None:
        self.set_setting("muted", bool(value))

    def set_gate(self, mode: str) -> None:
        self.set_setting("gate_mode", mode)

    def set_gate_level(self, db: float) -> None:
        self.set_setting("gate_threshold_db", float(db))

    def set_voice_threshold(self, p: float) -> None:
        self.set_setting("voice_threshold", float(p))

    def set_backend(self, backend: str) -> None:
        self.set_setting("backend", backend)

    def _apply_gain(self) -> None:
        """The gain acts on the microphone's samples as they are read (audio_in.RingSource)."""
        source = self.session.source
        if source is not None and self.live_kind == "mic":
            source.gain = 10.0 ** (self.settings.input_gain_db / 20.0)

    def _apply_gate(self, key: str) -> None:
        self._show_gate_controls()
        gate = getattr(self.session.worker, "gate", None)
        if key == "voice_threshold" and isinstance(gate, VoiceGate):
            gate.set_threshold(self.settings.voice_threshold)   # no model reload per slider step
            return
        try:
            self.session.set_gate(self._gate_factory)
        except UserInputError as exc:
            self.say(str(exc))

    def set_pose(self, what: int | str, value: float) -> None:
        """A Pose-tab slider: "jaw" (radians) or the index of a rig expression."""
        if what == "jaw":
            self.session.set_options(jaw_manual=float(value))
            return
        if isinstance(what, str):   # a script names the expression
            names = self.scene.rig.expr_names if self.scene is not None and self.scene.rig else []
            if what not in names:
                self.say(f"no expression '{what}' in this rig")
                return
            what = names.index(what)
        self.pose_expr[int(what)] = float(value)
        self.session.set_options(expr_manual=tuple(float(v) for v in self.pose_expr))

    def reset_pose(self) -> None:
        self.pose_expr[:] = 0.0
        self.session.set_options(jaw_manual=0.0, expr_manual=())
        self.dpg.set_value("jaw", 0.0)
        for item in self.dpg.get_item_children("pose_sliders", 1) or []:
            if self.dpg.get_item_type(item).endswith("mvSliderFloat"):
                self.dpg.set_value(item, 0.0)

    def set_identity(self, what: int | str, value: float) -> None:
        """An identity slider (index, or a script's rig shape name): the face changes on the
        next frame through the render options, without reloading the avatar."""
        names = self.scene.rig.shape_names if self.scene is not None and self.scene.rig else []
        if isinstance(what, str):
            if what not in names[:MAX_IDENTITY_SLIDERS]:
                self.say(f"no identity component '{what}' in this rig")
                return
            what = names.index(what)
        self.identity[int(what)] = float(value)
        self.session.set_options(shape=tuple(float(v) for v in self.identity))
        self.dpg.set_value(f"shape_{int(what)}", float(value))   # a script's change shows too
        # saved for this avatar folder, restored when it loads again (_build_identity)
        self.settings.identity[self.settings.avatar_dir] = {
            name: float(v) for name, v in zip(names[:MAX_IDENTITY_SLIDERS], self.identity)}

    def reset_identity(self) -> None:
        """Back to the avatar's own face (its flame_param shape)."""
        self.identity = self.identity_own.copy()
        self.session.set_options(shape=())
        self.settings.identity.pop(self.settings.avatar_dir, None)
        for i, value in enumerate(self.identity_own[:MAX_IDENTITY_SLIDERS]):
            self.dpg.set_value(f"shape_{i}", float(value))

    def pick_avatar(self, name: str) -> None:
        """The Avatar tab's picker: load one of the embedded heads (the procedural one is the
        default, saved as "" like before there was a picker)."""
        if name not in EMBEDDED_AVATARS:
            self.say(f"no embedded avatar '{name}'; choose from {', '.join(EMBEDDED_AVATARS)}")
        elif self.loading:
            self.say("still loading the previous request")
        else:
            folder = EMBEDDED_AVATARS[name]
            self.load_avatar("" if folder == DEFAULT_AVATAR else str(folder))
            return
        self._show_avatar_choice()

    def _show_avatar_choice(self) -> None:
        """The picker shows the avatar on screen: an embedded head's name, else its folder."""
        folder = Path(self.settings.avatar_dir or DEFAULT_AVATAR).resolve()
        name = next((n for n, p in EMBEDDED_AVATARS.items() if p.resolve() == folder), None)
        shown = self.scene.name if self.scene is not None else folder.name
        self.dpg.set_value("avatar_pick", name or f"folder: {shown}")

    def _apply_light(self) -> None:
        """The light controls act on a relightable avatar from its next frame on."""
        from splat.relight import Light

        if self.scene is None or not self.scene.relightable:
            return
        s = self.settings
        self.scene.pipeline.set_light(
            Light.from_az_el(s.light_az, s.light_el, tuple(s.light_colour)) if s.light_on else None)

    def hotkey(self, method: str) -> None:
        """A hotkey was pressed (handler thread): run its action on the GUI thread."""
        self._hotkeys.append(method)

    def face_view(self) -> None:
        """Hotkey F: the Face framing from the front."""
        self.frame_preset("face")
        self.view.reset()

    def refresh_devices(self) -> None:
        """The Refresh button: re-scan now, or as soon as no stream is open."""
        if self.session.source is not None or self._opening is not None:
            self._rescan_wanted = self._refresh_asked = True
            self.say("the microphone list refreshes when live stops (re-scanning restarts "
                     "the audio system)")
            return
        self._refresh_asked = True
        if self.scanner.start():
            self.say("looking for microphones ...")

    def set_virtual_camera(self, on: bool) -> str | None:
        """Start or stop sending the view to an OS virtual camera; returns (and shows) why
        not when it cannot start, so `--virtual-camera` can also print that line even while
        other threads add their own messages."""
        if not on:
            if self.vcam is not None:
                self.vcam.close()
                self.say(f"virtual camera stopped ({self.vcam.frames} frames sent)")
            self.vcam = None
            return None
        if self.vcam is not None:
            return None
        size = int(self.settings.render_size)
        try:
            self.vcam = VirtualCamera.open(size, size)
        except UserInputError as exc:
            self.say(str(exc))
            if self.dpg.does_item_exist("vcam"):
                self.dpg.set_value("vcam", False)
            return str(exc)
        self.dpg.set_value("vcam", True)
        self.say(f"virtual camera on: {self.vcam.name} ({size}x{size})")
        return None

    def picked(self, kind: str, app_data: dict) -> None:
        """A file dialog closed with a choice."""
        path = app_data.get("file_path_name") or ""
        if not path:
            return
        if kind == "avatar":
            self.load_avatar(path)
        elif kind == "flame":
            self.load_avatar(self.settings.avatar_dir, flame=path)
        elif kind == "checkpoint":
            self.load_avatar(self.settings.avatar_dir, checkpoint=str(Path(path).parent)
                             if Path(path).is_file() else path)
        elif kind == "audio":
            self.play_file(path)
        elif kind == "motion":
            self.dpg.set_value("motion_path", path)
            self.play_motion(path)

    def _image_hovered(self) -> bool:
        return self.dpg.is_item_hovered("image") or self.dpg.is_item_hovered("view")

    def _on_drag(self, _sender, data, pan: int) -> None:
        if not self._drag_last and not self._image_hovered():
            return
        _button, dx, dy = data
        last = self._drag_last.get(pan, (0.0, 0.0))
        self._drag_last[pan] = (dx, dy)
        ddx, ddy = dx - last[0], dy - last[1]
        if pan:
            self.view.pan(ddx, ddy, self.dpg.get_item_width("image") or 512)
        else:
            self.view.orbit(ddx, ddy)

    def _on_wheel(self, _sender, wheel) -> None:
        if self._image_hovered():
            self.view.zoom(float(wheel))

    # --------------------------------------------------------------------------------- actions
    def load_avatar(self, avatar_dir: str, checkpoint: str | None = None,
                    flame: str | None = None, backend: str | None = None) -> None:
        """Load avatar + model on a thread; the current avatar stays until the new one is ready.

        `checkpoint`, `flame` and `backend` default to the saved settings; what was asked for
        is written to the settings only when it has loaded.
        """
        if self._loading:
            self.say("still loading the previous request")
            return
        s = self.settings
        request = {"avatar_dir": avatar_dir,
                   "checkpoint": s.checkpoint if checkpoint is None else checkpoint,
                   "flame_model": s.flame_model if flame is None else flame,
                   "backend": backend or s.backend}
        folder = avatar_dir or str(DEFAULT_AVATAR)
        embedded = default_checkpoint()
        ckpt = request["checkpoint"] or (str(embedded) if embedded is not None else "")
        self._loading = True
        self.say(f"loading {folder} ...")

        def work() -> None:
            self._load_result = request, load_avatar_and_model(
                folder, request["flame_model"] or None, request["backend"], ckpt, self.opts.device)

        threading.Thread(target=work, name="loader", daemon=True).start()

    @property
    def loading(self) -> bool:
        """True from a load request until its result (good or bad) has been applied."""
        return self._loading or self._load_result is not None

    def _apply_load(self, request: dict, loaded: Loaded) -> None:
        self._loading = False
        if loaded.error:
            if self.scene is None and not self._fallback_note:
                # nothing on screen yet: show the embedded avatar rather than an empty window
                self._fallback_note = f"load failed: {loaded.error}; showing the embedded avatar"
                self.say(self._fallback_note)
                self.load_avatar("", checkpoint="", flame="", backend="auto")
                return
            kept = self.scene.name if self.scene is not None else "nothing"
            self.say(f"load failed: {loaded.error} (keeping {kept})")
            self._show_avatar_choice()
            return
        scene, engine, ckpt, note = loaded.scene, loaded.engine, loaded.checkpoint, loaded.note
        first = self.scene is None
        self.stop_motion()   # a motion file belongs to the rig it was read for
        self.scene = scene
        for key, value in request.items():
            setattr(self.settings, key, value)
        self.session.set_options(shape=())   # before the swap: no frame mixes rig and identity
        self.session.set_scene(scene)
        self.smoother = None if engine is None else SmoothedEngine(
            engine, self.settings.smoothing_ms / 1000.0)
        self.session.set_engine(self.smoother)
        self._build_pose(scene)
        self._build_identity(scene)
        self._apply_light()
        self.dpg.configure_item("light_controls", show=scene.relightable)
        self._show_avatar_choice()
        if first or scene.rig is not None:
            self.frame_preset("face")
        pipe = scene.pipeline
        self.device = f"{pipe.backend} on {pipe.device.type.upper()}"
        self.dpg.set_value("current", f"avatar: {scene.name}\nrig: {getattr(scene.rig, 'rig_id', 'none')}"
                                      f"\nmodel: {Path(ckpt).name if ckpt else 'none'}\nrender: {self.device}")
        self.say(self._fallback_note if first and self._fallback_note
                 else note or f"loaded {scene.name}")

    def _build_pose(self, scene: Scene) -> None:
        """The Pose tab's sliders for this avatar's rig expressions (FLAME's PCA gets ±3)."""
        rig = scene.rig
        names = list(rig.expr_names) if rig is not None else []
        lo, hi = (-3.0, 3.0) if rig is not None and rig.rig_id.startswith("flame") else (0.0, 1.0)
        self.pose_expr = np.zeros(len(names), np.float32)
        self.session.set_options(expr_manual=())
        layout.build_pose_sliders(self, names, lo, hi)

    def _build_identity(self, scene: Scene) -> None:
        """The Avatar tab's identity sliders, starting at the avatar's own face (FLAME's PCA
        gets ±3 like its expressions; the embedded rigs' components are unit targets), or at
        the values saved for this avatar folder the last time they were moved."""
        rig = scene.rig
        names = list(rig.shape_names[:MAX_IDENTITY_SLIDERS]) if rig is not None else []
        own = np.zeros(rig.n_shape if rig is not None else 0, np.float32)
        shape = np.asarray(scene.pipeline.identity.get("shape", own), np.float32).reshape(-1)
        own[:min(len(own), len(shape))] = shape[:len(own)]
        self.identity_own, self.identity = own, own.copy()
        limit = settings_mod.IDENTITY_LIMIT if rig is not None and rig.rig_id.startswith("flame") else 1.0
        lo, hi = -limit, limit
        saved = self.settings.identity.get(self.settings.avatar_dir, {})
        for name, value in saved.items():
            if name in names:
                self.identity[names.index(name)] = min(max(value, lo), hi)
        if any(name in names for name in saved):
            self.session.set_options(shape=tuple(float(v) for v in self.identity))
        layout.build_identity_sliders(self, names, [float(v) for v in self.identity[:len(names)]],
                                      lo, hi)

    def request_quit(self, reason: str = "") -> None:
        """Leave the main loop after this frame (finalising a recording); `reason` (e.g.
        "SIGTERM") goes into the closing line."""
        self.stop_reason = reason or self.stop_reason
        self.quit_requested = True

    def frame_preset(self, preset: str) -> None:
        """Aim the view like `still`/`render` do for `preset` ("face", "head")."""
        if self.scene is not None:
            self.view.aim(*self.scene.pipeline.framing(preset), preset)

    def toggle_live(self) -> None:
        """Start live button / Space: the microphone on, or off (also while it opens)."""
        opening_mic = self._opening is not None and self._opening[1] == "mic"
        if self.live_kind == "mic" or opening_mic or self._after_scan == self.start_mic:
            self.stop_live()
        else:
            self.start_mic()

    def start_mic(self) -> None:
        """Open the microphone on a worker thread (see _poll_opening): never blocks the window."""
        self.stop_live()
        if self.scanner.busy:   # PortAudio is re-initialising: open once the scan is done
            self._after_scan = self.start_mic
            return
        self._opening = (DeviceOpener(AudioInput(self.settings.input_device or None)), "mic")
        self.say("opening the microphone ...")

    def play_file(self, path: str) -> None:
        from avatar_app.audio_out import FilePlayer

        try:
            player = FilePlayer.open(path)
        except UserInputError as exc:
            self.say(str(exc))
            return
        self.stop_live()
        self.settings.audio_file = path
        self.dpg.set_value("audio_file", Path(path).name)
        if self.scanner.busy:
            self._after_scan = lambda: self.play_file(path)
            return
        self._opening = (DeviceOpener(player), "file")

    def play_motion(self, path: str) -> None:
        """Play a saved motion file on the avatar (stops live audio; Stop ends it)."""
        if not path:
            self.say("choose a motion file first (type its path or press '...')")
            return
        if self.scene is None or self.scene.rig is None:
            self.say("this avatar has no rig: a motion file cannot move it")
            return
        try:
            playback = MotionPlayback.open(path, list(self.scene.rig.expr_names), say=self.say)
        except UserInputError as exc:
            self.say(str(exc))
            return
        self.stop_live()
        self.session.motion.clear()
        self.session.latency.clear()
        self.playback = playback
        self.live_kind = "motion"
        self.settings.motion_file = path
        self.say(f"playing motion {Path(path).name} ({playback.duration:.1f} s, "
                 f"{len(playback.frames)} frames at {playback.fps:g} fps)")

    def stop_motion(self) -> None:
        if self.playback is not None:
            self.playback = None
            self.session.motion.clear()
            if self.live_kind == "motion":
                self.live_kind = ""

    def _poll_opening(self) -> None:
        """Go live once the audio device has opened; say why when it failed or hung."""
        opener, kind = self._opening
        outcome = opener.poll()
        if outcome is None:
            return
        self._opening = None
        source = opener.source
        if outcome and kind == "file":
            # the speakers hang: the file still drives the avatar, paced by a clock
            from avatar_app.audio_out import FilePlayer

            source = FilePlayer.open(source.path, speakers=False)
            source.start()
            source.silent_reason = f"{outcome}; animating without sound"
        elif outcome:
            self.say(outcome)
            return
        self.session.start_source(source)
        self.live_kind = kind
        self._apply_gain()
        if kind == "mic":
            self.dpg.configure_item("btn_live", label="Stop live")
            self.say(f"live from '{source.device_name}'")
        else:
            self.say(source.silent_reason or f"playing {Path(source.path).name}")

    def stop_live(self) -> None:
        """Stop whatever drives the avatar: microphone, audio file or motion file."""
        self._after_scan = None
        if self._opening is not None:
            self._opening[0].abandon()
            self._opening = None
        self.stop_motion()
        self.session.stop_source()
        self.live_kind = ""
        if self.dpg.does_item_exist("btn_live"):
            self.dpg.configure_item("btn_live", label="Start live")

    def toggle_record(self) -> None:
        if self.session.recorder is not None:
            self.stop_record()
            return
        s = self.settings
        folder = Path(s.record_dir or os.getcwd())
        path = folder / time.strftime("avatar-%Y%m%d-%H%M%S.mp4")
        rig = self.scene.rig if self.scene is not None else None
        source = self.session.source
        try:
            self.session.start_recording(
                str(path), sample_rate=getattr(source, "capture_rate", None) or CAPTURE_RATE,
                motion_suffix=s.record_motion if rig is not None else "",
                expr_names=list(rig.expr_names) if rig is not None else [],
                rig_id=rig.rig_id if rig is not None else "", alpha=s.transparent)
        except UserInputError as exc:
            self.say(str(exc))
            return
        self.dpg.configure_item("btn_rec", label="Stop recording")
        self.say(f"recording to {Path(self.session.recorder.path).name}")

    def stop_record(self) -> str | None:
        recorder = self.session.recorder
        path = self.session.stop_recording()
        if path:
            self.dpg.configure_item("btn_rec", label="Record")
            if recorder.error:   # disk full or similar: the writer kept what it could
                self.saved_recording = path if Path(path).exists() else ""
                self.dpg.set_value("saved", recorder.error)
                self.say(f"recording stopped: {recorder.error}")
            else:
                self.saved_recording = path
                also = "".join(f" + {Path(p).name}" for p in recorder.extra_files)
                self.dpg.set_value("saved", f"saved {path}{also}")
                self.say(f"saved {Path(path).name}{also}")
                if recorder.motion_error:
                    self.say(recorder.motion_error)
                if recorder.fill is not None:
                    self.say(f"filling in the {recorder.fill.total} frames the preview skipped; "
                             f"{Path(path).name} plays as recorded meanwhile")
        return path

    def save_render(self, path: str | None = None) -> str | None:
        """Screenshot button: the current render (RGBA, transparent if chosen) as a PNG."""
        import cv2

        if self.shown_frame is None:
            self.say("nothing rendered yet")
            return None
        path = path or str(Path(self.settings.record_dir or os.getcwd())
                           / time.strftime("avatar-%Y%m%d-%H%M%S.png"))
        try:
            check_output_file(path, {".png": "PNG"}, option="screenshot")
        except UserInputError as exc:
            self.say(str(exc))
            return None
        rgba = (np.clip(self.shown_frame.rgba, 0, 1) * 255 + 0.5).astype(np.uint8)
        if not cv2.imwrite(path, cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)):
            self.say(f"screenshot {path} could not be written (disk full?)")
            return None
        self.dpg.set_value("saved", f"saved {path}")
        return path

    # ------------------------------------------------------------------------------ main loop
    def tick(self) -> None:
        """One GUI frame: apply loads, upload the newest image, update meters and status."""
        dpg = self.dpg
        now = time.monotonic()
        if self._load_result is not None:
            (request, loaded), self._load_result = self._load_result, None
            self._apply_load(request, loaded)
        if self._opening is not None:
            self._poll_opening()
        self._print_terminal()
        self._poll_devices()
        while self._hotkeys:
            method = self._hotkeys.pop(0)
            self.hotkeys_used.append(method)
            getattr(self, method)()
        if self.playback is not None:
            self.playback.feed(self.session.motion, now)
            if self.playback.finished(now):
                self.stop_motion()
                self.say("motion file finished")
        recorder = self.session.recorder
        if recorder is not None and recorder.error:
            self.stop_record()
        while self.session.renderer.fill_messages:
            self.say(self.session.renderer.fill_messages.popleft())
        frame = self.session.take_frame()
        if frame is not None:
            size = frame.rgba.shape[0]
            if size != self._tex_size:
                dpg.delete_item("tex")
                dpg.add_raw_texture(size, size, frame.rgba, format=dpg.mvFormat_Float_rgba,
                                    tag="tex", parent="textures")
                dpg.configure_item("image", texture_tag="tex")
                self._tex_size = size
            else:
                dpg.set_value("tex", frame.rgba)
            self.shown_frame = frame  # keeps the array alive while the texture points at it
            self.session.mark_shown(frame, time.monotonic())
            self._render_frames.append(now)
            self.frames_shown += 1
            self._send_to_camera(frame)
        self._gui_frames.append(now)
        self._layout_image()
        source = self.session.source
        level = source.level_db() if source is not None else -100.0   # after the gain
        dpg.set_value("level", min(max((level + 60.0) / 60.0, 0.0), 1.0))
        dpg.configure_item("level", overlay=f"{level:.0f} dB")
        if source is not None and getattr(source, "lost", False):
            self.say(f"{source.error}; live stopped (pick another input or play a file)")
            self.stop_live()
        elif source is not None and getattr(source, "finished", False) and self.live_kind == "file":
            self.stop_live()
            self.say("file finished")
        if self.session.renderer.error:
            self.say(self.session.renderer.error)
            self.session.renderer.error = ""
        dpg.set_value("status", self.status_line())

    def _print_terminal(self) -> None:
        if self._terminal and not self.scanner.busy:
            for line in self._terminal:
                print(line, file=sys.stderr, flush=True)
            self._terminal.clear()

    def _poll_devices(self) -> None:
        """Hot-plug: re-scan while no stream is open; apply a finished scan's list."""
        audio_idle = self.session.source is None and self._opening is None
        if audio_idle and not self.quit_requested and (self._rescan_wanted or self.scanner.due()):
            self._rescan_wanted = False
            self.scanner.start()
        result = self.scanner.poll()
        if result is not None and result[0] is None:   # timed out: keep the list
            if self._refresh_asked or self._first_scan:
                self.say(result[1])
                self._show_devices(self.devices, result[1])
            self._refresh_asked = self._first_scan = False
        elif result is not None:
            self._refresh_asked = False
            devices, note = result
            chosen = self.settings.input_device
            change = changes(self.devices, devices)
            self.devices = devices
            self._show_devices(devices, note)
            if self._first_scan:   # the list the window starts with: nothing "new" in it
                self._first_scan = False
                if not devices:
                    self.say(note + ": use 'Play audio file' to drive the avatar from a speech file")
            elif chosen and chosen != self.settings.input_device:
                self.say(f"microphone '{chosen}' is gone; using "
                         f"'{self.settings.input_device}' (pick another input)")
            elif change or note:
                self.say(change or note)
        if self._after_scan is not None and self.scanner.hung:
            # the audio start waits on a scan the server never answers: say so, drop the start
            self._after_scan = None
            self.say(server_silent(self.scanner.timeout, AUDIO_NOT_STARTED))
        if self._after_scan is not None and not self.scanner.busy:
            start, self._after_scan = self._after_scan, None
            start()

    def _send_to_camera(self, frame: RenderedFrame) -> None:
        if self.vcam is None:
            return
        try:
            self.vcam.send(frame.rgba, tuple(self.settings.background))
        except Exception as exc:  # the device went away (module unloaded, OBS closed)
            self.vcam = None
            self.dpg.set_value("vcam", False)
            self.say(f"virtual camera stopped: {exc}")

    def status_line(self) -> str:
        now = time.monotonic()
        self._gui_frames = [t for t in self._gui_frames if now - t < 2.0]
        self._render_frames = [t for t in self._render_frames if now - t < 2.0]
        gui_fps = len(self._gui_frames) / 2.0
        render_fps = len(self._render_frames) / 2.0
        lat = self.session.latency.summary()
        lat_text = f"{lat[0]:.0f} ms (p95 {lat[1]:.0f})" if lat else "-"
        rec = "  REC" if self.session.recorder is not None else ""
        filling = self.session.renderer.filling
        if filling is not None:
            rec += f"  filling {filling.filled}/{filling.total}"
        source = self.session.source
        if source is not None and getattr(source, "captured", 1) == 0:
            # a slow audio server (or a muted device) must not look like a slow model
            lat_text = "- (mic: no audio yet)"
        elif self.playback is not None:
            lat_text = "- (motion file)"
        return (f"render {render_fps:.1f} fps ({self.session.renderer.render_ms:.0f} ms)  "
                f"GUI {gui_fps:.0f} fps  inference {self.session.infer_ms:.1f} ms/frame  "
                f"audio-to-frame {lat_text}  device {getattr(self, 'device', '-')}{rec}"
                f"\nlatency stages ms: {self.session.stages.text()}")

    def _layout_image(self) -> None:
        dpg = self.dpg
        # the view's inside: the viewport less the panel, window padding and the status lines
        w = max(dpg.get_viewport_client_width() - PANEL_W - 40, 64)
        h = max(dpg.get_viewport_client_height() - layout.BOTTOM_H - 32, 64)
        side = min(w, h)
        dpg.configure_item("image", width=side, height=side)

    def run(self) -> int:
        dpg = self.dpg
        dpg.create_context()
        try:
            dpg.create_viewport(title="Talking Splat", width=self.opts.width, height=self.opts.height)
            dpg.setup_dearpygui()
            self.build()
            dpg.show_viewport()
            o = self.opts
            self.load_avatar(self.settings.avatar_dir if o.avatar is None else o.avatar,
                             checkpoint=o.checkpoint, flame=o.flame, backend=o.backend)
            if o.virtual_camera:
                why_not = self.set_virtual_camera(True)
                if why_not is not None:   # the line saying what to install, for the terminal too
                    self._terminal.append(why_not)
            period = 1.0 / 60.0
            while dpg.is_dearpygui_running() and not self.quit_requested:
                start = time.monotonic()
                self.tick()
                if self._script is not None:
                    self._script.run(self)
                dpg.render_dearpygui_frame()
                self.session.mark_presented(time.monotonic())
                # the rest of the frame period, cut short by a finished image: it is uploaded
                # on the next pass instead of waiting out the period in the mailbox
                self.session.wait_for_frame(period - (time.monotonic() - start))
        finally:
            self.shutdown()
            dpg.destroy_context()
        return 0

    def shutdown(self) -> None:
        """Window closed or a stop signal: finalise a recording, stop audio, save settings."""
        recorder = self.session.recorder
        if recorder is not None:
            path = self.session.stop_recording()
            self.saved_recording = path or ""
            why = f" after {self.stop_reason}" if self.stop_reason else ""
            if recorder.error:
                print(f"error: recording {recorder.error}", file=sys.stderr)
            else:
                print(f"recording kept{why}: {path} ({recorder.seconds:.1f} s, finalised)")
        if self._opening is not None:
            self._opening[0].abandon()
        self.scanner.finish(timeout=3.0)
        self._print_terminal()
        if self.vcam is not None:
            self.vcam.close()
        self.session.close()
        for message in self.session.renderer.fill_messages:   # a fill cut short by the close
            print(message)
        try:
            settings_mod.save_settings(self.settings)
        except OSError as exc:
            print(f"warning: settings not saved: {exc}")
