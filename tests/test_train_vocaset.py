"""VOCASET on FLAME through the one training loop: vertex offsets from each subject's template.

A tiny FLAME-layout model and a synthetic VOCASET folder (FaceFormer's layout, 60 fps,
templates.pkl) stand in for the real, registration-only data.
"""
from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch

import main
from driver.checkpoint import load_checkpoint
from driver.evaluate import evaluate, format_table
from driver.losses import build_terms
from driver.streaming import infer_offline
from driver.train import (Objective, RegressorTrainConfig, SyncNetConfig, TeacherForcedStep,
                          TrainClip, build_model, make_optimizer, sample_batch, train_regressor,
                          train_syncnet)
from driver.training_data import CorpusData, VocasetData, open_data
from splat.errors import UserInputError
from splat.rig import load_rig_data
from tests.test_rig_fakes import fake_flame_dict, fake_rig_data, write_plain_pickle
from tests.test_train_fixtures import (write_tiny_corpus, write_tiny_flame, write_tiny_rig,
                                       write_tiny_vocaset)


@pytest.fixture(scope="module")
def voca(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # tiny ops on a shared CPU: threads cost more than they give
    root = tmp_path_factory.mktemp("voca")
    flame, masks = write_tiny_flame(root / "flame" / "generic_model.pkl",
                                    root / "masks" / "FLAME_masks.pkl")
    vocaset = write_tiny_vocaset(root / "vocaset")
    data = dict(vocaset=vocaset, flame=flame, flame_masks=masks)
    train_syncnet(SyncNetConfig(out=root / "sync", steps=10, batch=16, val_every=10, **data))
    yield root, data
    torch.set_num_threads(threads)


def _config(root, data, **kw) -> RegressorTrainConfig:
    base = dict(out=root / "run", syncnet=root / "sync", steps=4, batch=2, crop_frames=30,
                d_model=32, sync_start=1, sync_full=2, val_every=2, val_clips=1, save_every=2,
                sampling_ramp=2, **data)
    base.update(kw)
    return RegressorTrainConfig(**base)


def test_vocaset_regressor_trains_resumes_and_is_evaluated_against_baselines(voca) -> None:
    root, data = voca
    torch.manual_seed(0)
    metrics = train_regressor(_config(root, data))
    assert metrics["step"] == 4 and math.isfinite(metrics["lve"]) and metrics["lve"] > 0
    assert math.isfinite(metrics["lse_d"]) and "bilabial_closure" not in metrics
    model, info = load_checkpoint(root / "run" / "model", rig=load_rig_data(data["flame"]))
    assert model.config.mode == "vertices" and model.config.out_dim == 80 * 3
    assert info.rig_id == "flame2020" and info.training_data["train_utterances"] == 3
    with pytest.raises(UserInputError, match="trained for rig"):
        load_checkpoint(root / "run" / "model", rig=fake_rig_data(num_verts=80))

    resumed = train_regressor(_config(root, data, steps=6, resume=True))
    history = [json.loads(x) for x in (root / "run" / "history.jsonl").read_text().splitlines()]
    assert resumed["step"] == 6 and [h["step"] for h in history] == [2, 4, 6]
    assert torch.load(root / "run" / "trainer_state.pt", weights_only=True)["step"] == 6

    table, example = evaluate(root / "run", open_data(**data), "test")   # a run folder
    rows = {m: table[m] for m in ("model", "energy jaw", "static face", "ground truth")}
    assert rows["ground truth"]["lve"] == 0.0 and rows["static face"]["lve"] > 0.0
    assert rows["energy jaw"]["lve"] not in (0.0, rows["static face"]["lve"])
    assert table["_info"]["energy_gain"] > 0 and table["_info"]["syncnet"] == str(root / "sync")
    assert example["jaw"]["energy jaw"].max() > 0.02 and example["jaw"]["ground truth"].max() > 0.05
    assert all(math.isfinite(v) for row in rows.values() for v in row.values())
    assert "no phone labels" in format_table(table) and "silence_closure" not in rows["model"]
    assert example["clip"].voice == "FaceTalk_170809_00138_TA"

    frames = infer_offline(model, example["clip"].audio, rig=load_rig_data(data["flame"]))
    assert len(frames) == len(example["clip"].motion) and frames[0].expr.shape == (27,)


def test_vertex_space_recovers_the_jaw_it_opens(voca) -> None:
    space = open_data(**voca[1]).space
    jaw = np.linspace(0.0, 0.25, 6)
    motion = space.jaw_motion(jaw, "FaceTalk_170728_03272_TA")
    assert motion.shape == (6, 80 * 3) and np.abs(motion[0]).max() < 1e-7
    assert np.allclose(space.jaw_of(motion, "FaceTalk_170728_03272_TA"), jaw, atol=5e-3)


@pytest.mark.parametrize("kind", ["corpus", "vocaset"])
def test_a_few_steps_reduce_the_loss_on_a_fixed_batch(voca, tmp_path, kind) -> None:
    root, data = voca
    if kind == "vocaset":
        source = open_data(**data)
    else:
        source = CorpusData(write_tiny_corpus(tmp_path / "corpus", clips_per_voice=1),
                            write_tiny_rig(tmp_path / "rig.npz"))
    torch.manual_seed(0)
    model = build_model(source.space, 32)
    step_fn = TeacherForcedStep(model, 30)
    pad = max(-step_fn.lo, step_fn.hi) + 16000
    clips = [TrainClip.of(source.load(i), 30, pad) for i in source.items("train")]
    batch = sample_batch(clips, step_fn, 4, pad, np.random.default_rng(0), torch.device("cpu"))
    objective = Objective(source.space, build_terms(1.0, 5.0, 0.0, 0, 0, 0.0, 3.0, 1.0), None,
                          torch.device("cpu"))
    opt = make_optimizer(model, 1e-3, source.space.unit)
    losses = []
    model.train()
    for step in range(25):
        loss = objective.total(objective.parts(step_fn(batch.audio, batch.target), batch, step,
                                               torch.Generator()), step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # the output head learns in the space's unit: no first-step jump (metres at lr 1e-3 would)
    assert losses[0] > 0 and max(losses) <= losses[0] and min(losses[-3:]) < 0.6 * losses[0], losses


def test_vocaset_inputs_are_checked(voca, tmp_path, capsys) -> None:
    root, data = voca
    flame_alone = tmp_path / "alone" / "generic_model.pkl"
    flame_alone.parent.mkdir()
    flame_alone.write_bytes(data["flame"].read_bytes())
    args = ["train", "--what", "regressor", "--vocaset", str(data["vocaset"]),
            "--out", str(tmp_path / "run"), "--threads", "1"]
    assert main.main(args + ["--flame", str(flame_alone)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--flame-masks" in err and len(err.splitlines()) == 1
    assert main.main(args) == 2
    assert "--vocaset needs --flame" in capsys.readouterr().err

    other = tmp_path / "other" / "generic_model.pkl"            # a 60-vertex "FLAME"
    other.parent.mkdir()
    write_plain_pickle(fake_flame_dict(num_verts=60), other)
    (other.parent / "FLAME_masks.pkl").write_bytes(_masks_for(60))
    with pytest.raises(UserInputError, match="80 vertices but generic_model.pkl has 60"):
        VocasetData(data["vocaset"], other)


def _masks_for(num_verts: int) -> bytes:
    regions = {k: np.arange(i, i + 3) for i, k in enumerate(
        ("lips", "forehead", "eye_region", "nose", "left_eyeball", "right_eyeball"))}
    assert max(v.max() for v in regions.values()) < num_verts
    return pickle.dumps(regions)
