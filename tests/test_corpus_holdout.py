"""A corpus copy that validates on whole voices the run never trains on, and kept checkpoints."""
from __future__ import annotations

import os

import pytest

from driver.checkpoint import load_checkpoint
from driver.corpus.dataset import read_manifest, split_records
from driver.corpus.holdout import hold_out_voices
from driver.motion_space import load_rig
from driver.train import RegressorTrainConfig, SyncNetConfig, train_regressor, train_syncnet
from splat.errors import UserInputError
from tests.test_train_fixtures import write_tiny_corpus, write_tiny_rig


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("holdout")
    per_split = {"train": ["v-a", "v-b", "v-d+f2"], "val": ["v-a", "v-b"], "test": ["v-c"]}
    return root, write_tiny_corpus(root / "corpus", per_split, clips_per_voice=2)


def test_held_out_voices_are_the_whole_val_split_and_leave_training(corpus) -> None:
    root, source = corpus
    counts = hold_out_voices(source, root / "vv", ["v-b", "v-d"])
    records = read_manifest(root / "vv")
    by_split = {s: sorted(r["voice"] for r in records if r["split"] == s) for s in counts}
    assert by_split == {"train": ["v-a", "v-a"], "val": ["v-b"] * 4 + ["v-d+f2"] * 2,
                        "test": ["v-c", "v-c"]}
    assert counts == {"train": 2, "val": 6, "test": 2}
    moved = [r for r in records if r.get("held_out_from") == "train"]
    assert len(moved) == 4 and all(r["split"] == "val" for r in moved)
    # the copy shares the audio, and the source corpus is untouched
    uid = moved[0]["id"]
    assert os.path.samefile(source / "audio" / f"{uid}.wav", root / "vv" / "audio" / f"{uid}.wav")
    assert {r["voice"] for r in split_records(source, "val")} == {"v-a", "v-b"}
    # rerunning rewrites the manifests rather than appending to them
    assert hold_out_voices(source, root / "vv", ["v-b", "v-d"]) == counts


@pytest.mark.parametrize("voices, message", [(["v-c"], "give training voices"),
                                              (["nope"], "give training voices"),
                                              ([], "none"),
                                              (["v-a", "v-b", "v-d"], "must stay in training")])
def test_held_out_voices_must_be_some_of_the_training_voices(corpus, voices, message) -> None:
    root, source = corpus
    with pytest.raises(UserInputError, match=message):
        hold_out_voices(source, root / "bad", voices)
    with pytest.raises(UserInputError, match="new folder"):
        hold_out_voices(source, source, ["v-b"])


def test_kept_checkpoints_are_every_saved_model_and_load(corpus) -> None:
    root, source = corpus
    copy = root / "vv_train"
    hold_out_voices(source, copy, ["v-b"])
    rig = write_tiny_rig(root / "rig.npz")
    train_syncnet(SyncNetConfig(corpus=copy, out=root / "sync", rig=rig, steps=4, batch=8,
                                val_every=4))
    train_regressor(RegressorTrainConfig(
        corpus=copy, out=root / "run", rig=rig, syncnet=root / "sync", steps=4, batch=2,
        crop_frames=30, d_model=32, sync_start=1, sync_full=2, val_every=2, val_clips=2,
        save_every=2, sampling_ramp=2, keep_checkpoints=True))
    kept = sorted(p.name for p in (root / "run" / "checkpoints").iterdir())
    assert kept == ["step-000002", "step-000004"]
    final = load_checkpoint(root / "run" / "model", rig=load_rig(rig))[0].state_dict()
    last = load_checkpoint(root / "run" / "checkpoints" / "step-000004", rig=load_rig(rig))[0]
    assert all((last.state_dict()[k] == v).all() for k, v in final.items())


def test_the_corpus_command_writes_the_copy_and_refuses_a_test_voice(corpus) -> None:
    from tests.test_cli import run_main

    root, source = corpus
    done = run_main("corpus", "--hold-out-voices", str(source), "--voices", "v-b",
                    "--out", str(root / "cli"))
    assert done.returncode == 0 and "4 train, 4 val, 2 test utterances" in done.stdout
    refused = run_main("corpus", "--hold-out-voices", str(source), "--voices", "v-c",
                       "--out", str(root / "cli2"))
    assert refused.returncode == 2 and refused.stderr.startswith("error: --voices v-c")
