"""Command-line flags derived from config dataclasses, so each option is declared once.

A field made with `driver.train_config.option(default, help)` is a flag `--field-name`; its
type, default and help line come from the dataclass, and the parsed flags go back into the
config by name. Plain fields stay internal (no flag). One flag can serve several configs (e.g.
`--steps` for both trainers): where their defaults differ the flag defaults to None, so each
config keeps its own default, and the help line names them all (and each
config's own help line where those differ).
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Iterable, Mapping
from typing import Any

Container = argparse.ArgumentParser | argparse._ArgumentGroup


def option_names(config: type, exclude: Iterable[str] = ()) -> list[str]:
    """The config's flag fields (those declared with a help line), in declaration order."""
    skip = set(exclude)
    return [f.name for f in dataclasses.fields(config) if "help" in f.metadata
            and f.name not in skip]


def _value_type(hint: Any) -> Any:
    """What argparse converts the text to: `Path | None` -> Path, `int` -> int."""
    kinds = [k for k in typing.get_args(hint) if k is not type(None)]
    return kinds[0] if kinds else hint


def add_config_arguments(container: Container, configs: Mapping[str, type],
                         names: Iterable[str]) -> None:
    """Add the flags of `names`, fields of one or more of `configs` (label -> dataclass)."""
    for name in names:
        owners = {label: config for label, config in configs.items()
                  if name in {f.name for f in dataclasses.fields(config)}}
        fields = {label: next(f for f in dataclasses.fields(config) if f.name == name)
                  for label, config in owners.items()}
        first = next(iter(fields.values()))
        kind = _value_type(typing.get_type_hints(next(iter(owners.values())))[name])
        flag = "--" + name.replace("_", "-")
        helps = {label: f.metadata["help"] for label, f in fields.items()}
        text = (first.metadata["help"] if len(set(helps.values())) == 1
                else "; ".join(f"{label}: {line}" for label, line in helps.items()))
        text = text.replace("%", "%%")                      # argparse %-formats help lines
        if first.default is dataclasses.MISSING:
            container.add_argument(flag, type=kind, required=True, help=text)
            continue
        if kind is bool:
            container.add_argument(flag, action="store_true", help=text)
            continue
        defaults = {label: f.default for label, f in fields.items()}
        if len(set(defaults.values())) == 1:
            default = first.default
            shown = "" if default is None else f" (default: {default})"
        else:
            default = None
            shown = " (default: " + ", ".join(f"{label} {value}"
                                              for label, value in defaults.items()) + ")"
        container.add_argument(flag, type=kind, default=default, help=text + shown)


def config_values(config: type, args: argparse.Namespace) -> dict[str, Any]:
    """The config's flag fields that were parsed with a value (None leaves its default)."""
    return {name: getattr(args, name) for name in option_names(config)
            if getattr(args, name, None) is not None}
