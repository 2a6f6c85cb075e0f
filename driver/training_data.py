"""Where training and evaluation clips come from: the project's corpus or VOCASET on FLAME.

Both sources list a split cheaply (`items`), read one item as a `driver.corpus.dataset.Clip`
(`load`), describe what was used for the checkpoint (`describe`) and carry the `MotionSpace`
their motion lives in, so the trainer and the evaluator have one code path for both:
- `CorpusData`: rig parameters with phone labels (closure rates can be measured);
- `VocasetData`: vertex offsets from each subject's template, no phone labels; the FLAME model
  it is registered to gives topology, skinning (lip gap) and FLAME_masks.pkl's lip region.
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from driver.corpus.dataset import Clip, load_clip, split_records
from driver.corpus.vocaset import VocaEntry, list_vocaset, load_sequence, load_templates
from driver.motion_space import MotionSpace, RigSpace, VertexSpace, load_rig
from splat.errors import UserInputError
from splat.flame_pickle import MASKS_FILE, load_flame_masks
from splat.rig import RigData, load_rig_data


def subsample(items: list, limit: int) -> list:
    """At most `limit` items spread evenly over the list (0 = all)."""
    if not limit:
        return items
    return items[:: max(1, len(items) // limit)][:limit]


class TrainingData(ABC):
    """A split-able collection of clips in one motion space."""

    space: MotionSpace
    source: str               # the folder the clips come from
    notes: list[str]          # caveats an evaluation table should print

    @abstractmethod
    def items(self, split: str, limit: int = 0) -> list[Any]:
        """The split's items (at most `limit`, evenly spread), not yet read."""

    @abstractmethod
    def load(self, item: Any) -> Clip:
        """One item as a clip: audio 16 kHz, motion (T, P) at 30 fps, phones (maybe none)."""

    @abstractmethod
    def describe(self, items: list[Any]) -> dict[str, Any]:
        """{"utterances", "hours", "voices"}: what a checkpoint records about them."""


class CorpusData(TrainingData):
    """The project's corpus (`main.py corpus`): rig parameters decoded by `rig`."""

    def __init__(self, corpus: Path, rig: Path | None = None) -> None:
        self.corpus = Path(corpus)
        self.source = str(self.corpus)
        self.space = RigSpace(load_rig(rig))
        self.notes = []

    def items(self, split: str, limit: int = 0) -> list[dict]:
        return subsample(split_records(self.corpus, split), limit)

    def load(self, item: dict) -> Clip:
        return load_clip(self.corpus, item)

    def describe(self, items: list[dict]) -> dict[str, Any]:
        return {"utterances": len(items),
                "hours": sum(r["duration"] for r in items) / 3600,
                "voices": sorted({r["voice"] for r in items})}


def flame_for_vocaset(flame: Path, masks: Path | None) -> RigData:
    """The FLAME model with FLAME_masks.pkl's regions (lips above all): the crude geometric
    fallback masks are fine for rendering but would make lip losses and LVE meaningless."""
    data = load_rig_data(flame)
    path = Path(masks) if masks is not None else Path(flame).parent / MASKS_FILE
    if masks is not None and not path.is_file():
        raise UserInputError(f"FLAME masks file not found: {path}")
    if not path.is_file():
        raise UserInputError("VOCASET training needs FLAME's lip region: pass --flame-masks "
                             "FLAME_masks.pkl (from the FLAME website)")
    regions = load_flame_masks(path, data.num_verts)
    if regions is None:
        raise UserInputError(f"{path}: not the FLAME_masks.pkl of this {data.num_verts}-vertex "
                             "model (needs lips, forehead, eye_region, nose and eyeball regions)")
    return dataclasses.replace(data, masks=regions)


class VocasetData(TrainingData):
    """VOCASET (FaceFormer layout) as offsets from each subject's template on FLAME."""

    def __init__(self, root: Path, flame: Path, flame_masks: Path | None = None) -> None:
        self.root = Path(root)
        self.source = str(self.root)
        data = flame_for_vocaset(flame, flame_masks)
        templates = load_templates(self.root)
        for subject, template in templates.items():
            if template.shape != data.v_template.shape:
                raise UserInputError(
                    f"templates.pkl: {subject} has {len(template)} vertices but {Path(flame).name} "
                    f"has {data.num_verts}; VOCASET needs the FLAME model it is registered to")
        self.templates = templates
        self.space = VertexSpace(data, templates)
        self.notes = [
            "VOCASET has no phone labels: closure rates are not measured.",
            "energy jaw: FLAME's jaw opened in proportion to loudness, gain fitted to the jaw "
            "angles a FLAME fit recovers from the training vertices."]

    def items(self, split: str, limit: int = 0) -> list[VocaEntry]:
        entries = list_vocaset(self.root, split)
        if not entries:
            raise UserInputError(f"{self.root}: no VOCASET sequences in split {split!r}")
        return subsample(entries, limit)

    def load(self, item: VocaEntry) -> Clip:
        seq = load_sequence(item, self.templates)
        offsets = (seq.vertices - seq.template).reshape(len(seq.vertices), -1)
        return Clip(seq.name, seq.subject, seq.audio, offsets.astype(np.float32), [])

    def describe(self, items: list[VocaEntry]) -> dict[str, Any]:
        return {"utterances": len(items),
                "hours": sum(e.duration for e in items) / 3600,
                "voices": sorted({e.subject for e in items})}


def open_data(corpus: Path | None = None, rig: Path | None = None, vocaset: Path | None = None,
              flame: Path | None = None, flame_masks: Path | None = None) -> TrainingData:
    """The data source the command-line flags name (one of --corpus or --vocaset)."""
    if vocaset is None:
        if flame is not None or flame_masks is not None:
            raise UserInputError("--flame/--flame-masks go with --vocaset (the corpus is decoded "
                                 "by --rig)")
        return CorpusData(Path(corpus) if corpus is not None else Path("data/corpus"), rig)
    if corpus is not None or rig is not None:
        raise UserInputError("--vocaset replaces --corpus/--rig (its meshes are FLAME's: pass "
                             "--flame)")
    if flame is None:
        raise UserInputError("--vocaset needs --flame FLAME.pkl (the FLAME model VOCASET is "
                             "registered to)")
    return VocasetData(vocaset, flame, flame_masks)
