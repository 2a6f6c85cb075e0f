"""The window's microphone list: refresh on request and re-scan for hot-plugged devices.

PortAudio enumerates devices only when it initialises, so a microphone plugged in after the
window opened is invisible until PortAudio is re-initialised (`audio_in.refresh_devices`).
That talks to the sound server, which can hang, so a scan runs on a worker thread and gives up
after `timeout` seconds, and it runs only while no audio stream is open: re-initialising
PortAudio under an open stream would kill the stream. `changes` turns two lists into the one
line the window shows ("new input 'USB mic'", "input 'USB mic' is gone").
"""
from __future__ import annotations

import threading
import time

from avatar_app.audio_in import InputDevice, list_input_devices, refresh_devices, server_silent

RESCAN_PERIOD_S = 3.0   # how often an idle window looks for plugged or unplugged inputs


class DeviceScanner:
    """One scan at a time on a worker thread; `poll()` hands its result to the GUI thread."""

    def __init__(self, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self.last_scan = time.monotonic()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._waiting = False   # a scan is running and its result is still wanted
        self._result: tuple[list[InputDevice], str] | None = None

    @property
    def busy(self) -> bool:
        """True while a scan runs (no stream may be opened meanwhile)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def hung(self) -> bool:
        """A scan has outlived its timeout: the sound server is not answering."""
        return self.busy and time.monotonic() - self.last_scan > self.timeout

    def start(self, rescan: bool = True) -> bool:
        """Begin a scan (`rescan`: re-initialise PortAudio first, to see hot-plugged devices;
        the window's first scan needs none); False when one is still running (a hung server
        keeps its thread). Every PortAudio enumeration of the window goes through here, so
        two threads never initialise PortAudio at once."""
        if self.busy:
            return False
        with self._lock:
            self._waiting, self._result = True, None
        self.last_scan = time.monotonic()
        self._thread = threading.Thread(target=self._scan, args=(rescan,), name="audio-scan",
                                        daemon=True)
        self._thread.start()
        return True

    def _scan(self, rescan: bool) -> None:
        try:
            if rescan:
                refresh_devices()
            found = list_input_devices()
            result = (found, "" if found else "no microphone found")
        except Exception as exc:  # PortAudio missing or broken: say so, keep the window
            result = ([], f"audio devices unavailable ({exc})")
        with self._lock:
            if self._waiting:   # a scan given up on (timeout) drops its late result
                self._result = result

    def poll(self) -> tuple[list[InputDevice] | None, str] | None:
        """(devices, note) once a scan finished, (None, why) when it timed out (a slow server
        says nothing about what is plugged in); None while it runs or when idle."""
        with self._lock:
            if not self._waiting:
                return None
            if self._result is not None:
                result, self._result, self._waiting = self._result, None, False
                return result
            if time.monotonic() - self.last_scan > self.timeout:
                self._waiting = False   # the thread stays until the server answers
                return None, server_silent(self.timeout, "the microphone list is unchanged")
            return None

    def finish(self, timeout: float) -> None:
        """Wait (up to `timeout`) for a running scan, so the process never exits inside
        PortAudio's initialisation."""
        if self._thread is not None:
            self._thread.join(timeout)

    def due(self) -> bool:
        """Time for the periodic hot-plug scan."""
        return not self.busy and time.monotonic() - self.last_scan >= RESCAN_PERIOD_S


def changes(old: list[InputDevice], new: list[InputDevice]) -> str:
    """One line naming inputs that appeared or vanished ("" when the list is the same)."""
    before, after = [d.name for d in old], [d.name for d in new]
    added = [n for n in after if n not in before]
    gone = [n for n in before if n not in after]
    parts = []
    if added:
        parts.append("new input " + ", ".join(f"'{n}'" for n in added))
    if gone:
        parts.append("input " + ", ".join(f"'{n}'" for n in gone) + (" is" if len(gone) == 1 else " are")
                     + " gone")
    return "; ".join(parts)
