"""`train --what lipreader`'s settings (torch-free, like driver.train_config, so `--help` stays
quick); each field made with `option` is also a command-line flag."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from driver.train_config import DataConfig, option


@dataclass
class LipReaderConfig(DataConfig):
    """What the reader is trained on and how long."""

    avatar: Path | None = option(None, "avatar whose mouth is rendered (default: the embedded "
                                       "head; its rig must be the corpus's)")
    crops: Path = option(Path("data/lipreader_crops"), "cache of rendered mouth crops (reused "
                                                        "by later runs with the same spec)")
    max_clips: int = option(220, "use only this many training clips (0 = all)")
    val_clips: int = option(33, "validation clips (0 = all)")
    views: int = option(1, "random views rendered per training clip")
    size: int = option(48, "mouth crop side in pixels")
    pool: int = option(2, "the reader average-pools crops by this factor first (CPU budget)")
    workers: int = option(1, "rendering processes")
    steps: int = option(1500, "training steps")
    batch: int = option(8, "windows per step")
    window: int = option(60, "frames per training window (30 fps)")
    lr: float = option(3e-3, "Adam learning rate (decays linearly to 5 %)")
    seed: int = option(0, "seed of the views, the initial weights and the batches")
    val_every: int = option(150, "validate every this many steps")
    viseme_weight: float = 0.5     # CTC on visemes beside the one on phones
    export: Path | None = option(None, "copy the chosen reader here, e.g. assets/lipreader")
    command: str = field(default_factory=lambda: " ".join(sys.argv))
