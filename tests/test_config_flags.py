"""Training flags derived from the config dataclasses: every option field is a flag with a help
line, shared flags keep each config's own default, and parsed flags fill the config."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

import main
from avatar_app.commands import train as train_cmd
from avatar_app.config_flags import config_values, option_names
from driver.train import RegressorTrainConfig, SyncNetConfig


def _parser() -> argparse.ArgumentParser:
    return main.build_parser(["train"])


def _parse(line: str) -> argparse.Namespace:
    return _parser().parse_args(["train", *line.split()])


def test_every_option_field_is_a_flag_with_help(capsys) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())      # help lines are wrapped
    for config in (SyncNetConfig, RegressorTrainConfig):
        declared = {f.name: f for f in dataclasses.fields(config)}
        for name in option_names(config):
            assert f"--{name.replace('_', '-')} " in text, name
            assert len(declared[name].metadata["help"]) > 10, name
    assert "syncnet 3000, regressor 100000" in text and "formants up to 25 %" in text
    internal = {"rec_weight", "input_noise", "save_every", "command", "min_shift", "max_shift"}
    assert not internal & set(option_names(RegressorTrainConfig) + option_names(SyncNetConfig))


def test_unset_flags_leave_each_configs_defaults() -> None:
    args = _parse("--what syncnet --out run")
    assert SyncNetConfig(**config_values(SyncNetConfig, args)) == SyncNetConfig(out=Path("run"))
    args = _parse("--what regressor --out run")
    made = RegressorTrainConfig(**config_values(RegressorTrainConfig, args))
    assert dataclasses.replace(made, command="") == RegressorTrainConfig(out=Path("run"),
                                                                         command="")


def test_parsed_flags_fill_the_config() -> None:
    args = _parse("--what regressor --out run --steps 7 --batch 3 --lr 0.1 --warp 1.25 --resume "
                  "--init m --corpus c --val-every 5 --device cpu --d-model 64")
    cfg = RegressorTrainConfig(**config_values(RegressorTrainConfig, args))
    assert (cfg.steps, cfg.batch, cfg.lr, cfg.warp, cfg.resume, cfg.init, cfg.corpus,
            cfg.val_every, cfg.device, cfg.d_model) == (7, 3, 0.1, 1.25, True, Path("m"),
                                                        Path("c"), 5, "cpu", 64)
    assert train_cmd.data_fields(args) == {"corpus": Path("c"), "rig": None, "vocaset": None,
                                           "flame": None, "flame_masks": None}
    sync = SyncNetConfig(**config_values(SyncNetConfig, _parse("--what syncnet --out r --batch 9")))
    assert sync.batch == 9 and sync.steps == 3000


def test_a_bad_flag_value_is_refused_by_argparse(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        _parse("--what regressor --out run --steps many")
    assert exc.value.code == 2 and "--steps" in capsys.readouterr().err
