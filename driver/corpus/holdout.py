"""Validation on voices the run does not train on: a corpus copy whose val split is whole voices.

The corpus's own validation split holds other sentences of the training voices, so a
fine-tune that slowly forgets what generalises to *new* voices (lip closures, measured on the
held-out test voices) looks better and better on it. Choosing a checkpoint on test voices is
not allowed, so the honest proxy is a third group of voices: this copy moves every utterance
(train and val) of the chosen training voices into the val split and drops the other voices'
val sentences, so the run's validation history and `eval --split val` measure only voices the
run never heard. The test split is untouched. Files are hard-linked, so a copy costs no audio.
"""
from __future__ import annotations

import json
from pathlib import Path

from driver.corpus.dataset import read_manifest
from driver.corpus.degrade import link_file
from driver.corpus.pause_targets import utterance_files
from splat.errors import UserInputError


def base_voice(voice: str) -> str:
    """The voice id without espeak's per-utterance timbre variant (`espeak-en-us+f2`)."""
    return voice.split("+")[0]


def hold_out_voices(source: Path, out: Path, voices: list[str]) -> dict[str, int]:
    """Write the copy at `out`; returns utterances per split of the copy."""
    source, out = Path(source), Path(out)
    if out.resolve() == source.resolve():
        raise UserInputError("--out must be a new folder, not the source corpus")
    records = read_manifest(source)
    wanted = set(voices)
    train_voices = {base_voice(r["voice"]) for r in records if r["split"] == "train"}
    unknown = sorted(wanted - train_voices)
    if not wanted or unknown:
        raise UserInputError(f"--voices {' '.join(unknown) or '(none)'}: give training voices of "
                             f"{source} ({', '.join(sorted(train_voices))})")
    if wanted == train_voices:
        raise UserInputError("--voices: at least one training voice must stay in training")
    for path in out.glob("manifest-*.jsonl"):
        path.unlink()
    counts = {"train": 0, "val": 0, "test": 0}
    for record in records:
        held = base_voice(record["voice"]) in wanted
        if record["split"] == "val" and not held:
            continue
        split = "val" if held else record["split"]
        for name in utterance_files(record):
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            link_file(source / name, out / name)
        copied = {**record, "split": split}
        if split != record["split"]:
            copied["held_out_from"] = record["split"]
        with open(out / f"manifest-{record['voice']}.jsonl", "a") as manifest:
            manifest.write(json.dumps(copied) + "\n")
        counts[split] += 1
    return counts
