"""Held-out evaluation: the model against a static face and an audio-energy jaw.

All methods are scored on the same clips, through the same mesh and the same frozen SyncNet3D
(REFERENCE.md §5: LSE numbers are only comparable under one expert). The energy baseline opens
the jaw in proportion to loudness (frame RMS normalised per clip), with the gain fitted by
least squares to the ground-truth jaw of training clips, so it is the best such baseline. On
VOCASET the ground truth is vertices, not rig parameters: the baseline opens FLAME's jaw, and
the "ground-truth jaw" it is fitted to is the jaw angle of FLAME's least-squares fit to the
training meshes (`MotionSpace.jaw_of`). The static face is each subject's neutral template.
With a lip reader (`lipreader_dir`), every method's motion is also rendered as mouth crops and
read: PER / VER (speech perception, Learn2Talk's second judge) on `lipread_clips` of the clips.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from driver.audio import MOTION_FPS, SAMPLE_RATE
from driver.checkpoint import NEEDS_ITS_RIG, CheckpointInfo
from driver.corpus.dataset import Clip
from driver.motion_source import open_motion
from driver.scoring import Judge, Scorecard
from driver.syncnet3d import SyncNet3D, load_syncnet
from driver.training_data import TrainingData, subsample
from splat.errors import UserInputError

METHODS = ("model", "energy jaw", "static face", "ground truth")


def frame_energy(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """(T,) RMS in a 1/15 s window around each frame time, divided by the clip's 95th pct."""
    half = SAMPLE_RATE // MOTION_FPS
    rms = np.empty(n_frames)
    for k in range(n_frames):
        c = int(round(k * SAMPLE_RATE / MOTION_FPS))
        seg = audio[max(0, c - half): c + half]
        rms[k] = np.sqrt(np.mean(seg**2)) if len(seg) else 0.0
    return np.clip(rms / (np.percentile(rms, 95) + 1e-6), 0.0, 1.2)


def fit_energy_gain(data: TrainingData, max_clips: int = 150) -> float:
    """Least-squares gain from normalised energy to ground-truth jaw opening (training clips)."""
    num = den = 0.0
    for item in data.items("train", max_clips):
        clip = data.load(item)
        if not clip.fully_supervised:     # pause-only real speech: no jaw truth in speech
            continue
        e = frame_energy(clip.audio, len(clip.motion))
        num += float(np.sum(e * data.space.jaw_of(clip.motion, clip.voice)))
        den += float(np.sum(e * e))
    return num / max(den, 1e-9)


def _syncnet_folder(checkpoint: Path, info: CheckpointInfo, given: Path | None) -> Path | None:
    """--syncnet, else the one exported beside the model, else the one the run trained with."""
    if given is not None:
        return Path(given)
    if (checkpoint / "syncnet3d.json").is_file():
        return checkpoint
    trained_with = info.training_data.get("recipe", {}).get("syncnet")
    if trained_with and (Path(trained_with) / "syncnet3d.json").is_file():
        return Path(trained_with)
    return None


@torch.no_grad()
def evaluate(checkpoint: Path, data: TrainingData, split: str = "test",
             syncnet_dir: Path | None = None, max_clips: int = 0,
             example_id: str | None = None, lipreader_dir: Path | None = None,
             lipread_clips: int = 0) -> tuple[dict, dict]:
    """Scores per method, and the predictions for one clip (`example_id`, else the first);
    with `lipreader_dir`, PER / VER on renders of `lipread_clips` clips (0 = all)."""
    space = data.space
    opened = open_motion(checkpoint, space.data, device="cpu", remedy=NEEDS_ITS_RIG)
    model, info, checkpoint = opened.model, opened.info, opened.folder
    space.check_model(model.config, f"checkpoint {checkpoint}")
    syncnet_dir = _syncnet_folder(checkpoint, info, syncnet_dir)
    syncnet: SyncNet3D | None = None
    if syncnet_dir is not None:
        syncnet, _ = load_syncnet(syncnet_dir, space.data.topology_digest())
    items = data.items(split, max_clips)
    perception = None
    if lipreader_dir is not None:
        from driver.lipreading.perception import Perception

        perception = Perception(lipreader_dir, space.data.topology_digest())
        read_ids = {id(item) for item in subsample(items, lipread_clips)}
    gain = fit_energy_gain(data)
    cards = {m: Scorecard() for m in METHODS if m != "model"}
    by_voice: dict[str, Scorecard] = {}    # the model, voice by voice (pooled after the loop)
    example: dict = {}
    for item in tqdm(items, desc=f"eval {split}", unit="clip"):
        clip = data.load(item)
        T = len(clip.motion)
        preds = {
            "model": model.infer(torch.from_numpy(clip.audio)[None], T)[0].numpy(),
            "energy jaw": space.jaw_motion(gain * frame_energy(clip.audio, T), clip.voice),
            "static face": np.zeros_like(clip.motion),
            "ground truth": clip.motion,
        }
        judge = Judge.for_clip(space, clip, syncnet)
        v_gt = judge.vertices(clip.motion)
        verts = {n: v_gt if n == "ground truth" else judge.vertices(m) for n, m in preds.items()}
        for name, card in cards.items():
            card.add(verts[name], v_gt, judge)
        by_voice.setdefault(clip.voice, Scorecard()).add(verts["model"], v_gt, judge)
        if perception is not None and id(item) in read_ids:
            if not clip.phones:
                raise UserInputError(f"clip {clip.id} has no phone labels: speech perception "
                                     "needs them (evaluate without --lipreader)")
            ids = perception.phone_ids(clip.phones)
            for name, motion in preds.items():
                counts = perception.score(motion, ids)
                (by_voice[clip.voice] if name == "model" else cards[name]).add_perception(counts)
        if (not example and example_id is None) or clip.id == example_id:
            example = {"clip": clip, "gaps": {n: space.gap.gaps(v) for n, v in verts.items()},
                       "jaw": {n: space.jaw_of(m, clip.voice) for n, m in preds.items()}}
    if example_id is not None and example.get("clip") is None:
        raise UserInputError(f"clip {example_id!r} is not among the evaluated clips")
    cards["model"] = Scorecard.merged(list(by_voice.values()))
    gt_dyn = cards["ground truth"].dyn
    table: dict = {name: cards[name].result(gt_dyn) for name in METHODS}
    table["_model_by_voice"] = {voice: by_voice[voice].result() for voice in sorted(by_voice)}
    described = data.describe(items)
    table["_info"] = {"clips": described["utterances"], "split": split, "energy_gain": gain,
                      "voices": described["voices"], "hours": described["hours"],
                      "syncnet": str(syncnet_dir) if syncnet is not None else None,
                      "lipreader": str(lipreader_dir) if perception is not None else None,
                      "lipread_clips": len(read_ids) if perception is not None else 0,
                      "notes": list(data.notes)}
    return table, example


COLUMNS = [("LVE (1e-5 m²)", "lve", 1e5, "{:.3f}"), ("lip max-L2 (mm)", "max_l2_mm", 1, "{:.2f}"),
           ("FDD (1e-7 m²)", "fdd", 1e7, "{:.3f}"), ("LSE-D ↓", "lse_d", 1, "{:.3f}"),
           ("LSE-C ↑", "lse_c", 1, "{:.3f}"), ("AV offset (frames)", "av_offset", 1, "{:+d}"),
           ("bilabial closure", "bilabial_closure", 100, "{:.1f} %"),
           ("silence closure", "silence_closure", 100, "{:.1f} %"),
           ("PER ↓", "per", 100, "{:.1f} %"), ("VER ↓", "ver", 100, "{:.1f} %")]
OPTIONAL = {"per", "ver"}      # columns shown only when some row has them (a lip reader ran)


def _markdown(first: str, rows: dict[str, dict]) -> list[str]:
    """A Markdown table of metric rows ("–" where a row lacks a metric)."""
    columns = [c for c in COLUMNS
               if c[1] not in OPTIONAL or any(c[1] in row for row in rows.values())]
    lines = [f"| {first} | " + " | ".join(c[0] for c in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for name, row in rows.items():
        cells = []
        for _, key, scale, fmt in columns:
            value = row.get(key)
            if value is None:
                cells.append("–")
            elif key == "av_offset":
                cells.append(fmt.format(int(value)))
            else:
                cells.append(fmt.format(value * scale))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def format_table(table: dict) -> str:
    """What `main.py eval` prints (Markdown, pasteable into RESULTS.md): the methods compared,
    then the model voice by voice (FDD is a distribution over all clips, so it has no per-voice
    value), because an average over voices hides the one voice it fails on."""
    lines = _markdown("method", {name: table[name] for name in METHODS})
    by_voice = table.get("_model_by_voice", {})
    if len(by_voice) > 1:
        lines += ["", "model, by voice:", ""] + _markdown("voice", by_voice)
    info = table["_info"]
    lines.append(f"\n{info['clips']} clips ({info['hours'] * 60:.1f} min) of split "
                 f"'{info['split']}', voices: {', '.join(info['voices'])}")
    if info.get("lipreader"):
        lines.append(f"PER / VER: lip reader {info['lipreader']} on canonical mouth renders of "
                     f"{info['lipread_clips']} clips")
    lines += info.get("notes", [])
    return "\n".join(lines)


def plot_example(example: dict, path: Path) -> None:
    """Predicted vs ground-truth jaw opening and lip gap over one held-out sentence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clip: Clip = example["clip"]
    t = np.arange(len(clip.motion)) / MOTION_FPS
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
    styles = {"ground truth": ("k", 2.0), "model": ("tab:red", 1.5),
              "energy jaw": ("tab:blue", 1.0)}
    for name, (colour, width) in styles.items():
        ax1.plot(t, example["jaw"][name], color=colour, lw=width, label=name)
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
    ax1.set_title(f"held-out clip {clip.id} (voice {clip.voice}); "
                  + ("orange: p/b/m; " if clip.phones else "") + "dashed: closure threshold",
                  fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
