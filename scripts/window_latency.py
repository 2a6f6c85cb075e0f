"""The window's own audio-to-frame latency with a virtual microphone (issue 16's third target).

`bench e2e` times the live pipeline without a window or a sound server; this runs the real
window under Xvfb, live on PulseAudio's null-sink microphone (tests/xvfb_pulse.py) with speech
looped into it, and prints the status line the user would read after `seconds` of speech.

usage: python scripts/window_latency.py [SIZE] [SECONDS]     (needs Xvfb, pulseaudio, paplay)
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import xvfb_pulse  # noqa: E402

SPEECH = ROOT / "assets" / "demo_speech.wav"


def measure(size: int, seconds: float) -> dict:
    """Run the window live for `seconds` of looped speech; its report (status, latency)."""
    with tempfile.TemporaryDirectory() as tmp:
        report, script = Path(tmp) / "report.json", Path(tmp) / "script.json"
        script.write_text(json.dumps([
            {"set": {"gate_mode": "off"}}, {"wait_loaded": True}, {"do": "start_live"},
            {"wait_audio": True}, {"wait": seconds}, {"report": str(report)}, {"do": "quit"}]))
        with xvfb_pulse.xvfb(1366, 768) as display, xvfb_pulse.pulse_vmic() as penv:
            env = dict(penv, DISPLAY=display, XDG_CONFIG_HOME=str(Path(tmp) / "config"))
            app = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "gui", "--script",
                                    str(script), "--size", str(size), "--backend", "cpu"],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            player = None
            deadline = time.monotonic() + seconds + 120
            while app.poll() is None and time.monotonic() < deadline:
                if player is None or player.poll() is not None:
                    player = xvfb_pulse.play_into_vmic(penv, SPEECH)
                time.sleep(0.2)
            if player is not None:
                player.kill()
            if app.poll() is None:
                app.kill()
        return json.loads(report.read_text())


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 12.0
    result = measure(size, seconds)
    print(result["status"])
    print("latency ms:", result["latency_ms"])
