"""No data file a user hands over runs code: every loader of a pickle-based file is fed crafted
pickles whose payload would create a marker file; the marker must never appear and the user
gets one UserInputError line naming the file."""
from __future__ import annotations

import os
import pickle
import subprocess

import numpy as np
import pytest
import torch

from driver.corpus.vocaset import load_templates
from driver.train import load_trainer_state
from splat.errors import UserInputError
from splat.flame_pickle import load_flame_masks, load_restricted_pickle
from splat.rig import load_rig_data
from tests.test_rig_fakes import fake_flame_dict, write_plain_pickle


class _System:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Eval(_System):
    def __reduce__(self):
        return eval, (f"open({str(self.marker)!r}, 'w')",)


class _Popen(_System):
    def __reduce__(self):
        return subprocess.Popen, (["touch", str(self.marker)],)


PAYLOADS = [_System, _Eval, _Popen]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.__name__)
def test_the_payloads_are_live(payload, tmp_path):
    """Plain pickle.loads does run each payload, so the tests below can fail."""
    marker = tmp_path / "marker"
    result = pickle.loads(pickle.dumps(payload(marker), protocol=2))
    if isinstance(result, subprocess.Popen):
        result.wait()
    assert marker.exists()


def _assert_refused(load, path, marker, fragment):
    with pytest.raises(UserInputError, match=fragment) as info:
        load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists(), "a crafted pickle ran its payload"


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.__name__)
def test_flame_model_pickle(payload, tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "generic_model.pkl"
    d = fake_flame_dict()
    d["v_template"] = payload(marker)
    path.write_bytes(pickle.dumps(d, protocol=2))
    _assert_refused(load_rig_data, path, marker, "refusing to load")


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.__name__)
def test_flame_masks_pickle(payload, tmp_path):
    marker = tmp_path / "marker"
    write_plain_pickle(fake_flame_dict(), tmp_path / "generic_model.pkl")
    masks = tmp_path / "FLAME_masks.pkl"
    masks.write_bytes(pickle.dumps({"lips": np.arange(3), "nose": payload(marker)}, protocol=2))
    _assert_refused(lambda p: load_flame_masks(p, 60), masks, marker, "refusing to load")
    _assert_refused(load_rig_data, tmp_path / "generic_model.pkl", marker, "FLAME_masks.pkl")


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.__name__)
def test_vocaset_templates_pickle(payload, tmp_path):
    marker = tmp_path / "marker"
    (tmp_path / "templates.pkl").write_bytes(
        pickle.dumps({"FaceTalk_170728_03272_TA": payload(marker)}, protocol=2))
    _assert_refused(load_templates, tmp_path, marker, "templates.pkl: not a readable VOCASET")


def test_vocaset_templates_plain_ones_load_and_bad_shapes_are_named(tmp_path):
    good = {"FaceTalk_170728_03272_TA": np.zeros((4, 3))}
    (tmp_path / "templates.pkl").write_bytes(pickle.dumps(good, protocol=2))
    assert load_templates(tmp_path)["FaceTalk_170728_03272_TA"].shape == (4, 3)
    for bad, fragment in [({"s": np.zeros(5)}, "template 's' is not a \\(V, 3\\)"),
                          ({"s": np.full((2, 3), np.nan)}, "template 's' holds NaN"),
                          ([np.zeros((2, 3))], "expected a dict")]:
        (tmp_path / "templates.pkl").write_bytes(pickle.dumps(bad, protocol=2))
        with pytest.raises(UserInputError, match=fragment):
            load_templates(tmp_path)


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.__name__)
def test_trainer_state(payload, tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "trainer_state.pt"
    torch.save({"step": 3, "optimizer": {"state": {}, "param_groups": []}, "elapsed": 1.0,
                "extra": payload(marker)}, path)
    _assert_refused(load_trainer_state, path, marker, "not a trainer state that loads safely")


def test_trainer_state_fields_are_checked(tmp_path):
    path = tmp_path / "trainer_state.pt"
    good = {"step": 3, "optimizer": {"state": {}, "param_groups": []}, "elapsed": 1.5}
    torch.save(good, path)
    assert load_trainer_state(path)["step"] == 3
    for change, fragment in [({"step": -1}, "step must be"), ({"elapsed": float("nan")},
                             "elapsed must be"), ({"optimizer": None}, "no optimizer state")]:
        torch.save({**good, **change}, path)
        with pytest.raises(UserInputError, match=fragment):
            load_trainer_state(path)
    path.write_bytes(b"garbage")
    with pytest.raises(UserInputError, match="not a trainer state"):
        load_trainer_state(path)


def test_the_restricted_unpickler_still_reads_what_data_files_hold(tmp_path):
    path = tmp_path / "plain.pkl"
    value = {"a": np.arange(3.0), "b": [1, "x", (2.5, None)], "c": {"d": np.int64(4)}}
    path.write_bytes(pickle.dumps(value, protocol=2))
    back = load_restricted_pickle(path, "test file")
    assert np.array_equal(back["a"], value["a"]) and back["b"] == value["b"]
    assert back["c"]["d"] == 4


def test_no_loader_in_the_code_uses_an_unsafe_call():
    """The audit, kept: no plain pickle.load, weights_only=False or allow_pickle=True."""
    from tests.conftest import ROOT

    unsafe = ("pickle.load(", "pickle.loads(", "weights_only=False", "allow_pickle=True")
    hits = [f"{path.relative_to(ROOT)}: {needle}"
            for folder in ("splat", "driver", "avatar_app") for path in (ROOT / folder).rglob("*.py")
            for needle in unsafe if needle in path.read_text()]
    assert hits == []
