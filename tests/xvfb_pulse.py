"""Real parts for integration tests: an Xvfb display and a PulseAudio virtual microphone.

The virtual mic is REFERENCE.md §6's recipe: a null sink `vmic` whose monitor is the default
source, so `paplay -d vmic speech.wav` is heard by anything recording from PortAudio's ALSA
"pulse"/"default" devices. Each helper starts a private server (own runtime dir, free display
number) and stops exactly the process it started.
"""
from __future__ import annotations

import ctypes.util
import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

XVFB_MISSING = shutil.which("Xvfb") is None
XTEST_MISSING = ctypes.util.find_library("Xtst") is None   # keyboard events for hotkey tests
PULSE_MISSING = any(shutil.which(b) is None for b in ("pulseaudio", "pactl", "paplay"))
TTS = shutil.which("espeak-ng") or shutil.which("flite")


def _free_display() -> int:
    for n in range(90, 400):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number")


@contextmanager
def xvfb(width: int = 1280, height: int = 900) -> Iterator[str]:
    """A running Xvfb; yields its DISPLAY value."""
    n = _free_display()
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while not Path(f"/tmp/.X11-unix/X{n}").exists():
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("Xvfb did not start")
            time.sleep(0.05)
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def pulse_vmic() -> Iterator[dict[str, str]]:
    """A private PulseAudio server with the `vmic` null sink; yields the env to reach it."""
    runtime = tempfile.mkdtemp(prefix="pulse-test-")
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime, PULSE_SERVER=f"unix:{runtime}/pulse/native")
    subprocess.run(["pulseaudio", "-D", "--exit-idle-time=-1", "-n", "--log-target=stderr",
                    "--load=module-null-sink sink_name=vmic",
                    "--load=module-native-protocol-unix"],
                   env=env, check=True, capture_output=True, timeout=30)
    pid_file = Path(runtime) / "pulse" / "pid"
    try:
        deadline = time.time() + 10
        while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
            if time.time() > deadline:
                raise RuntimeError("PulseAudio did not come up")
            time.sleep(0.1)
        subprocess.run(["pactl", "set-default-source", "vmic.monitor"], env=env, check=True)
        yield env
    finally:
        stop_pulse(env, pid_file)
        shutil.rmtree(runtime, ignore_errors=True)


def stop_pulse(env: dict[str, str], pid_file: Path | None = None) -> None:
    """Stop the server started for `env` (also used to make the microphone vanish)."""
    pid_file = pid_file or Path(env["XDG_RUNTIME_DIR"]) / "pulse" / "pid"
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def make_speech(path: Path, text: str = "Hello, my name is Splat. I talk when you talk. "
                "Papa bought a big blue bottle, and we went far away.") -> Path:
    """Synthesise a speech WAV with espeak-ng (or flite)."""
    if TTS is None:
        raise RuntimeError("no text-to-speech program (espeak-ng or flite)")
    if Path(TTS).name == "espeak-ng":
        subprocess.run([TTS, "-w", str(path), text], check=True, capture_output=True)
    else:
        subprocess.run([TTS, "-t", text, "-o", str(path)], check=True, capture_output=True)
    return path


def play_into_vmic(env: dict[str, str], wav: Path) -> subprocess.Popen:
    return subprocess.Popen(["paplay", "-d", "vmic", str(wav)], env=env)


def tone(seconds: float, rate: int = 16000, freq: float = 220.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def pulse_pid(env: dict[str, str]) -> int:
    """The pid of the private server started for `env`."""
    return int((Path(env["XDG_RUNTIME_DIR"]) / "pulse" / "pid").read_text().split()[0])


@contextmanager
def frozen_pulse(env: dict[str, str]) -> Iterator[None]:
    """A sound server that hangs (SIGSTOP) without going away, resumed (SIGCONT) after."""
    pid = pulse_pid(env)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


class _X11:
    """The few Xlib (and XTest) calls the window helpers need, through ctypes."""

    def __init__(self, display: str) -> None:
        import ctypes
        import ctypes.util

        self.c = ctypes
        x11 = self.x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
        x11.XOpenDisplay.restype = ctypes.c_void_p
        x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x11.XDefaultRootWindow.restype = ctypes.c_ulong
        x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        x11.XInternAtom.restype = ctypes.c_ulong
        x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        x11.XQueryTree.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong),
                                   ctypes.POINTER(ctypes.c_ulong),
                                   ctypes.POINTER(ctypes.POINTER(ctypes.c_ulong)),
                                   ctypes.POINTER(ctypes.c_uint)]
        x11.XFetchName.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_char_p)]
        x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                                   ctypes.c_void_p]
        x11.XSetInputFocus.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_ulong]
        x11.XStringToKeysym.restype = ctypes.c_ulong
        x11.XStringToKeysym.argtypes = [ctypes.c_char_p]
        x11.XKeysymToKeycode.restype = ctypes.c_ubyte
        x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.dpy = x11.XOpenDisplay(display.encode())
        if not self.dpy:
            raise RuntimeError(f"cannot open display {display}")

    def find_window(self, title: str, timeout: float = 10.0) -> int:
        c, x11 = self.c, self.x11
        deadline = time.time() + timeout
        while True:
            root, parent = c.c_ulong(), c.c_ulong()
            children, n = c.POINTER(c.c_ulong)(), c.c_uint()
            x11.XQueryTree(self.dpy, x11.XDefaultRootWindow(self.dpy), c.byref(root),
                           c.byref(parent), c.byref(children), c.byref(n))
            window = None
            for i in range(n.value):
                name = c.c_char_p()
                if x11.XFetchName(self.dpy, children[i], c.byref(name)) and name.value == title.encode():
                    window = children[i]
            if children:
                x11.XFree(children)
            if window is not None:
                return window
            if time.time() > deadline:
                raise RuntimeError(f"no window called {title!r}")
            time.sleep(0.1)

    def close(self) -> None:
        self.x11.XCloseDisplay(self.dpy)


def close_window(display: str, title: str, timeout: float = 10.0) -> None:
    """Ask the X11 window called `title` to close, as a window manager's close button does
    (a WM_PROTOCOLS / WM_DELETE_WINDOW client message), through Xlib via ctypes."""
    x = _X11(display)
    c, x11 = x.c, x.x11

    class ClientMessage(c.Structure):
        _fields_ = [("type", c.c_int), ("serial", c.c_ulong),
                    ("send_event", c.c_int), ("display", c.c_void_p),
                    ("window", c.c_ulong), ("message_type", c.c_ulong),
                    ("format", c.c_int), ("data", c.c_long * 5)]

    class XEvent(c.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", c.c_long * 24)]

    try:
        window = x.find_window(title, timeout)
        event = XEvent()
        msg = event.xclient
        msg.type, msg.window, msg.format = 33, window, 32          # 33 = ClientMessage
        msg.message_type = x11.XInternAtom(x.dpy, b"WM_PROTOCOLS", 0)
        msg.data[0] = x11.XInternAtom(x.dpy, b"WM_DELETE_WINDOW", 0)
        x11.XSendEvent(x.dpy, window, 0, 0, c.byref(event))
        x11.XFlush(x.dpy)
    finally:
        x.close()


def press_keys(display: str, title: str, keys: list[str], gap_s: float = 0.4) -> None:
    """Type `keys` (X keysym names: "space", "r", ...) into the window called `title` as a
    keyboard would: focus it, then real key press/release events through the XTEST
    extension (what xdotool does), `gap_s` apart so a slow GUI frame sees each one."""
    import ctypes
    import ctypes.util

    x = _X11(display)
    xtst = ctypes.CDLL(ctypes.util.find_library("Xtst"))
    xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
    try:
        window = x.find_window(title)
        x.x11.XSetInputFocus(x.dpy, window, 2, 0)   # RevertToParent, CurrentTime
        x.x11.XFlush(x.dpy)
        for key in keys:
            code = x.x11.XKeysymToKeycode(x.dpy, x.x11.XStringToKeysym(key.encode()))
            for down in (1, 0):
                xtst.XTestFakeKeyEvent(x.dpy, code, down, 0)
                x.x11.XFlush(x.dpy)
                time.sleep(0.15 if down else gap_s)
    finally:
        x.close()
