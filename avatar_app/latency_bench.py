"""End-to-end latency for `main.py bench e2e`: audio sample captured → frame ready.

Runs the live path headless: a speech file is fed in real time by the file source's pacing
clock (stamped like a microphone), the driver worker and the render worker run exactly as in the
window, and a 60 Hz consumer stands in for the GUI thread, taking each finished image and
recording (time taken − capture time of its audio). Reports median and p95.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from avatar_app.audio_out import FilePlayer
from avatar_app.gui.orbit import OrbitView
from avatar_app.live_session import LiveSession, load_engine, load_scene, make_idle

ROOT = Path(__file__).resolve().parents[1]


def _engine(checkpoint: str | None, rig):
    """The checkpoint's engine; without one, the default architecture untrained (timing only)."""
    if checkpoint:
        engine, note = load_engine(checkpoint, rig)
        return engine, " ".join(filter(None, [Path(checkpoint).name, note]))
    from driver.model import Learn2TalkRegressor, RegressorConfig
    from driver.streaming import StreamingEngine

    model = Learn2TalkRegressor(RegressorConfig(outputs=[("expr", rig.n_expr), ("jaw_pose", 3)]))
    return StreamingEngine(model, rig, lookahead_ms=100.0), "untrained default architecture"


def bench_e2e(audio: str | None = None, avatar: str | None = None, checkpoint: str | None = None,
              backend: str = "auto", size: int = 512, seconds: float = 8.0) -> dict:
    """Run the live path on a file for `seconds`; returns latency and frame-rate figures."""
    from driver.audio import load_audio

    avatar = avatar or str(ROOT / "assets" / "default_avatar")
    default_model = ROOT / "assets" / "default_model"
    if checkpoint is None and (default_model / "config.json").is_file():
        checkpoint = str(default_model)
    audio = audio or str(ROOT / "assets" / "demo_speech.wav")
    samples = load_audio(audio)
    scene = load_scene(avatar, None, backend)
    engine, model_name = _engine(checkpoint, scene.rig)
    view = OrbitView()
    view.frame(scene.pipeline.framing_points(), "face")
    names = scene.rig.expr_names if scene.rig is not None else []
    session = LiveSession(view.camera, lambda o: make_idle(o, names))
    session.set_options(size=size)
    session.set_scene(scene)
    session.set_engine(engine)
    reps = int(np.ceil(seconds * 16000 / max(len(samples), 1)))
    player = FilePlayer(np.tile(samples, max(reps, 1))[: int(seconds * 16000)], speakers=False)
    player.start()
    session.start_source(player)
    shown = 0
    start = time.monotonic()
    try:
        while not player.finished and time.monotonic() - start < seconds + 5:
            frame = session.take_frame()
            if frame is not None:
                session.mark_shown(frame, time.monotonic())
                shown += 1
            time.sleep(1 / 60)
        infer_ms = session.infer_ms
    finally:
        session.close()
    elapsed = time.monotonic() - start
    lat = session.latency.values()
    return {
        "frames": shown, "render_fps": shown / elapsed, "backend": scene.pipeline.backend,
        "size": size, "model": model_name, "infer_ms_per_frame": infer_ms,
        "latency_median_ms": float(np.median(lat)) if len(lat) else None,
        "latency_p95_ms": float(np.percentile(lat, 95)) if len(lat) else None,
        "latency_samples": int(len(lat)),
    }
