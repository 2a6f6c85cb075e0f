"""The reader's training data: mouth crops of the corpus's ground-truth motion, cached on disk.

Rendering is the expensive part (about 10 ms a frame on the CPU), so every clip is rendered
once per view into `<folder>/<split>/<clip id>-<view>.npz` (uint8 frames, the spoken phones'
class ids and middle frames) and reused by later runs; `spec.json` records the renderer and the
sampling seed, and a folder made with another spec is refused rather than mixed. Train clips
get random `MouthView`s (`views` per clip); val/test clips get the canonical view plus, for
val, one random view, so model choice sees both the picture evaluation renders and variation.
Files are read back with numpy's pickle-free loader.
"""
from __future__ import annotations

import json
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from driver.audio import MOTION_FPS
from driver.corpus.phones import SILENCE
from driver.lipreading.mouth_view import MouthRenderer, MouthView
from driver.lipreading.visemes import PHONE_TOKENS, encode
from driver.training_data import CorpusData
from splat.errors import UserInputError

SPEC_NAME = "spec.json"


@dataclass
class CropClip:
    """One rendered clip: frames and the phones spoken in it."""

    id: str
    frames: np.ndarray        # (T, S, S) uint8
    phone_ids: np.ndarray     # (N,) int64 class ids (1-based) of the non-silent phones
    phone_mids: np.ndarray    # (N,) float32 their middle, in frames

    def targets(self, first: int, n: int) -> np.ndarray:
        """Class ids of the phones whose middle lies in frames [first, first + n)."""
        inside = (self.phone_mids >= first) & (self.phone_mids < first + n)
        return self.phone_ids[inside]


def phone_targets(phones: list) -> tuple[np.ndarray, np.ndarray]:
    """(ids, middle frames) of a clip's spoken phones."""
    spoken = [s for s in phones if s.phone != SILENCE]
    ids = np.asarray(encode([s.phone for s in spoken], PHONE_TOKENS), np.int64)
    mids = np.asarray([s.mid * MOTION_FPS for s in spoken], np.float32)
    return ids, mids


def _views_for(split: str, clip_id: str, views: int, seed: int, n_shape: int
               ) -> list[tuple[str, MouthView]]:
    """(name, view) pairs of one clip; random views are seeded by clip id, so reruns agree."""
    rng = np.random.default_rng([seed, zlib.crc32(clip_id.encode())])
    randoms = [(f"r{k}", MouthView.sample(rng, n_shape)) for k in range(views)]
    if split == "train":
        return randoms
    return [("canon", MouthView.canonical())] + (randoms[:1] if split == "val" else [])


_WORKER: dict = {}


def _init_worker(avatar: str, size: int, corpus: str, rig: str | None) -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    _WORKER["renderer"] = MouthRenderer(Path(avatar), size)
    _WORKER["data"] = CorpusData(Path(corpus), Path(rig) if rig else None)


def _render_item(job: tuple[dict, str, int, int, str]) -> int:
    item, split, views, seed, folder = job
    renderer: MouthRenderer = _WORKER["renderer"]
    clip = _WORKER["data"].load(item)
    ids, mids = phone_targets(clip.phones)
    frames = 0
    for name, view in _views_for(split, clip.id, views, seed, renderer.rig_data.n_shape):
        path = Path(folder) / f"{clip.id}-{name}.npz"
        if path.is_file():
            continue
        crops = renderer.render(clip.motion, view, seed=zlib.crc32(path.name.encode()))
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, frames=crops, phone_ids=ids, phone_mids=mids)
        tmp.replace(path)
        frames += len(crops)
    return frames


def build_crops(data: CorpusData, rig: Path | None, folder: Path, avatar: Path, size: int,
                counts: dict[str, int], views: int, seed: int, workers: int = 1) -> None:
    """Render the missing crops of each split (`counts[split]` clips, evenly spread; 0 = all);
    `rig` is the file `data` was opened with (the workers open it again)."""
    from splat.avatar import resolve_avatar_rig

    avatar_rig = resolve_avatar_rig(avatar)
    if avatar_rig is None or avatar_rig.topology_digest() != data.space.data.topology_digest():
        raise UserInputError(f"the corpus's rig is not the rig of {avatar}: the lip reader "
                             "renders the corpus's motion on that avatar")
    folder = Path(folder)
    spec = {"avatar": str(avatar), "size": size, "seed": seed, "views": views,
            "corpus": str(data.corpus)}
    spec_path = folder / SPEC_NAME
    if spec_path.is_file():
        if json.loads(spec_path.read_text()) != spec:
            raise UserInputError(f"{folder} holds crops of another spec ({spec_path}); pass "
                                 "another --crops folder or delete it")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(json.dumps(spec, indent=2))
    for split, count in counts.items():
        (folder / split).mkdir(exist_ok=True)
        jobs = [(item, split, views, seed, str(folder / split))
                for item in data.items(split, count)]
        init = (str(avatar), size, str(data.corpus), str(rig) if rig else None)
        with ProcessPoolExecutor(max(1, workers), initializer=_init_worker, initargs=init) as pool:
            for _ in tqdm(pool.map(_render_item, jobs), total=len(jobs), unit="clip",
                          desc=f"crops {split}"):
                pass


def load_crops(folder: Path, split: str, view: str | None = None) -> list[CropClip]:
    """Every cached clip of a split (only views named `view` when given)."""
    paths = sorted((Path(folder) / split).glob("*.npz"))
    paths = [p for p in paths if not p.name.endswith(".tmp.npz")
             and (view is None or p.stem.rsplit("-", 1)[1] == view)]
    if not paths:
        raise UserInputError(f"{folder}/{split}: no cached crops")
    out = []
    for p in paths:
        with np.load(p, allow_pickle=False) as z:
            out.append(CropClip(p.stem, z["frames"], z["phone_ids"], z["phone_mids"]))
    return out
