"""`train --what lipreader`: render (or reuse) mouth crops of ground-truth motion, train the
reader with CTC on phones and visemes, keep the weights that read validation best.

Training windows of `window` frames are cut at random from the cached clips (a clip drawn in
proportion to its length); their targets are the phones whose middle falls inside. Validation
reads whole val clips, canonical and varied views, and the reader with the lowest mean PER is
the one saved (and exported with `--export`), with its numbers and provenance in the config;
it is saved at every improvement, so a run stopped early still leaves its best reader.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from driver.lipreading.config import LipReaderConfig
from driver.lipreading.crops import CropClip, build_crops, load_crops
from driver.lipreading.model import LipReader, save_lipreader
from driver.lipreading.mouth_view import FIELD_M
from driver.lipreading.perception import error_counts, viseme_ids
from driver.lipreading.visemes import rates
from driver.training_data import CorpusData
from splat.assets_paths import DEFAULT_AVATAR
from splat.errors import UserInputError


def _batch(clips: list[CropClip], batch: int, window: int, rng: np.random.Generator
           ) -> tuple[torch.Tensor, list[list[int]], list[list[int]]]:
    """(B, window, S, S) frames and the phone / viseme targets of each window."""
    lengths = np.array([len(c.frames) for c in clips], float)
    picks = rng.choice(len(clips), size=batch, p=lengths / lengths.sum())
    frames, phones, visemes = [], [], []
    for c in picks:
        clip = clips[c]
        T = len(clip.frames)
        first = int(rng.integers(0, max(1, T - window + 1)))
        part = clip.frames[first:first + window]
        if len(part) < window:                       # a short clip: hold its last frame
            part = np.concatenate([part, np.repeat(part[-1:], window - len(part), 0)])
        frames.append(part)
        ids = clip.targets(first, window)
        phones.append([int(i) for i in ids])
        visemes.append(viseme_ids(ids))
    return torch.from_numpy(np.stack(frames)), phones, visemes


def _ctc(log_probs: torch.Tensor, targets: list[list[int]]) -> torch.Tensor:
    """CTC of (B, T, C) log-probabilities against variable-length targets."""
    B, T = log_probs.shape[:2]
    flat = torch.tensor([i for t in targets for i in t], dtype=torch.long)
    return torch.nn.functional.ctc_loss(
        log_probs.transpose(0, 1), flat, torch.full((B,), T, dtype=torch.long),
        torch.tensor([len(t) for t in targets], dtype=torch.long), zero_infinity=True)


def validate(reader: LipReader, clips: dict[str, list[CropClip]]) -> dict[str, float]:
    """PER / VER per view kind on whole clips, and their mean PER (the choice criterion)."""
    reader.eval()
    out: dict[str, float] = {}
    for kind, group in clips.items():
        counts = sum(error_counts(reader, c.frames, c.phone_ids) for c in group)
        r = rates(counts)
        out[f"{kind}_per"], out[f"{kind}_ver"] = r["per"], r["ver"]
    out["per"] = float(np.mean([out[f"{k}_per"] for k in clips]))
    return out


def train_lipreader(cfg: LipReaderConfig) -> dict:
    """Build the crop cache, train, save the best reader to cfg.out; returns its metrics."""
    data = cfg.open_data()
    if not isinstance(data, CorpusData):
        raise UserInputError("the lip reader trains on the project's corpus (it renders the "
                             "corpus's rig on an avatar): use --corpus, not --vocaset")
    avatar = Path(cfg.avatar) if cfg.avatar is not None else DEFAULT_AVATAR
    start = time.perf_counter()
    build_crops(data, cfg.rig, cfg.crops, avatar, cfg.size,
                {"train": cfg.max_clips, "val": cfg.val_clips}, cfg.views, cfg.seed, cfg.workers)
    render_s = time.perf_counter() - start
    train = load_crops(cfg.crops, "train")
    val = {"canonical": load_crops(cfg.crops, "val", "canon"),
           "varied": load_crops(cfg.crops, "val", "r0")}
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    reader = LipReader(cfg.size, pool=cfg.pool)
    opt = torch.optim.Adam(reader.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 1.0 - 0.95 * min(s, cfg.steps) / max(cfg.steps, 1))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    history = out / "history.jsonl"
    best: dict = {"per": float("inf")}
    train_start = time.perf_counter()
    frames_seen = sum(len(c.frames) for c in train)

    def info() -> dict:
        return {"avatar": ("default" if avatar.resolve() == DEFAULT_AVATAR.resolve()
                           else str(avatar)),
                "field_m": FIELD_M, "rig_topology": data.space.data.topology_digest(),
                "data": data.source, "train_clips": len(train), "train_frames": frames_seen,
                "val_clips": len(val["canonical"]), "chosen": best,
                "render_minutes": render_s / 60,
                "train_minutes": (time.perf_counter() - train_start) / 60,
                "recipe": {k: str(v) if isinstance(v, Path) else v
                           for k, v in asdict(cfg).items()}}

    bar = tqdm(range(cfg.steps), desc="lipreader", unit="step")
    for step in bar:
        reader.train()
        frames, phones, visemes = _batch(train, cfg.batch, cfg.window, rng)
        phone_lp, viseme_lp = reader(frames)
        loss = _ctc(phone_lp, phones) + cfg.viseme_weight * _ctc(viseme_lp, visemes)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(reader.parameters(), 5.0)
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if (step + 1) % cfg.val_every == 0 or step + 1 == cfg.steps:
            metrics = {"step": step + 1, "loss": loss.item(), **validate(reader, val),
                       "minutes": (time.perf_counter() - train_start) / 60}
            with open(history, "a") as fh:
                fh.write(json.dumps(metrics) + "\n")
            bar.write(json.dumps(metrics))
            if metrics["per"] < best["per"]:
                best = metrics
                save_lipreader(reader, out, info())
    if cfg.export is not None:
        Path(cfg.export).mkdir(parents=True, exist_ok=True)
        for name in ("lipreader.safetensors", "lipreader.json"):
            shutil.copy2(out / name, Path(cfg.export) / name)
    return best
