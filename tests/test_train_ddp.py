"""Multi-process training for real: torchrun, 2 CPU processes, gloo, DistributedDataParallel."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist

from driver.checkpoint import read_checkpoint_info
from main import ROOT
from tests.test_train_fixtures import write_tiny_corpus, write_tiny_rig

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with gloo is not available")


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "main.py", "train", "--what", "regressor", "--threads", "1", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_two_processes_train_save_export_and_resume_under_a_time_budget(tmp_path) -> None:
    corpus = write_tiny_corpus(tmp_path / "corpus", clips_per_voice=2)
    rig = write_tiny_rig(tmp_path / "rig.npz")
    run, export = tmp_path / "run", tmp_path / "export"
    common = ["--corpus", str(corpus), "--rig", str(rig), "--out", str(run), "--max-clips", "4",
              "--batch", "2", "--crop-frames", "30", "--d-model", "32", "--sync-weight", "0",
              "--val-every", "2", "--val-clips", "1", "--sampling-ramp", "2"]
    first = _torchrun(*common, "--steps", "4", "--export", str(export))
    assert first.returncode == 0, first.stderr[-3000:]
    printed = [json.loads(x)["step"] for x in first.stdout.splitlines() if x.startswith("{")]
    assert printed == [2, 4]          # validation at step 2, the final metrics: rank 0 only
    history = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [2, 4]
    _, info = read_checkpoint_info(export)
    assert info.trained and info.training_data["world_size"] == 2

    # A wall-clock budget must stop both ranks at the same step (rank 0's clock decides);
    # otherwise one rank waits forever in the next gradient all-reduce.
    second = _torchrun(*common, "--steps", "100000", "--minutes", "0.03", "--resume")
    assert second.returncode == 0, second.stderr[-3000:]
    state = torch.load(run / "trainer_state.pt", weights_only=True)
    history = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    assert 4 < state["step"] < 100000 and history[-1]["step"] == state["step"]
