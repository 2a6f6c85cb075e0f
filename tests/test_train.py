"""The training loop runs, validates, checkpoints, resumes and exports on a tiny corpus/rig."""
from __future__ import annotations

import json

import pytest
import torch

from driver.checkpoint import load_checkpoint
from driver.evaluate import evaluate, format_table
from driver.losses import build_terms
from driver.motion_space import load_rig, speech_rig
from driver.train import RegressorTrainConfig, SyncNetConfig, train_regressor, train_syncnet
from driver.training_data import CorpusData
from splat.errors import UserInputError
from tests.test_train_fixtures import write_tiny_corpus, write_tiny_rig


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    corpus = write_tiny_corpus(root / "corpus", clips_per_voice=2)
    rig = write_tiny_rig(root / "rig.npz")
    train_syncnet(SyncNetConfig(corpus=corpus, out=root / "sync", rig=rig, steps=10, batch=16,
                                val_every=10))
    return root, corpus, rig


def _config(root, corpus, rig, **kw) -> RegressorTrainConfig:
    base = dict(corpus=corpus, out=root / "run", rig=rig, syncnet=root / "sync", steps=4,
                batch=2, crop_frames=30, d_model=32, sync_start=1, sync_full=2, val_every=2,
                val_clips=1, save_every=2, sampling_ramp=2)
    base.update(kw)
    return RegressorTrainConfig(**base)


def test_train_checkpoint_resume_export_and_eval(tiny) -> None:
    root, corpus, rig = tiny
    torch.manual_seed(0)
    metrics = train_regressor(_config(root, corpus, rig))
    assert metrics["step"] == 4 and {"lve", "lse_d", "bilabial_closure"} <= set(metrics)
    history = [json.loads(x) for x in (root / "run" / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [2, 4]
    state = torch.load(root / "run" / "trainer_state.pt", weights_only=True)
    assert state["step"] == 4
    resumed = train_regressor(_config(root, corpus, rig, steps=6, resume=True,
                                      export=root / "export"))
    assert resumed["step"] == 6
    model, info = load_checkpoint(root / "export", rig=load_rig(rig))
    assert info.trained and info.training_data["train_utterances"] == 4
    assert (root / "export" / "syncnet3d.json").is_file()
    table, example = evaluate(root / "export", CorpusData(corpus, rig), "test")
    assert table["ground truth"]["lve"] == 0.0 and table["static face"]["lve"] > 0.0
    assert "energy jaw" in format_table(table) and example["clip"].voice == "v-c"
    assert list(table["_model_by_voice"]) == ["v-c"]    # the tiny corpus holds out one voice
    table, _ = evaluate(root / "export", CorpusData(corpus, rig), "train")
    voices = table["_model_by_voice"]
    assert len(voices) == 2 and "model, by voice:" in format_table(table)
    assert min(v["lve"] for v in voices.values()) <= table["model"]["lve"] \
        <= max(v["lve"] for v in voices.values())


def test_saved_model_is_the_weight_average_and_resumes_with_it(tiny, tmp_path) -> None:
    """With --ema the checkpoint holds the average and training goes on from the raw weights:
    one resumed step must move the saved average exactly decay:(1-decay) towards the new raw."""
    root, corpus, rig = tiny
    run = dict(out=tmp_path / "ema", ema=0.5, val_every=100)
    train_regressor(_config(root, corpus, rig, **run))
    before = load_checkpoint(tmp_path / "ema" / "model")[0].state_dict()
    state = torch.load(tmp_path / "ema" / "trainer_state.pt", weights_only=True)
    assert int(state["ema"]["n_averaged"]) == 4
    assert any(not torch.equal(before[k], state["raw_model"][k]) for k in before)
    train_regressor(_config(root, corpus, rig, steps=5, resume=True, **run))
    after = load_checkpoint(tmp_path / "ema" / "model")[0].state_dict()
    raw = torch.load(tmp_path / "ema" / "trainer_state.pt", weights_only=True)["raw_model"]
    for name, value in after.items():
        torch.testing.assert_close(value, 0.5 * before[name] + 0.5 * raw[name])
    with pytest.raises(UserInputError, match="--ema"):
        train_regressor(_config(root, corpus, rig, out=tmp_path / "bad", ema=1.5))


def test_resume_without_state_and_a_foreign_lip_reader_are_refused(tiny, tmp_path) -> None:
    from driver.lipreading.model import LipReader, save_lipreader

    root, corpus, rig = tiny
    with pytest.raises(UserInputError, match="nothing to resume"):
        train_regressor(_config(root, corpus, rig, out=tmp_path / "empty", resume=True))
    save_lipreader(LipReader(16, 8, 16), tmp_path / "reader", {"avatar": "default"})
    with pytest.raises(UserInputError, match="another rig's mouth"):   # the tiny rig is not the
        train_regressor(_config(root, corpus, rig, out=tmp_path / "lr", lipread_weight=1e-6,
                                lipreader=tmp_path / "reader"))      # reader's avatar's rig
    terms = build_terms(1.0, 1.0, 0.03, 10, 20, lipread=1e-6, lipread_start=30,
                        lipread_full=40)
    assert terms["sync"].scale(5) == 0 and terms["sync"].scale(15) == pytest.approx(0.015)
    assert terms["lipread"].scale(20) == 0.0 and terms["lipread"].scale(35) == pytest.approx(5e-7)


def test_speech_rig_is_exact_on_its_vertices(tiny) -> None:
    _, _, rig_path = tiny
    rig = load_rig(rig_path)
    sub = speech_rig(rig.data, every=3)
    params = {"expr": torch.rand(3, rig.n_expr) * 0.5, "jaw_pose": torch.rand(3, 3) * 0.1}
    full = rig(params)
    part = sub(params)
    lips_full = full[:, rig.masks["lips"]]
    lips_sub = part[:, sub.masks["lips"]]
    assert torch.allclose(lips_full, lips_sub, atol=1e-7)


def test_resume_never_runs_a_crafted_trainer_state(tiny, tmp_path) -> None:
    """trainer_state.pt is read weights-only: a payload in it is refused before training."""
    import os

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'marker'}",)

    root, corpus, rig = tiny
    run = dict(out=tmp_path / "run", steps=2, val_every=100)
    train_regressor(_config(root, corpus, rig, **run))
    state = torch.load(tmp_path / "run" / "trainer_state.pt", weights_only=True)
    torch.save({**state, "extra": Payload()}, tmp_path / "run" / "trainer_state.pt")
    with pytest.raises(UserInputError, match="not a trainer state that loads safely"):
        train_regressor(_config(root, corpus, rig, resume=True, **{**run, "steps": 3}))
    assert not (tmp_path / "marker").exists()


def test_init_fine_tunes_from_an_exported_checkpoint(tiny, tmp_path) -> None:
    """--init starts from the checkpoint's weights: a zero-rate run must save them unchanged."""
    root, corpus, rig = tiny
    train_regressor(_config(root, corpus, rig, out=tmp_path / "base", export=tmp_path / "base_export"))
    base = load_checkpoint(tmp_path / "base_export")[0].state_dict()
    train_regressor(_config(root, corpus, rig, out=tmp_path / "tuned", init=tmp_path / "base_export",
                            lr=0.0, ema=0.0, steps=2))
    tuned = load_checkpoint(tmp_path / "tuned" / "model")[0].state_dict()
    for name, value in base.items():
        torch.testing.assert_close(tuned[name], value)
    with pytest.raises(UserInputError, match="architecture differs"):
        train_regressor(_config(root, corpus, rig, out=tmp_path / "wide", init=tmp_path / "base_export",
                                d_model=48))
