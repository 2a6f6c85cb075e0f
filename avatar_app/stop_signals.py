"""SIGINT, SIGTERM and SIGHUP all mean "stop and keep what is recorded", for render and the GUI.

Python turns only SIGINT into an exception; SIGTERM (a service manager, `kill`) and SIGHUP (the
terminal closing) kill the process outright, so an MP4 being written never gets finished. Both
the `render` command and the window install these handlers so every one of the three ends the
same way: the writer is closed, the partial file is valid and one line says it was kept.

`StopRequest` records the first signal. While `raise_now` is on (loading, inference: nothing is
being written) the handler raises `Interrupted` so the work stops at once; while a file is being
written the owner turns it off and polls `signum` between frames, so the writer is never cut in
the middle of a packet. Further signals while stopping are ignored: a second Ctrl-C must not
abort the close that makes the file playable.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class Interrupted(KeyboardInterrupt):
    """Raised by the handler (or by the owner's poll) for the first stop signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + signal number (130 for Ctrl-C, 143 for SIGTERM)."""
        return 128 + self.signum


class StopRequest:
    """The first stop signal received; see the module docstring for `raise_now`."""

    def __init__(self, raise_now: bool = True, on_stop: Callable[[int], None] | None = None) -> None:
        self.signum: int | None = None
        self.raise_now = raise_now
        self.on_stop = on_stop

    def handle(self, signum: int, _frame=None) -> None:
        if self.signum is not None:
            return
        self.signum = signum
        if self.on_stop is not None:
            self.on_stop(signum)
        if self.raise_now:
            raise Interrupted(signum)

    def check(self) -> None:
        """Raise Interrupted if a stop signal has arrived (the owner's poll between frames)."""
        if self.signum is not None:
            raise Interrupted(self.signum)


@contextmanager
def stop_signals(request: StopRequest) -> Iterator[StopRequest]:
    """Route SIGINT/SIGTERM/SIGHUP to `request` inside the block; previous handlers come back
    after it. Only the main thread may install handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {s: signal.signal(s, request.handle) for s in STOP_SIGNALS}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
