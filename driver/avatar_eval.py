"""`eval --avatar`: lip closures measured on each avatar's own mesh, through the app's path.

The corpus metrics (driver.evaluate) score motion on the rig the model was trained for. An
avatar on another rig (the embedded human head's ARKit-52 rig) only sees that motion after it
has been mapped, so its closures are measured here on what the app would show: the checkpoint
opened with `open_motion(retarget="auto")` for the avatar's rig (the window's and `render`'s
path), its offline frames (`MotionSource.infer`) mapped frame by frame with `to_avatar`, the
avatar's rig decoded, and the lip gap taken between that rig's own upper- and lower-lip vertices
(`LipGap.from_rig_data`: the rig's `lips` mask split by jaw skinning). The closure rule is the
default head's (`bilabial_closures` / `silence_closures` at `CLOSED_MM`), so the rows compare.
The corpus's ground-truth motion goes through the same map, which separates what the mapping
loses from what the model misses; the mean lip gap over speech frames shows that a head which
closes did not do so by staying shut. The default head is always the first row.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from driver.audio import MOTION_FPS
from driver.corpus.phones import SILENCE
from driver.metrics import CLOSED_MM, LipGap, bilabial_closures, silence_closures
from driver.motion import MotionFrame
from driver.motion_source import MotionSource, open_motion
from driver.training_data import TrainingData
from splat.assets_paths import DEFAULT_AVATAR, EMBEDDED_AVATARS
from splat.avatar import resolve_avatar_rig
from splat.errors import UserInputError
from splat.rig import POSE_PARAM_SIZES, Rig
from splat.torch_threads import OFFLINE_INFERENCE_THREADS, torch_threads

KINDS = ("model", "ground truth")


def avatar_folder(name: str | Path) -> Path:
    """An embedded head by name (`EMBEDDED_AVATARS`: procedural, human) or an avatar folder."""
    if str(name) in EMBEDDED_AVATARS:
        return EMBEDDED_AVATARS[str(name)]
    folder = Path(name)
    if not folder.is_dir():
        raise UserInputError(f"--avatar {name}: neither an embedded head "
                             f"({', '.join(EMBEDDED_AVATARS)}) nor an avatar folder")
    return folder


def avatar_label(folder: Path) -> str:
    """The embedded name of a folder, else its path."""
    return next((n for n, p in EMBEDDED_AVATARS.items() if p.resolve() == folder.resolve()),
                str(folder))


@dataclass
class AvatarScore:
    """One avatar under test: its motion source, rig, lip-gap sets and closure counts."""

    label: str
    source: MotionSource
    rig: Rig
    gap: LipGap
    counts: dict[str, np.ndarray] = field(
        default_factory=lambda: {k: np.zeros(4, int) for k in KINDS})
    speech_gaps: dict[str, list] = field(default_factory=lambda: {k: [] for k in KINDS})

    @classmethod
    def open(cls, folder: Path, checkpoint: Path | None) -> "AvatarScore":
        rig_data = resolve_avatar_rig(folder)
        if rig_data is None:
            raise UserInputError(f"avatar {folder} has no rig: a plain scene has no lips to "
                                 "measure")
        if "lips" not in rig_data.masks:
            raise UserInputError(f"avatar {folder}: its rig has no 'lips' mask")
        source = open_motion(checkpoint, rig_data, retarget="auto", device="cpu")
        return cls(avatar_label(folder), source, Rig(rig_data).eval(),
                   LipGap.from_rig_data(rig_data))

    @torch.no_grad()
    def gaps(self, frames: list[MotionFrame]) -> np.ndarray:
        """(T,) lip gap (m) of motion frames in the model's rig, shown on this avatar."""
        mapped = [self.source.to_avatar(f) for f in frames]
        params = {"expr": np.stack([f.expr for f in mapped])}
        params.update({k: np.stack([getattr(f, k) for f in mapped]) for k in POSE_PARAM_SIZES})
        verts = self.rig({k: torch.as_tensor(v, dtype=torch.float32) for k, v in params.items()})
        return self.gap.gaps(verts)

    def add(self, kind: str, gaps: np.ndarray, phones: list) -> None:
        b = bilabial_closures(gaps, phones, MOTION_FPS, CLOSED_MM)
        s = silence_closures(gaps, phones, MOTION_FPS, CLOSED_MM)
        self.counts[kind] += np.array([b[0], b[1], s[0], s[1]])
        times = np.arange(len(gaps)) / MOTION_FPS
        speech = np.zeros(len(gaps), bool)
        for seg in phones:
            if seg.phone != SILENCE:
                speech |= (times >= seg.start) & (times < seg.end)
        self.speech_gaps[kind].append(gaps[speech])

    def result(self) -> dict:
        out: dict = {"rig": self.rig.data.rig_id, "retargeting": self.source.note or "none"}
        for kind, (bc, bn, sc, sn) in self.counts.items():
            out[kind] = {"bilabial_closure": bc / bn if bn else None, "bilabials": int(bn),
                         "silence_closure": sc / sn if sn else None, "silence_frames": int(sn),
                         "speech_gap_mm": float(np.mean(np.concatenate(self.speech_gaps[kind])))
                         * 1000}
        return out


def ground_truth_frames(motion: np.ndarray) -> list[MotionFrame]:
    """A corpus clip's (T, E+3) motion (expressions, then jaw_pose) as frames."""
    m = np.asarray(motion, np.float32)
    return [MotionFrame(t=k / MOTION_FPS, expr=m[k, :-3], jaw_pose=m[k, -3:])
            for k in range(len(m))]


def evaluate_avatars(checkpoint: Path | None, data: TrainingData, avatars: list[str | Path],
                     split: str = "test", max_clips: int = 0) -> dict:
    """Closure rates of the model's and the ground truth's motion on the default head and on
    each of `avatars`, over the clips of `split` (all of them get the same audio)."""
    if data.space.mode != "params":
        raise UserInputError("eval --avatar needs a corpus of rig parameters (--corpus), not "
                             "VOCASET's vertices")
    folders = [DEFAULT_AVATAR] + [f for f in map(avatar_folder, avatars)
                                  if f.resolve() != DEFAULT_AVATAR.resolve()]
    scores = [AvatarScore.open(f, checkpoint) for f in folders]
    model_source = scores[0].source            # the default head: the model's own rig
    if model_source.rigs.retargeter is not None:
        raise UserInputError(f"checkpoint {model_source.folder} is not trained for the default "
                             "head's rig; eval --avatar compares against that head")
    items = data.items(split, max_clips)
    for item in tqdm(items, desc=f"eval --avatar {split}", unit="clip"):
        clip = data.load(item)
        if not clip.phones:
            raise UserInputError(f"clip {clip.id} has no phone labels: closures need them")
        with torch_threads(OFFLINE_INFERENCE_THREADS):
            frames = {"model": model_source.infer(clip.audio),
                      "ground truth": ground_truth_frames(clip.motion)}
            for score in scores:
                for kind, kind_frames in frames.items():
                    score.add(kind, score.gaps(kind_frames), clip.phones)
    described = data.describe(items)
    return {"avatars": {s.label: s.result() for s in scores},
            "_info": {"clips": described["utterances"], "split": split,
                      "voices": described["voices"], "hours": described["hours"],
                      "threshold_mm": CLOSED_MM, "checkpoint": str(model_source.folder)}}


def format_avatar_table(table: dict) -> str:
    """One Markdown table: avatar x (model, ground truth) closure rates, and the difference of
    each avatar's model row from the default head's."""
    rows = table["avatars"]
    first = next(iter(rows.values()))
    lines = ["| avatar | motion | bilabial closure | Δ vs default | silence closure | "
             "Δ vs default | speech lip gap (mm) |", "|---|---|---|---|---|---|---|"]

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.1f} %"

    def delta(x: float | None, ref: float | None) -> str:
        return "–" if x is None or ref is None else f"{100 * (x - ref):+.1f}"

    for label, row in rows.items():
        for kind in KINDS:
            r, ref = row[kind], first[kind]
            lines.append(f"| {label} | {kind} | {pct(r['bilabial_closure'])} | "
                         f"{delta(r['bilabial_closure'], ref['bilabial_closure'])} | "
                         f"{pct(r['silence_closure'])} | "
                         f"{delta(r['silence_closure'], ref['silence_closure'])} | "
                         f"{r['speech_gap_mm']:.2f} |")
    info = table["_info"]
    lines.append(f"\n{info['clips']} clips ({info['hours'] * 60:.1f} min) of split "
                 f"'{info['split']}', voices: {', '.join(info['voices'])}; closed = lip gap "
                 f"< {info['threshold_mm']} mm on the avatar's own lips; "
                 f"{first['model']['bilabials']} p/b/m phones, "
                 f"{first['model']['silence_frames']} pause frames")
    for label, row in rows.items():
        if row["retargeting"] != "none":
            lines.append(f"{label}: {row['retargeting']}")
    return "\n".join(lines)
