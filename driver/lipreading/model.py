"""The lip reader: a small CNN per frame, a temporal convolution and a BiGRU, two CTC heads.

Input is (B, T, S, S) uint8-range grey mouth crops; each clip is standardised by its own mean
and spread (so exposure and background level carry no information), optionally average-pooled
by `pool` (a CPU budget: the 48 px crops read at 24 px), a 4-layer strided CNN
turns every frame into a vector, a temporal convolution (5 frames) and a bidirectional GRU read
the sequence, and two linear heads give per-frame CTC log-probabilities over phones and over
visemes (index 0 = blank). `features` is the GRU's output: what the lip-reading teacher
distils. Weights travel as safetensors + config.json and are loaded without pickle.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from driver.lipreading.visemes import PHONE_TOKENS, VISEME_TOKENS
from splat.errors import UserInputError

WEIGHTS_NAME = "lipreader.safetensors"
CONFIG_NAME = "lipreader.json"
FORMAT = "learn2talk-lipreader"


class LipReader(nn.Module):
    """Pixels → per-frame phone and viseme log-probabilities (CTC)."""

    def __init__(self, size: int, width: int = 32, hidden: int = 128, pool: int = 1) -> None:
        super().__init__()
        self.size, self.width, self.hidden, self.pool = size, width, hidden, pool
        self.shrink = nn.AvgPool2d(pool) if pool > 1 else nn.Identity()

        def block(c_in: int, c_out: int, k: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, k, 2, k // 2, bias=False), nn.BatchNorm2d(c_out),
                    nn.ReLU()]

        w = width
        self.frame = nn.Sequential(*block(1, w // 2, 5), *block(w // 2, w, 3),
                                   *block(w, 2 * w, 3), *block(2 * w, 3 * w, 3))
        side = size // pool
        for _ in range(4):
            side = (side + 1) // 2
        self.project = nn.Sequential(nn.Flatten(), nn.Linear(3 * w * side * side, hidden),
                                     nn.ReLU())
        self.temporal = nn.Sequential(nn.Conv1d(hidden, hidden, 5, padding=2),
                                      nn.BatchNorm1d(hidden), nn.ReLU())
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.phone_head = nn.Linear(2 * hidden, len(PHONE_TOKENS) + 1)
        self.viseme_head = nn.Linear(2 * hidden, len(VISEME_TOKENS) + 1)

    @staticmethod
    def standardise(frames: torch.Tensor) -> torch.Tensor:
        """(B, T, S, S) grey (0..255) → zero mean, unit spread per clip."""
        x = frames.float()
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True)
        return (x - mean) / (std + 1.0)

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, S, S) crops → (B, T, 2 * hidden) sequence features."""
        B, T = frames.shape[:2]
        x = self.standardise(frames).reshape(B * T, 1, self.size, self.size)
        x = self.project(self.frame(self.shrink(x))).reshape(B, T, -1)
        x = self.temporal(x.transpose(1, 2)).transpose(1, 2)
        return self.gru(x)[0]

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(phone, viseme) log-probabilities, each (B, T, classes + 1)."""
        h = self.features(frames)
        return (self.phone_head(h).log_softmax(-1), self.viseme_head(h).log_softmax(-1))


def save_lipreader(model: LipReader, folder: Path, info: dict) -> list[Path]:
    """Weights (safetensors) + lipreader.json (architecture, crop spec, provenance)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights, config = folder / WEIGHTS_NAME, folder / CONFIG_NAME
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
              str(weights))
    config.write_text(json.dumps({"format": FORMAT, "size": model.size, "width": model.width,
                                  "hidden": model.hidden, "pool": model.pool,
                                  "phones": list(PHONE_TOKENS),
                                  "visemes": list(VISEME_TOKENS), **info}, indent=2) + "\n")
    return [weights, config]


def load_lipreader(folder: Path) -> tuple[LipReader, dict]:
    """A frozen reader (eval mode, no grads) and its config; refuses foreign vocabularies."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from driver.checkpoint import check_numbers

    folder = Path(folder)
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise UserInputError(f"{folder}: no {CONFIG_NAME} (train one with "
                             "`main.py train --what lipreader`)")
    try:
        config = json.loads(path.read_text())
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise ValueError(f"expected an object with format {FORMAT!r}")
        missing = {"size", "width", "hidden"} - set(config)
        if missing:
            raise ValueError(f"missing {', '.join(sorted(missing))}")
        check_numbers(config, {"size": (8, 512), "width": (2, 1024), "hidden": (1, 4096),
                               "pool": (1, 8)}, int, "config")
        if (config.get("phones") != list(PHONE_TOKENS)
                or config.get("visemes") != list(VISEME_TOKENS)):
            raise ValueError("its phone/viseme vocabulary is not this version's")
    except ValueError as exc:
        raise UserInputError(f"{path}: unusable lip-reader config ({exc})") from None
    model = LipReader(config["size"], config["width"], config["hidden"], config.get("pool", 1))
    weights = folder / WEIGHTS_NAME
    try:
        model.load_state_dict(load_file(str(weights)))
    except (OSError, RuntimeError, SafetensorError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserInputError(f"{weights}: unusable lip-reader weights ({first})") from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, config
