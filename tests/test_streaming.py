"""Streaming engine: random block sizes reproduce offline inference; silence rests the mouth."""
import json
import subprocess

import numpy as np
import pytest
import torch

from driver.model import Learn2TalkRegressor
from driver.streaming import StreamingEngine, infer_offline, n_frames_for
from splat.assets_paths import DEFAULT_MODEL
from splat.errors import UserInputError
from tests.test_model import TINY_FRONT, make_tiny_rig, randomize_head, tiny_config

TOLERANCE = 1e-4   # stated: float32 reordering only; the math is identical


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def stream(engine, audio, rng, t0=0.0, max_block=2500):
    frames, i = [], 0
    while i < audio.size:
        n = int(rng.integers(1, max_block))
        frames += engine.push(audio[i:i + n], t0 + i / 16000)
        i += n
    return frames + engine.flush()


@pytest.mark.parametrize("kw", [dict(), dict(audio_lookahead=1, audio_lookback=2,
                                             self_attn_window=12),
                                dict(frontend=dict(TINY_FRONT, future_mel=-2))])
def test_random_blocks_equal_offline(kw):
    model = randomize_head(Learn2TalkRegressor(tiny_config(**kw)))
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(16000 * 2 + 123) * 0.1).astype(np.float32)
    offline = infer_offline(model, audio, t0=3.0)
    engine = StreamingEngine(model, lookahead_ms=100)
    assert 0 < engine.lookahead_ms <= 100
    for trial in range(2):                      # reset() gives a fresh identical stream
        frames = stream(engine, audio, rng, t0=3.0)
        engine.reset()
        assert len(frames) == len(offline) == n_frames_for(audio.size) == 61
        for a, b in zip(frames, offline):
            assert a.t == pytest.approx(b.t)
            assert np.abs(a.expr - b.expr).max() < TOLERANCE
            assert np.abs(a.jaw_pose - b.jaw_pose).max() < TOLERANCE
    assert frames[1].t == pytest.approx(3.0 + 1 / 30)
    assert np.abs(offline[-1].jaw_pose).max() > 0.01      # the head really is non-zero


def test_frames_wait_only_for_the_look_ahead():
    model = Learn2TalkRegressor(tiny_config(audio_lookahead=1)).eval()
    engine = StreamingEngine(model)
    got = engine.push(np.zeros(16000, np.float32), 0.0)
    # Every frame whose look-ahead audio has arrived is out; none beyond.
    assert got and got[-1].t + engine.lookahead_ms / 1000 <= 1.0 + 1e-9
    assert got[-1].t + 1 / 30 + engine.lookahead_ms / 1000 > 1.0
    assert len(engine._audio) < 16000           # old audio is dropped: bounded work


def test_silence_keeps_the_mouth_closed_and_rig_sizes_expr():
    rig = make_tiny_rig(n_expr=6)
    model = Learn2TalkRegressor(tiny_config()).eval()   # untrained: zero head
    engine = StreamingEngine(model, rig=rig)
    frames = stream(engine, np.zeros(16000, np.float32), np.random.default_rng(1))
    assert len(frames) == 30
    assert all(f.expr.shape == (6,) and not f.jaw_pose.any() for f in frames)


def test_vertex_model_is_fitted_to_rig_parameters():
    rig = make_tiny_rig()
    cfg = tiny_config(mode="vertices", outputs=[("vertices", rig.num_verts * 3)])
    model = randomize_head(Learn2TalkRegressor(cfg))
    audio = (np.random.default_rng(2).standard_normal(8000) * 0.1).astype(np.float32)
    frames = infer_offline(model, audio, rig=rig)
    assert frames[0].expr.shape == (4,) and np.isfinite(frames[0].jaw_pose).all()
    with pytest.raises(UserInputError, match="needs the avatar's rig"):
        StreamingEngine(model)


def test_look_ahead_budget_and_gaps():
    model = Learn2TalkRegressor(tiny_config(audio_lookahead=3)).eval()
    with pytest.raises(UserInputError, match="look-ahead"):
        StreamingEngine(model, lookahead_ms=50)
    engine = StreamingEngine(Learn2TalkRegressor(tiny_config()).eval())
    frames = engine.push(np.zeros(1600, np.float32), 10.0)
    frames += engine.push(np.zeros(1600, np.float32), 10.5)   # 0.4 s of audio went missing
    assert engine.stream_time == pytest.approx(10.6)
    frames += engine.flush()
    assert len(frames) == 18 and frames[-1].t == pytest.approx(10.0 + 17 / 30)


def test_bench_stream_reports_cost_and_look_ahead():
    from driver.bench import bench_stream

    result = bench_stream("logmel", seconds=0.5, warmup_hops=2, device="cpu")
    assert result.hops == 15 and 0 < result.median_ms <= result.p95_ms <= result.max_ms
    assert result.lookahead_ms == pytest.approx(82.5)
    assert "look-ahead 82.5 ms" in result.line()




def _trained_default() -> bool:
    cfg = DEFAULT_MODEL / "config.json"
    return cfg.is_file() and json.loads(cfg.read_text()).get("trained", False)


@pytest.mark.skipif(not _trained_default(), reason="no trained default model in assets/ yet")
def test_trained_default_moves_mouth_in_speech_and_rests_in_leading_silence(tmp_path):
    from driver.audio import load_audio
    from driver.checkpoint import load_checkpoint

    subprocess.run(["espeak-ng", "-w", str(tmp_path / "s.wav"),
                    "Hello there, my mouth should move while I am speaking."], check=True)
    speech = load_audio(tmp_path / "s.wav")
    audio = np.concatenate([np.zeros(16000, np.float32), speech])
    model, _ = load_checkpoint(DEFAULT_MODEL)
    jaw = np.array([f.jaw_pose[0] for f in infer_offline(model, audio)])
    assert np.abs(jaw[:25]).max() < 0.03                # the first second: mouth at rest
    assert jaw[35:].max() > 0.08 and jaw[35:].std() > 0.02
