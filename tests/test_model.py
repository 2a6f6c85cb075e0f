"""Learn2TalkRegressor: config round trip, masks, the three run modes agree, checkpoints."""
import json

import numpy as np
import pytest
import torch

from driver.checkpoint import CheckpointInfo, load_checkpoint, save_checkpoint
from driver.frontends import LogMelFrontEnd
from driver.model import Learn2TalkRegressor, RegressorConfig, alibi_slopes
from splat.errors import UserInputError
from splat.rig import Rig, RigData

TINY_FRONT = LogMelFrontEnd(n_mels=16, channels=8, dilations=(1, 2), future_mel=1).config_dict()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_tiny_rig(rig_id: str = "tiny-test-rig", rows: int = 11, cols: int = 9,
                  n_expr: int = 4, seed: int = 0) -> RigData:
    """A flat 'face' grid (0.16 x 0.2 m, facing +z) whose lower third hangs on the jaw joint,
    which sits 6 cm behind the face so opening the jaw moves the chin down. One extra vertex
    (not in any face) carries the joints."""
    rng = np.random.default_rng(seed)
    xs, ys = np.linspace(-0.08, 0.08, cols), np.linspace(-0.1, 0.1, rows)
    grid = np.array([(x, y, 0.0) for y in ys for x in xs], np.float32)
    verts = np.concatenate([grid, [[0.0, 0.0, -0.06]]]).astype(np.float32)
    V = len(verts)
    faces = []
    for r in range(rows - 1):
        for c in range(cols - 1):
            a = r * cols + c
            faces += [[a, a + 1, a + cols], [a + 1, a + cols + 1, a + cols]]
    n_shape = 2
    shapedirs = np.zeros((V, 3, n_shape + n_expr), np.float32)
    shapedirs[:-1] = rng.normal(0, 0.005, (V - 1, 3, n_shape + n_expr))
    weights = np.zeros((V, 5), np.float32)
    lower = verts[:, 1] < -0.03
    weights[lower, 2] = 1.0
    weights[~lower, 0] = 1.0
    J = np.zeros((5, V), np.float32)
    J[:3, -1] = 1.0
    J[3, 5 * cols + 2] = J[4, 5 * cols + 6] = 1.0
    idx = np.arange(V - 1)
    return RigData(
        v_template=verts, faces=np.array(faces), shapedirs=shapedirs, n_shape=n_shape,
        n_expr=n_expr, posedirs=np.zeros((V, 3, 36), np.float32), J_regressor=J,
        weights=weights, kintree_table=np.array([[-1, 0, 1, 1, 1], [0, 1, 2, 3, 4]]),
        expr_names=[f"e{i}" for i in range(n_expr - 2)] + ["blink_L", "blink_R"],
        shape_names=["s0", "s1"],
        masks={"lips": idx[np.abs(verts[:-1, 1] + 0.03) < 0.015],
               "upper_face": idx[verts[:-1, 1] > 0.03], "eyes": idx[np.abs(verts[:-1, 1]) < 0.01]},
        rig_id=rig_id)


def tiny_config(**kw) -> RegressorConfig:
    base = dict(outputs=[("expr", 4), ("jaw_pose", 3)], d_model=16, n_heads=4,
                frontend=dict(TINY_FRONT), dropout=0.0)
    base.update(kw)
    return RegressorConfig(**base)


def randomize_head(model: Learn2TalkRegressor, seed: int = 0) -> Learn2TalkRegressor:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.head.weight.copy_(torch.randn(model.head.weight.shape, generator=g) * 0.3)
        model.head.bias.copy_(torch.randn(model.head.bias.shape, generator=g) * 0.1)
    return model.eval()


def test_config_json_round_trip_and_validation():
    cfg = tiny_config(audio_lookahead=2, n_styles=3)
    again = RegressorConfig.from_json(cfg.to_json())
    assert again == cfg and again.out_dim == 7
    with pytest.raises(ValueError):
        RegressorConfig(mode="pixels")
    with pytest.raises(ValueError):
        RegressorConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_untrained_head_is_zero_and_alibi_bias_is_periodic():
    model = Learn2TalkRegressor(tiny_config()).eval()
    y = model.infer(torch.randn(1, 8000) * 0.1, 15)
    assert y.shape == (1, 15, 7) and not y.abs().any()
    bias = model._self_bias(torch.arange(70), torch.arange(70), 1)     # (H, 70, 70)
    slopes = alibi_slopes(4)
    assert bias[0, 65, 36] == 0 and bias[0, 65, 35] == -slopes[0]    # floor(29/30), floor(30/30)
    assert bias[1, 65, 5] == -2 * slopes[1]
    assert torch.isinf(bias[:, 10, 11]).all()                           # causal
    window = Learn2TalkRegressor(tiny_config(self_attn_window=8))._self_bias(
        torch.arange(20), torch.arange(20), 1)
    assert torch.isinf(window[0, 19, 11]) and not torch.isinf(window[0, 19, 12])


def test_cross_attention_alignment_band():
    model = Learn2TalkRegressor(tiny_config(audio_lookahead=2, audio_lookback=1))
    m = model._cross_mask(torch.arange(6), torch.arange(8))
    assert (~m[3]).nonzero().flatten().tolist() == [2, 3, 4, 5]
    assert (~m[0]).nonzero().flatten().tolist() == [0, 1, 2]


@pytest.mark.parametrize("mode", ["params", "vertices"])
def test_teacher_forced_matches_autoregressive_and_any_length(mode):
    kw = dict(audio_lookahead=1, self_attn_window=40)
    if mode == "vertices":
        kw["outputs"], kw["mode"] = [("vertices", 30)], "vertices"
    model = randomize_head(Learn2TalkRegressor(tiny_config(**kw)))
    T = 650                                    # beyond FaceFormer's 600-frame table
    audio = torch.randn(1, int(T / 30 * 16000)) * 0.1
    with torch.no_grad():
        feats = model.audio_features(audio, T)
        gen = model.generate(feats, T)
        tf = model.forward_teacher(feats, gen)
    assert gen.shape == (1, T, model.config.out_dim)
    assert torch.allclose(gen, tf, atol=1e-4)
    assert gen.abs().mean() > 0.05


def test_training_step_reduces_loss():
    torch.manual_seed(0)
    model = Learn2TalkRegressor(tiny_config()).train()
    audio, target = torch.randn(2, 16000) * 0.1, torch.randn(2, 30, 7) * 0.1
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    losses = []
    for _ in range(10):
        loss = torch.nn.functional.mse_loss(model(audio, target, style=0), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_checkpoint_round_trip_and_topology_refusal(tmp_path):
    rig = make_tiny_rig()
    model = randomize_head(Learn2TalkRegressor(tiny_config()))
    info = CheckpointInfo.for_rig(rig, training_data={"corpus": "unit test"}, trained=True,
                                  metrics={"lve": 1.0})
    save_checkpoint(model, info, tmp_path / "ckpt")
    raw = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert raw["rig_topology"] == Rig(rig).topology_digest() and raw["fps"] == 30.0
    assert raw["architecture"]["frontend"]["kind"] == "logmel"
    loaded, info2 = load_checkpoint(tmp_path / "ckpt", rig=Rig(rig))
    assert info2 == info and loaded.config == model.config
    audio = torch.randn(1, 8000) * 0.1
    assert torch.equal(loaded.infer(audio, 10), model.infer(audio, 10))

    other = make_tiny_rig("other-rig", rows=7)
    with pytest.raises(UserInputError, match="trained for rig 'tiny-test-rig'.*'other-rig'"):
        load_checkpoint(tmp_path / "ckpt", rig=other)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(UserInputError, match="not found"):
        load_checkpoint(tmp_path / "nope")
    (tmp_path / "a").mkdir()
    with pytest.raises(UserInputError, match="no config.json"):
        load_checkpoint(tmp_path / "a")
    (tmp_path / "a" / "config.json").write_text("{not json")
    with pytest.raises(UserInputError, match="corrupt checkpoint config"):
        load_checkpoint(tmp_path / "a")
    save_checkpoint(Learn2TalkRegressor(tiny_config()), CheckpointInfo.for_rig(make_tiny_rig()),
                    tmp_path / "b")
    (tmp_path / "b" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(UserInputError, match="corrupt weights"):
        load_checkpoint(tmp_path / "b")
    (tmp_path / "b" / "model.safetensors").unlink()
    with pytest.raises(UserInputError, match="no model.safetensors"):
        load_checkpoint(tmp_path / "b")
