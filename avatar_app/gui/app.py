"""The live window: viewport with the rendered avatar, audio/avatar/controls panels, status.

The GUI thread only builds widgets, uploads finished images (raw float texture, pointer swap)
and reacts to input; loading, inference and rendering happen on other threads (see
live_session). dearpygui runs widget callbacks on its own worker thread, so callbacks only set
state or start work; the main loop applies results.
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
from avatar_app.audio_in import AudioInput, DeviceOpener, list_input_devices_within
from avatar_app.gui.orbit import PRESETS, OrbitView
from avatar_app.gui.script import ScriptRunner
from avatar_app.live_loading import Loaded, load_avatar_and_model
from avatar_app.live_render import RenderedFrame, RenderOptions, Scene, make_idle
from avatar_app.live_session import LiveSession
from avatar_app.output_paths import check_output_file
from avatar_app.vad import GATE_MODES, AudioGate, make_gate
from driver.idle import IdleMotion
from driver.motion_source import default_checkpoint
from splat.assets_paths import DEFAULT_AVATAR
from splat.errors import UserInputError

SIZES = (256, 384, 512, 768, 1024)
PANEL_W = 360


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
    height: int = 860
    extra: dict = field(default_factory=dict)


class AvatarApp:
    """The window. Its public methods and attributes (`load_avatar`, `start_mic`, `play_file`,
    `set_setting`, `frame_preset`, `toggle_record`, `save_render`, `loading`, `shown_frame`,
    `messages`, ...) are also what `gui.script` drives."""

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
        self.live_kind = ""  # "", "mic" or "file"
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
        self.devices, self._devices_note = list_input_devices_within(2.0)

    # ------------------------------------------------------------------ factories for workers
    def _idle_factory(self, ropts: RenderOptions) -> IdleMotion:
        scene = self.scene
        names = scene.rig.expr_names if scene is not None and scene.rig is not None else []
        return make_idle(ropts, names)

    def _gate_factory(self) -> AudioGate | None:
        return make_gate(self.settings.gate_mode, self.settings.gate_threshold_db)

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
            self.dpg.set_value("message", text)

    # --------------------------------------------------------------------------------- layout
    def build(self) -> None:
        dpg = self.dpg
        s = self.settings
        size = int(s.render_size)
        self._blank = np.ones((size, size, 4), np.float32) * 0.5
        with dpg.texture_registry(tag="textures"):
            dpg.add_raw_texture(size, size, self._blank, format=dpg.mvFormat_Float_rgba, tag="tex")
        self._tex_size = size
        with dpg.window(tag="main", no_scrollbar=True):
            with dpg.group(horizontal=True):
                with dpg.child_window(width=PANEL_W, tag="panel", height=-50):
                    self._audio_panel()
                    self._avatar_panel()
                    self._controls_panel()
                    self._record_panel()
                with dpg.child_window(tag="view", no_scrollbar=True, height=-50):
                    dpg.add_image("tex", tag="image", width=size, height=size)
            dpg.add_text("", tag="status")
            dpg.add_text("", tag="message", color=(255, 200, 80))
        with dpg.file_dialog(directory_selector=True, show=False, tag="dlg_avatar", width=600,
                             height=400, callback=lambda _s, a: self._picked("avatar", a)):
            pass
        for tag, kind, ext in (("dlg_flame", "flame", ".pkl"), ("dlg_ckpt", "checkpoint", ".json"),
                               ("dlg_audio", "audio", ".wav")):
            with dpg.file_dialog(show=False, tag=tag, width=600, height=400,
                                 callback=lambda _s, a, k=kind: self._picked(k, a)):
                dpg.add_file_extension(ext)
                dpg.add_file_extension(".*")
        with dpg.handler_registry():
            dpg.add_mouse_drag_handler(button=dpg.mvMouseButton_Left, callback=self._on_drag, user_data=0)
            dpg.add_mouse_drag_handler(button=dpg.mvMouseButton_Right, callback=self._on_drag, user_data=1)
            dpg.add_mouse_drag_handler(button=dpg.mvMouseButton_Middle, callback=self._on_drag, user_data=1)
            dpg.add_mouse_release_handler(callback=lambda: self._drag_last.clear())
            dpg.add_mouse_wheel_handler(callback=self._on_wheel)
        dpg.set_primary_window("main", True)

    def _audio_panel(self) -> None:
        dpg, s = self.dpg, self.settings
        with dpg.collapsing_header(label="Audio", default_open=True):
            names = [d.name for d in self.devices]
            current = s.input_device if s.input_device in names else next(
                (d.name for d in self.devices if d.is_default), names[0] if names else "")
            s.input_device = current
            dpg.add_combo(names, default_value=current, label="input", tag="device", width=220,
                          callback=lambda _s, v: self.set_setting("input_device", v))
            dpg.add_progress_bar(tag="level", default_value=0.0, overlay="level", width=-1)
            with dpg.group(horizontal=True):
                dpg.add_button(label="Start live", tag="btn_live", callback=lambda: self.toggle_live())
                dpg.add_checkbox(label="mute", default_value=s.muted, tag="mute",
                                 callback=lambda _s, v: self._set_mute(v))
            dpg.add_combo(list(GATE_MODES), default_value=s.gate_mode, label="gate", width=120,
                          tag="gate", callback=lambda _s, v: self._set_gate(v))
            dpg.add_slider_float(label="gate dB", default_value=s.gate_threshold_db, min_value=-70,
                                 max_value=-10, tag="gate_db", width=160,
                                 callback=lambda _s, v: self._set_gate_db(v))
            with dpg.group(horizontal=True):
                dpg.add_button(label="Play file...", callback=lambda: dpg.show_item("dlg_audio"))
                dpg.add_button(label="Stop", callback=lambda: self.stop_live())
            dpg.add_text(s.audio_file or "(no file)", tag="audio_file", wrap=PANEL_W - 20)
            if not self.devices:
                dpg.add_text("No microphone found: use 'Play file'.", color=(255, 120, 120))

    def _avatar_panel(self) -> None:
        dpg = self.dpg
        with dpg.collapsing_header(label="Avatar and model", default_open=True):
            dpg.add_button(label="Load avatar folder...", callback=lambda: dpg.show_item("dlg_avatar"))
            dpg.add_button(label="FLAME model file...", callback=lambda: dpg.show_item("dlg_flame"))
            dpg.add_button(label="Checkpoint...", callback=lambda: dpg.show_item("dlg_ckpt"))
            dpg.add_text("", tag="current", wrap=PANEL_W - 20)

    def _controls_panel(self) -> None:
        dpg, s = self.dpg, self.settings
        with dpg.collapsing_header(label="Controls", default_open=True):
            dpg.add_slider_float(label="expression", default_value=s.expression_intensity,
                                 min_value=0.0, max_value=2.0, width=160,
                                 callback=lambda _s, v: self.set_setting("expression_intensity", v))
            dpg.add_slider_float(label="jaw (manual)", default_value=0.0, min_value=0.0,
                                 max_value=0.35, width=160, tag="jaw",
                                 callback=lambda _s, v: self.session.set_options(jaw_manual=v))
            for key in ("blink", "gaze", "sway"):
                with dpg.group(horizontal=True):
                    dpg.add_checkbox(label=key, default_value=getattr(s, key),
                                     callback=lambda _s, v, k=key: self.set_setting(k, v))
                    dpg.add_slider_float(default_value=getattr(s, f"{key}_strength"), min_value=0.0,
                                         max_value=2.0, width=150,
                                         callback=lambda _s, v, k=key: self.set_setting(f"{k}_strength", v))
            dpg.add_color_edit(tuple(int(c * 255) for c in s.background), label="background",
                               no_alpha=True, width=160,
                               callback=lambda _s, v: self.set_setting("background", [c / 255.0 if c > 1 else c for c in v[:3]]))
            dpg.add_checkbox(label="transparent background", default_value=s.transparent,
                             callback=lambda _s, v: self.set_setting("transparent", v))
            dpg.add_combo([str(x) for x in SIZES], default_value=str(s.render_size), label="size",
                          width=100, callback=lambda _s, v: self.set_setting("render_size", int(v)))
            dpg.add_combo(["auto", "cpu", "gsplat"], default_value=s.backend, label="backend",
                          width=100, callback=lambda _s, v: self._set_backend(v))
            dpg.add_slider_float(label="A/V delay ms", default_value=s.display_delay_ms,
                                 min_value=0.0, max_value=500.0, width=160,
                                 callback=lambda _s, v: self.set_setting("display_delay_ms", v))
            with dpg.group(horizontal=True):
                dpg.add_button(label="Reset view", callback=lambda: self.view.reset())
                for key, label in PRESETS.items():
                    dpg.add_button(label=label, callback=lambda _s, _a, k=key: self.frame_preset(k))

    def _record_panel(self) -> None:
        dpg = self.dpg
        with dpg.collapsing_header(label="Record", default_open=True):
            with dpg.group(horizontal=True):
                dpg.add_button(label="Record", tag="btn_rec", callback=lambda: self.toggle_record())
                dpg.add_button(label="Screenshot", callback=lambda: self.save_render())
            dpg.add_text("", tag="saved", wrap=PANEL_W - 20)

    # ------------------------------------------------------------------------------ callbacks
    def set_setting(self, key: str, value: object) -> None:
        """Change one saved setting (a control's value) and apply it to the render."""
        setattr(self.settings, key, value)
        self._apply_options()

    def _set_mute(self, value: bool) -> None:
        self.settings.muted = value
        self.session.set_muted(value)

    def _set_gate(self, mode: str) -> None:
        self.settings.gate_mode = mode
        try:
            self.session.set_gate(self._gate_factory)
        except UserInputError as exc:
            self.say(str(exc))

    def _set_gate_db(self, value: float) -> None:
        self.settings.gate_threshold_db = value
        self.session.set_gate(self._gate_factory)

    def _set_backend(self, backend: str) -> None:
        self.load_avatar(self.settings.avatar_dir, backend=backend)

    def _picked(self, kind: str, app_data: dict) -> None:
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
            return
        scene, engine, ckpt, note = loaded.scene, loaded.engine, loaded.checkpoint, loaded.note
        first = self.scene is None
        self.scene = scene
        for key, value in request.items():
            setattr(self.settings, key, value)
        self.session.set_scene(scene)
        self.session.set_engine(engine)
        if first or scene.rig is not None:
            self.frame_preset("face")
        pipe = scene.pipeline
        self.device = f"{pipe.backend} on {pipe.device.type.upper()}"
        self.dpg.set_value("current", f"avatar: {scene.name}\nrig: {getattr(scene.rig, 'rig_id', 'none')}"
                                      f"\nmodel: {Path(ckpt).name if ckpt else 'none'}\nrender: {self.device}")
        self.say(self._fallback_note if first and self._fallback_note
                 else note or f"loaded {scene.name}")

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
        if self.live_kind == "mic":
            self.stop_live()
        else:
            self.start_mic()

    def start_mic(self) -> None:
        """Open the microphone on a worker thread (see _poll_opening): never blocks the window."""
        self.stop_live()
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
        self._opening = (DeviceOpener(player), "file")

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
        if kind == "mic":
            self.dpg.configure_item("btn_live", label="Stop live")
            self.say(f"live from '{source.device_name}'")
        else:
            self.say(source.silent_reason or f"playing {Path(source.path).name}")

    def stop_live(self) -> None:
        if self._opening is not None:
            self._opening[0].abandon()
            self._opening = None
        self.session.stop_source()
        self.live_kind = ""
        if self.dpg.does_item_exist("btn_live"):
            self.dpg.configure_item("btn_live", label="Start live")

    def toggle_record(self) -> None:
        if self.session.recorder is not None:
            self.stop_record()
            return
        folder = Path(self.settings.record_dir or os.getcwd())
        path = folder / time.strftime("avatar-%Y%m%d-%H%M%S.mp4")
        try:
            self.session.start_recording(str(path))
        except UserInputError as exc:
            self.say(str(exc))
            return
        self.dpg.configure_item("btn_rec", label="Stop recording")
        self.say(f"recording to {path.name}")

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
                self.dpg.set_value("saved", f"saved {path}")
                self.say(f"saved {Path(path).name}")
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
        recorder = self.session.recorder
        if recorder is not None and recorder.error:
            self.stop_record()
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
        self._gui_frames.append(now)
        self._layout_image()
        source = self.session.source
        level = source.level_db() if source is not None else -100.0
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

    def status_line(self) -> str:
        now = time.monotonic()
        self._gui_frames = [t for t in self._gui_frames if now - t < 2.0]
        self._render_frames = [t for t in self._render_frames if now - t < 2.0]
        gui_fps = len(self._gui_frames) / 2.0
        render_fps = len(self._render_frames) / 2.0
        lat = self.session.latency.summary()
        lat_text = f"{lat[0]:.0f} ms (p95 {lat[1]:.0f})" if lat else "-"
        rec = "  REC" if self.session.recorder is not None else ""
        source = self.session.source
        if source is not None and getattr(source, "captured", 1) == 0:
            # a slow audio server (or a muted device) must not look like a slow model
            lat_text = "- (mic: no audio yet)"
        return (f"render {render_fps:.1f} fps ({self.session.renderer.render_ms:.0f} ms)  "
                f"GUI {gui_fps:.0f} fps  inference {self.session.infer_ms:.1f} ms/frame  "
                f"audio-to-frame {lat_text}  device {getattr(self, 'device', '-')}{rec}"
                f"\nlatency stages ms: {self.session.stages.text()}")

    def _layout_image(self) -> None:
        dpg = self.dpg
        w = max(dpg.get_viewport_client_width() - PANEL_W - 30, 64)
        h = max(dpg.get_viewport_client_height() - 80, 64)
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
            if not self.devices:
                self.say(self._devices_note or "no microphone found: use 'Play file' to drive "
                         "the avatar from a speech file")
            period = 1.0 / 60.0
            while dpg.is_dearpygui_running() and not self.quit_requested:
                start = time.monotonic()
                self.tick()
                if self._script is not None:
                    self._script.run(self)
                dpg.render_dearpygui_frame()
                self.session.mark_presented(time.monotonic())
                spare = period - (time.monotonic() - start)
                if spare > 0:
                    time.sleep(spare)
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
        self.session.close()
        try:
            settings_mod.save_settings(self.settings)
        except OSError as exc:
            print(f"warning: settings not saved: {exc}")
