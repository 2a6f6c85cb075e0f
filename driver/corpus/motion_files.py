"""Write `motion/<id>.npy` for every corpus utterance from its stored phones.

Motion is a pure function of (phones, duration, utterance seed), so it can be recomputed when
the articulatory model changes without re-synthesising any audio; a pause-only utterance's rest
motion and pause weights are one of its stored VAD segmentation (`driver.corpus.pause_targets`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from driver.corpus.articulation import phones_to_motion
from driver.corpus.dataset import is_pause_only, read_manifest
from driver.corpus.pause_targets import write_pause_targets
from driver.corpus.phones import read_tsv


def write_motion(corpus: Path, progress: bool = True) -> int:
    """Recompute every utterance's motion; returns the number written."""
    records = read_manifest(corpus)
    (corpus / "motion").mkdir(exist_ok=True)
    for record in tqdm(records, desc="motion", unit="utt", disable=not progress):
        if is_pause_only(record):
            write_pause_targets(corpus, record["id"], record["duration"])
            continue
        phones = read_tsv(corpus / "phones" / f"{record['id']}.tsv")
        motion = phones_to_motion(phones, record["duration"], record["seed"])
        np.save(corpus / "motion" / f"{record['id']}.npy", motion)
    return len(records)
