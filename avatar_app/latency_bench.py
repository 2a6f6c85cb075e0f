"""The live path run headless: `main.py bench e2e` (latency), `bench soak` (memory, A/V) and
`bench capture` (the microphone's own buffering, the one stage a file-fed run leaves out).

A speech file is fed in real time by the file source's pacing clock (stamped like a
microphone), the driver worker and the render worker run exactly as in the window, and a
consumer stands in for the GUI thread (at least 60 passes a second, woken early by a finished
image, as the window's loop is), taking each finished image:
- e2e records (time taken − capture time of its audio) per image; reports median and p95;
- soak also records the whole run through the window's Recorder and samples the process RSS,
  then demuxes the recording back to report how far audio and picture ended apart (drift) and
  how much memory grew after the warm-up. The file is streamed from disk and looped, so a run
  of any length holds only a second of audio.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_app.audio_in import AudioInput
from avatar_app.audio_out import FilePlayer
from avatar_app.gui.orbit import OrbitView
from avatar_app.live_loading import load_engine, load_scene
from avatar_app.live_render import make_idle
from avatar_app.live_session import LiveSession
from avatar_app.mp4_writer import read_back
from driver.audio import SAMPLE_RATE
from driver.motion_source import default_checkpoint
from splat.assets_paths import DEMO_CLIP, default_avatar
from splat.errors import UserInputError


@dataclass
class LiveRun:
    """A running headless live session fed by a looped, paced file."""

    session: LiveSession
    player: FilePlayer
    backend: str
    model: str


def start_live_run(audio: str | None, avatar: str | None, checkpoint: str | None,
                   backend: str, size: int, seconds: float) -> LiveRun:
    """The window's live path on `avatar` (default: the embedded one) driven by `checkpoint`
    (default: the embedded model, else an untrained stand-in: timing only), framed like the
    window's Face view."""
    player = FilePlayer(audio or DEMO_CLIP, speakers=False, seconds=seconds)
    scene = load_scene(avatar or default_avatar(), None, backend)
    engine, note = load_engine(checkpoint, scene)
    named = checkpoint or default_checkpoint()
    model = " ".join(filter(None, [Path(named).name if named else "", note]))
    view = OrbitView()
    view.aim(*scene.pipeline.framing("face"))
    names = scene.rig.expr_names if scene.rig is not None else []
    session = LiveSession(view.camera, lambda o: make_idle(o, names))
    session.set_options(size=size)
    session.set_scene(scene)
    session.set_engine(engine)
    return LiveRun(session, player, scene.pipeline.backend, model)


def consume(run: LiveRun, seconds: float, every: Callable[[float], None] | None = None) -> int:
    """Stand in for the GUI thread until the file ends; returns the number of images shown.
    `every(elapsed)` is called once per second (the soak samples memory there)."""
    run.player.start()
    run.session.start_source(run.player)
    shown, start, next_tick = 0, time.monotonic(), 0.0
    while not run.player.finished and time.monotonic() - start < seconds + 5:
        tick = time.monotonic()
        frame = run.session.take_frame()
        if frame is not None:
            run.session.mark_shown(frame, time.monotonic())
            shown += 1
        elapsed = time.monotonic() - start
        if every is not None and elapsed >= next_tick:
            every(elapsed)
            next_tick += 1.0
        run.session.wait_for_frame(1 / 60 - (time.monotonic() - tick))  # as the window does
    return shown


def bench_e2e(audio: str | None = None, avatar: str | None = None, checkpoint: str | None = None,
              backend: str = "auto", size: int = 512, seconds: float = 8.0) -> dict:
    """Run the live path on a file for `seconds`; returns latency and frame-rate figures."""
    run = start_live_run(audio, avatar, checkpoint, backend, size, seconds)
    start = time.monotonic()
    try:
        shown = consume(run, seconds)
        infer_ms = run.session.infer_ms
    finally:
        run.session.close()
    elapsed = time.monotonic() - start
    lat = run.session.latency.values()
    return {
        "frames": shown, "render_fps": shown / elapsed, "backend": run.backend,
        "size": size, "model": run.model, "infer_ms_per_frame": infer_ms,
        "lookahead_ms": run.session.lookahead_s * 1000.0,
        "stages_ms": run.session.stages.medians(),
        "latency_median_ms": float(np.median(lat)) if len(lat) else None,
        "latency_p95_ms": float(np.percentile(lat, 95)) if len(lat) else None,
        "latency_samples": int(len(lat)),
    }


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc), MB."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    raise UserInputError("bench soak reads memory from /proc/self/status (Linux only)")


def bench_soak(out: Path, minutes: float, audio: str | None = None, avatar: str | None = None,
               checkpoint: str | None = None, backend: str = "auto", size: int = 256,
               warmup_s: float = 10.0, say: Callable[[str], None] = print) -> dict:
    """Live path with recording for `minutes`; RSS growth after `warmup_s` and the recording's
    A/V drift. `out` is the recording (kept, so it can be watched)."""
    seconds = minutes * 60.0
    run = start_live_run(audio, avatar, checkpoint, backend, size, seconds)
    run.session.start_recording(str(out))
    samples: list[tuple[float, float]] = []

    def sample(elapsed: float) -> None:
        samples.append((elapsed, rss_mb()))
        if int(elapsed) % 60 == 0 and elapsed >= 1:
            say(f"  {elapsed / 60:.0f} min: RSS {samples[-1][1]:.0f} MB")

    start = time.monotonic()
    try:
        shown = consume(run, seconds, sample)
        recorder = run.session.recorder
    finally:
        run.session.close()
    elapsed = time.monotonic() - start
    if recorder is not None and recorder.error:
        raise UserInputError(f"soak recording failed: {recorder.error}")
    after = [mb for t, mb in samples if t >= warmup_s] or [samples[-1][1]]
    ends = read_back(out)
    return {
        "seconds": elapsed, "frames_shown": shown, "backend": run.backend, "size": size,
        "model": run.model, "rss_start_mb": samples[0][1], "rss_after_warmup_mb": after[0],
        "rss_end_mb": samples[-1][1], "rss_peak_mb": max(mb for _t, mb in samples),
        "rss_growth_mb": samples[-1][1] - after[0], "warmup_s": warmup_s,
        "recording": str(out), "recorded_frames": ends.video_frames,
        "video_end_s": ends.video_end, "audio_end_s": ends.audio_end,
        "drift_ms": ends.drift * 1000.0,
        "padded_ms": recorder.padded_s * 1000.0 if recorder is not None else 0.0,
    }


def bench_capture(device: str | None = None, latency: str | float = "low", block_ms: float = 10.0,
                  seconds: float = 5.0, first_audio_s: float = 5.0, settle_s: float = 1.0) -> dict:
    """Open the microphone as the window does and measure its buffering for `seconds`.

    Per chunk the driver would read: capture lag = the time the newest sample reached the
    process − its capture stamp (PortAudio's ADC → callback delay where the host reports one,
    plus the lateness of burst delivery against the sample clock), and how much audio came at
    once. Servers often hold a new stream's first second or two and then deliver the backlog
    at once, so timing starts `settle_s` after audio first flows (waiting `first_audio_s` at most).
    """
    mic = AudioInput(device, block_ms=block_ms, latency=latency)
    mic.start()
    lags, sizes = [], []
    try:
        deadline = time.monotonic() + first_audio_s
        while mic.read(timeout=0.05) is None:
            if time.monotonic() > deadline:
                raise UserInputError(f"microphone '{mic.device_name}' delivered no audio within "
                                     f"{first_audio_s:g} s")
        settled = time.monotonic() + settle_s
        while time.monotonic() < settled:
            mic.read(timeout=0.05)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            chunk = mic.read(timeout=0.05)
            if chunk is None or chunk.t_arrived is None:
                continue
            newest = chunk.t_capture + (len(chunk.samples) - 1) / SAMPLE_RATE
            lags.append((chunk.t_arrived - newest) * 1000.0)
            sizes.append(len(chunk.samples) * 1000.0 / SAMPLE_RATE)
        stream_ms, adc = mic.stream_latency_s * 1000.0, mic.adc_delay_s
        name = mic.device_name
    finally:
        mic.stop()
    if not lags:
        raise UserInputError(f"microphone '{name}' delivered no audio in {seconds:g} s")
    lag, size = np.array(lags), np.array(sizes)
    return {"device": name, "latency": latency, "block_ms": block_ms,
            "stream_latency_ms": stream_ms, "adc_delay_ms": adc * 1000.0 if adc else None,
            "capture_median_ms": float(np.median(lag)), "capture_p95_ms": float(np.percentile(lag, 95)),
            "chunk_median_ms": float(np.median(size)), "chunk_max_ms": float(size.max()),
            "chunks": len(lags)}
