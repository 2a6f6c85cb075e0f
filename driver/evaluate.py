"""Held-out evaluation: the model against a static face and an audio-energy jaw.

All methods are scored on the same clips, through the same rig and the same frozen SyncNet3D
(REFERENCE.md §5: LSE numbers are only comparable under one expert). The energy baseline opens
the jaw in proportion to loudness (frame RMS normalised per clip), with the gain fitted by
least squares to the ground-truth jaw of training clips, so it is the best such baseline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from driver.corpus.dataset import Clip, load_clip, split_records
from driver.metrics import (OFFSETS, audio_embeddings, bilabial_closures, fdd, lip_max_sq_error,
                            lve, max_l2_mm, silence_closures, sync_distances, sync_scores,
                            upper_face_dynamics)
from driver.syncnet3d import SyncNet3D, load_syncnet
from driver.train import FPS, decode, lip_gap_of, load_rig
from splat.errors import UserInputError

METHODS = ("model", "energy jaw", "static face", "ground truth")


def frame_energy(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """(T,) RMS in a 1/15 s window around each frame time, divided by the clip's 95th pct."""
    half = 16000 // 30
    rms = np.empty(n_frames)
    for k in range(n_frames):
        c = int(round(k * 16000 / FPS))
        seg = audio[max(0, c - half): c + half]
        rms[k] = np.sqrt(np.mean(seg**2)) if len(seg) else 0.0
    return np.clip(rms / (np.percentile(rms, 95) + 1e-6), 0.0, 1.2)


def fit_energy_gain(corpus: Path, max_clips: int = 150) -> float:
    """Least-squares gain from normalised energy to ground-truth jaw opening (training clips)."""
    records = split_records(corpus, "train")
    records = records[:: max(1, len(records) // max_clips)][:max_clips]
    num = den = 0.0
    for record in records:
        clip = load_clip(corpus, record)
        e = frame_energy(clip.audio, len(clip.motion))
        num += float(np.sum(e * clip.motion[:, -3]))
        den += float(np.sum(e * e))
    return num / max(den, 1e-9)


def energy_motion(audio: np.ndarray, n_frames: int, n_params: int, gain: float) -> np.ndarray:
    motion = np.zeros((n_frames, n_params), np.float32)
    motion[:, -3] = gain * frame_energy(audio, n_frames)
    return motion


@dataclass
class _Acc:
    errors: list = field(default_factory=list)
    curves: list = field(default_factory=list)
    dyn: list = field(default_factory=list)
    closures: np.ndarray = field(default_factory=lambda: np.zeros(4, int))


def _score(acc: _Acc, gt_dyn: list[float]) -> dict:
    out = {"lve": lve(acc.errors), "max_l2_mm": max_l2_mm(acc.errors),
           "fdd": fdd(gt_dyn, acc.dyn),
           "bilabial_closure": acc.closures[0] / max(1, acc.closures[1]),
           "silence_closure": acc.closures[2] / max(1, acc.closures[3])}
    if acc.curves:
        s = sync_scores(acc.curves)
        out.update(lse_d=s.lse_d, lse_c=s.lse_c, av_offset=s.offset)
    return out


@torch.no_grad()
def evaluate(checkpoint: Path, corpus: Path, split: str = "test", rig_path: Path | None = None,
             syncnet_dir: Path | None = None, max_clips: int = 0,
             example_id: str | None = None) -> tuple[dict, dict]:
    """Scores per method, and the predictions for one clip (`example_id`, else the first)."""
    from driver.checkpoint import load_checkpoint

    rig = load_rig(rig_path)
    model, _ = load_checkpoint(checkpoint, rig=rig)
    syncnet_dir = syncnet_dir or checkpoint
    syncnet: SyncNet3D | None = None
    if (Path(syncnet_dir) / "syncnet3d.json").is_file():
        syncnet, _ = load_syncnet(syncnet_dir, rig.topology_digest())
    records = split_records(corpus, split)
    if max_clips:
        records = records[:: max(1, len(records) // max_clips)][:max_clips]
    gain = fit_energy_gain(corpus)
    lips = np.asarray(rig.masks["lips"])
    upper = np.asarray(rig.masks["upper_face"])
    template = rig.data.v_template
    gap = lip_gap_of(rig)
    accs = {m: _Acc() for m in METHODS}
    example: dict = {}
    for record in tqdm(records, desc=f"eval {split}", unit="clip"):
        clip = load_clip(corpus, record)
        T, P = clip.motion.shape
        preds = {
            "model": model.infer(torch.from_numpy(clip.audio)[None], T)[0].numpy(),
            "energy jaw": energy_motion(clip.audio, T, P, gain),
            "static face": np.zeros((T, P), np.float32),
            "ground truth": clip.motion,
        }
        v_gt = decode(rig, torch.from_numpy(clip.motion)).numpy()
        emb = audio_embeddings(syncnet, clip.audio, T) if syncnet is not None else None
        for name, motion in preds.items():
            verts = v_gt if name == "ground truth" else decode(rig, torch.from_numpy(motion)).numpy()
            _accumulate(accs[name], verts, v_gt, clip, gap, lips, upper, template, syncnet, emb)
        if (not example and example_id is None) or record["id"] == example_id:
            example = {"clip": clip, "preds": preds,
                       "gaps": {n: gap.gaps(decode(rig, torch.from_numpy(m))) for n, m in preds.items()}}
    if example_id is not None and example.get("clip") is None:
        raise UserInputError(f"clip {example_id!r} is not among the evaluated clips")
    gt_dyn = accs["ground truth"].dyn
    table = {name: _score(acc, gt_dyn) for name, acc in accs.items()}
    table["_info"] = {"clips": len(records), "split": split, "energy_gain": gain,
                      "voices": sorted({r["voice"] for r in records}),
                      "hours": sum(r["duration"] for r in records) / 3600,
                      "syncnet": str(syncnet_dir) if syncnet is not None else None}
    return table, example


def _accumulate(acc: _Acc, verts: np.ndarray, v_gt: np.ndarray, clip: Clip, gap, lips, upper,
                template, syncnet, emb) -> None:
    acc.errors.append(lip_max_sq_error(verts, v_gt, lips))
    acc.dyn.append(upper_face_dynamics(verts, template, upper))
    gaps = gap.gaps(verts)
    b = bilabial_closures(gaps, clip.phones, FPS)
    s = silence_closures(gaps, clip.phones, FPS)
    acc.closures += np.array([b[0], b[1], s[0], s[1]])
    if syncnet is not None:
        acc.curves.append(sync_distances(syncnet, emb, verts[:, lips] - template[lips], OFFSETS))


def format_table(table: dict) -> str:
    """The one comparison table `main.py eval` prints (Markdown, pasteable into RESULTS.md)."""
    cols = [("LVE (1e-5 m²)", "lve", 1e5, "{:.3f}"), ("lip max-L2 (mm)", "max_l2_mm", 1, "{:.2f}"),
            ("FDD (1e-7 m²)", "fdd", 1e7, "{:.3f}"), ("LSE-D ↓", "lse_d", 1, "{:.3f}"),
            ("LSE-C ↑", "lse_c", 1, "{:.3f}"), ("AV offset (frames)", "av_offset", 1, "{:+d}"),
            ("bilabial closure", "bilabial_closure", 100, "{:.1f} %"),
            ("silence closure", "silence_closure", 100, "{:.1f} %")]
    lines = ["| method | " + " | ".join(c[0] for c in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for name in METHODS:
        row = table[name]
        cells = []
        for _, key, scale, fmt in cols:
            value = row.get(key)
            if value is None:
                cells.append("–")
            elif key == "av_offset":
                cells.append(fmt.format(int(value)))
            else:
                cells.append(fmt.format(value * scale))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    info = table["_info"]
    lines.append(f"\n{info['clips']} clips ({info['hours'] * 60:.1f} min) of split "
                 f"'{info['split']}', voices: {', '.join(info['voices'])}")
    return "\n".join(lines)


def plot_example(example: dict, path: Path) -> None:
    """Predicted vs ground-truth jaw opening and lip gap over one held-out sentence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clip: Clip = example["clip"]
    t = np.arange(len(clip.motion)) / FPS
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
    styles = {"ground truth": ("k", 2.0), "model": ("tab:red", 1.5),
              "energy jaw": ("tab:blue", 1.0)}
    for name, (colour, width) in styles.items():
        ax1.plot(t, example["preds"][name][:, -3], color=colour, lw=width, label=name)
        ax2.plot(t, example["gaps"][name] * 1000, color=colour, lw=width, label=name)
    for seg in clip.phones:
        if seg.phone in ("p", "b", "m"):
            for ax in (ax1, ax2):
                ax.axvspan(seg.start, seg.end, color="orange", alpha=0.25, lw=0)
        if seg.phone != "pau":
            ax1.text(seg.mid, 0.255, seg.phone, fontsize=6, ha="center")
    ax2.axhline(1.5, color="grey", ls="--", lw=0.8)
    ax1.set_ylabel("jaw opening (rad)")
    ax1.set_ylim(-0.01, 0.27)
    ax2.set_ylabel("lip gap (mm)")
    ax2.set_xlabel("time (s)")
    ax1.legend(loc="upper right", fontsize=8)
    ax1.set_title(f"held-out clip {clip.id} (voice {clip.voice}); orange: p/b/m; "
                  "dashed: closure threshold", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
