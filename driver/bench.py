"""Streaming cost per 33 ms hop for each audio front end (`main.py bench stream`).

Audio is pushed into a StreamingEngine one motion frame (1/30 s) at a time, as a live
microphone would deliver it, and each push is timed: that is the driver's share of a live
frame's budget. Weights are randomly initialised (cost does not depend on their values), so no
download is needed; the wav2vec2 encoder is base-sized (768-d, 12 layers) like FaceFormer's.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from driver.audio import MOTION_FPS, SAMPLE_RATE
from driver.checkpoint import read_checkpoint_info
from driver.devices import resolve_device
from driver.frontends import LogMelFrontEnd, Wav2Vec2FrontEnd, build_frontend, tiny_wav2vec2_config
from driver.model import Learn2TalkRegressor, RegressorConfig
from driver.streaming import StreamingEngine
from splat.assets_paths import DEFAULT_MODEL

FRONT_ENDS = ("logmel", "wav2vec2")


@dataclass
class StreamBench:
    front_end: str
    device: str
    hops: int
    median_ms: float
    p95_ms: float
    max_ms: float
    lookahead_ms: float
    threads: int

    def line(self) -> str:
        return (f"{self.front_end:9s} {self.device:5s} per 33 ms hop: median "
                f"{self.median_ms:7.2f} ms  p95 {self.p95_ms:7.2f} ms  max {self.max_ms:7.2f} ms"
                f"  | look-ahead {self.lookahead_ms:.1f} ms  ({self.hops} hops, "
                f"{self.threads} torch threads)")


def shipped_decoder_config() -> RegressorConfig:
    """The embedded default checkpoint's architecture (or the defaults when it is missing), so
    the figures describe the model users actually run."""
    if (DEFAULT_MODEL / "config.json").is_file():
        return read_checkpoint_info(DEFAULT_MODEL)[0]
    return RegressorConfig()


def build_bench_model(front_end: str) -> Learn2TalkRegressor:
    """A regressor of the shipped architecture with the named front end, random weights."""
    shipped = shipped_decoder_config()
    if front_end == "logmel":
        frontend = build_frontend(shipped.frontend) if shipped.frontend else LogMelFrontEnd()
    elif front_end == "wav2vec2":
        frontend = Wav2Vec2FrontEnd(hf_config=tiny_wav2vec2_config(hidden=768, layers=12))
    else:
        raise ValueError(f"front end must be one of {FRONT_ENDS}")
    config = replace(shipped, frontend=frontend.config_dict())
    model = Learn2TalkRegressor(config, frontend=frontend)
    torch.nn.init.normal_(model.head.weight, std=0.01)   # a live head, like a trained one
    return model.eval()


def bench_stream(front_end: str = "logmel", seconds: float = 10.0, warmup_hops: int = 10,
                 device: str | None = None, seed: int = 0, threads: int | None = 1
                 ) -> StreamBench:
    """Time StreamingEngine.push per motion-frame-sized block of noise-like audio.

    `threads` (default 1, as the live driver worker should run): per-hop work is a few small
    ops, and OpenMP threads spinning on a busy CPU cost far more than they save.
    """
    device = str(resolve_device(device or "auto"))
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _run(front_end, seconds, warmup_hops, device, seed)
    finally:
        torch.set_num_threads(before)


def _run(front_end: str, seconds: float, warmup_hops: int, device: str, seed: int) -> StreamBench:
    engine = StreamingEngine(build_bench_model(front_end), device=device)
    rng = np.random.default_rng(seed)
    n_hops = int(seconds * MOTION_FPS) + warmup_hops
    edges = np.round(np.arange(n_hops + 1) * SAMPLE_RATE / MOTION_FPS).astype(int)
    audio = (0.1 * rng.standard_normal(edges[-1])).astype(np.float32)
    times = []
    for i in range(n_hops):
        start = time.perf_counter()
        engine.push(audio[edges[i]:edges[i + 1]], edges[i] / SAMPLE_RATE)
        if engine.device.type == "cuda":
            torch.cuda.synchronize(engine.device)
        times.append((time.perf_counter() - start) * 1000.0)
    ms = np.array(times[warmup_hops:])
    return StreamBench(front_end=front_end, device=device, hops=len(ms),
                       median_ms=float(np.median(ms)), p95_ms=float(np.percentile(ms, 95)),
                       max_ms=float(ms.max()), lookahead_ms=engine.lookahead_ms,
                       threads=torch.get_num_threads())
