"""Training: SyncNet3D on ground truth, then the Learn2Talk regressor on decoded vertices.

`python main.py train --what syncnet|regressor ...` (see avatar_app/commands/train.py).

Regressor recipe: random 3 s crops (start frames on the 3-frame grid where a motion frame
falls exactly on an audio sample, so a crop's front-end features equal the whole clip's);
scheduled sampling over a few no-grad passes (a teacher-forced pass predicts every frame, a
share of the previous-frame inputs, rising to all of them, is replaced by those predictions,
and the pass is repeated on its own outputs) so the autoregressive decoder learns to live with
its own outputs: with teacher forcing alone its free-running error was 2–3x the teacher-forced
one; losses on vertices decoded by
the differentiable rig: reconstruction + velocity + the frozen SyncNet3D's BCE(cos, 1) with a
warm-up. Single process by default; under torchrun (WORLD_SIZE set) each rank samples its own
crops and DistributedDataParallel averages the gradients; rank 0 validates and saves.
"""
from __future__ import annotations

import copy
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import nn
from tqdm import tqdm

from driver.corpus.augment import vocal_tract_warp
from driver.corpus.dataset import Clip, load_clip, split_records
from driver.losses import build_terms, lip_contact, lip_reconstruction, reconstruction, sync_loss, \
    velocity
from driver.metrics import LipGap, bilabial_closures, lip_max_sq_error, silence_closures
from driver.syncnet3d import SyncNet3D, audio_windows, load_syncnet, log_mel, motion_windows, \
    save_syncnet, sync_bce
from splat.errors import UserInputError
from splat.rig import Rig, RigData, load_rig_data

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RIG = ROOT / "assets" / "default_avatar" / "rig.npz"
FPS = 30


# ----------------------------------------------------------------------------- rig helpers
def load_rig(path: Path | None) -> Rig:
    """The differentiable rig that decodes parameters to vertices (default: the project rig)."""
    path = Path(path) if path is not None else DEFAULT_RIG
    if not path.is_file():
        raise UserInputError(f"rig not found: {path} (generate it with `main.py assets` or pass "
                             "--rig)")
    return Rig(load_rig_data(path)).eval()


def motion_params(motion: torch.Tensor, n_expr: int) -> dict[str, torch.Tensor]:
    """(N, E+3) motion → rig params, expressions padded/cut to the rig's count."""
    expr = motion[:, :-3]
    if expr.shape[1] < n_expr:
        expr = nn.functional.pad(expr, (0, n_expr - expr.shape[1]))
    return {"expr": expr[:, :n_expr], "jaw_pose": motion[:, -3:]}


def decode(rig: Rig, motion: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """Vertices (N, V, 3) of motion frames (N, E+3), in chunks to bound memory."""
    return torch.cat([rig(motion_params(part, rig.n_expr)) for part in motion.split(chunk)])


def speech_rig(data: RigData, every: int = 8) -> Rig:
    """An exact rig over the vertices the losses look at: the mouth region (lips, teeth,
    tongue), the joint regressor's support (so joints, and thus skinning, are unchanged) and
    every `every`-th other vertex (so upper-face channels are still penalised). ~3x cheaper
    than decoding the whole head on every training frame."""
    masks = data.masks
    keep = np.zeros(data.num_verts, bool)
    for name in ("lips", "mouth", "teeth", "tongue"):
        if name in masks:
            keep[masks[name]] = True
    keep |= np.abs(data.J_regressor).sum(0) > 0
    keep[np.nonzero(~keep)[0][::every]] = True
    idx = np.nonzero(keep)[0]
    remap = -np.ones(data.num_verts, np.int64)
    remap[idx] = np.arange(len(idx))
    faces = remap[data.faces[np.all(keep[data.faces], axis=1)]]
    sub = RigData(v_template=data.v_template[idx], faces=faces, shapedirs=data.shapedirs[idx],
                  n_shape=data.n_shape, n_expr=data.n_expr, posedirs=data.posedirs[idx],
                  J_regressor=data.J_regressor[:, idx], weights=data.weights[idx],
                  kintree_table=data.kintree_table, expr_names=data.expr_names,
                  shape_names=data.shape_names,
                  masks={k: remap[v[keep[v]]] for k, v in masks.items()},
                  rig_id=f"{data.rig_id}/speech-region")
    return Rig(sub).eval()


def lip_index(rig: Rig) -> torch.Tensor:
    return torch.as_tensor(rig.masks["lips"], dtype=torch.long)


@torch.no_grad()
def lip_displacements(rig: Rig, motion: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(T, L, 3) lip-vertex displacements from the template (what SyncNet3D sees)."""
    idx = lip_index(rig)
    verts = decode(rig, torch.as_tensor(np.asarray(motion), dtype=torch.float32))
    return verts[:, idx] - rig.v_template[idx]


def lip_gap_of(rig: Rig) -> LipGap:
    return LipGap.from_rig_data(rig.data)


# ------------------------------------------------------------------------------ syncnet
@dataclass
class SyncNetConfig:
    corpus: Path
    out: Path
    rig: Path | None = None
    steps: int = 3000
    batch: int = 128
    lr: float = 5e-4
    seed: int = 0
    min_shift: int = 3
    max_shift: int = 15
    val_every: int = 500
    max_clips: int = 0            # 0 = all training clips


def _sync_batch(mels: list[torch.Tensor], lips: list[torch.Tensor], batch: int,
                min_shift: int, max_shift: int, rng: np.random.Generator
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Half aligned pairs, half pairs with the audio shifted min..max frames within the clip."""
    lengths = np.array([len(x) for x in lips], float)
    clips = rng.choice(len(lips), size=batch, p=lengths / lengths.sum())
    audio, motion = [], []
    labels = torch.tensor([1.0 - (i % 2) for i in range(batch)])
    for i, c in enumerate(clips):
        T = len(lips[c])
        t = int(rng.integers(0, T))
        shift = 0
        if i % 2 == 1:
            options = [s for s in range(-max_shift, max_shift + 1)
                       if abs(s) >= min_shift and 0 <= t + s < T]
            shift = int(rng.choice(options)) if options else max_shift
        audio.append(audio_windows(mels[c], torch.tensor([t + shift])))
        motion.append(motion_windows(lips[c], torch.tensor([t])))
    return torch.cat(audio), torch.cat(motion), labels


def _prepare_sync_data(corpus: Path, split: str, rig: Rig, max_clips: int,
                       desc: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    records = split_records(corpus, split)
    if max_clips:
        records = records[:: max(1, len(records) // max_clips)][:max_clips]
    mels, lips = [], []
    for record in tqdm(records, desc=desc, unit="clip"):
        clip = load_clip(corpus, record)
        mels.append(log_mel(clip.audio))
        lips.append(lip_displacements(rig, clip.motion))
    return mels, lips


def train_syncnet(cfg: SyncNetConfig) -> dict:
    """Train SyncNet3D on ground-truth lip motion; saves to cfg.out; returns final metrics."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    rig = load_rig(cfg.rig)
    lips_rig = speech_rig(rig.data)       # same lip vertices, cheaper to decode
    mels, lips = _prepare_sync_data(cfg.corpus, "train", lips_rig, cfg.max_clips, "syncnet data")
    val_mels, val_lips = _prepare_sync_data(cfg.corpus, "val", lips_rig, 0, "syncnet val data")
    val_batch = _sync_batch(val_mels, val_lips, 512, cfg.min_shift, cfg.max_shift,
                            np.random.default_rng(1234))
    model = SyncNet3D(lips[0].shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    metrics: dict = {}
    bar = tqdm(range(cfg.steps), desc="syncnet", unit="step")
    for step in bar:
        model.train()
        audio, motion, labels = _sync_batch(mels, lips, cfg.batch, cfg.min_shift,
                                            cfg.max_shift, rng)
        loss = sync_bce(model(audio, motion), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % cfg.val_every == 0 or step + 1 == cfg.steps:
            model.eval()
            with torch.no_grad():
                cos = model(val_batch[0], val_batch[1])
                metrics = {"step": step + 1, "val_loss": float(sync_bce(cos, val_batch[2])),
                           "val_acc": float(((cos > 0.5).float() == val_batch[2]).float().mean())}
            bar.write(json.dumps(metrics))
        bar.set_postfix(loss=f"{loss.item():.3f}")
    save_syncnet(model, cfg.out, {"rig_id": rig.rig_id, "rig_topology": rig.topology_digest(),
                                  "steps": cfg.steps, "metrics": metrics,
                                  "corpus": str(cfg.corpus)})
    return metrics


# ---------------------------------------------------------------------------- regressor
@dataclass
class RegressorTrainConfig:
    corpus: Path
    out: Path
    rig: Path | None = None
    syncnet: Path | None = None
    steps: int = 100000
    minutes: float = 0.0          # wall-clock budget (0 = none); training stops and saves
    batch: int = 6
    crop_frames: int = 90
    lr: float = 1e-3
    seed: int = 0
    d_model: int = 128
    rec_weight: float = 1.0
    lip_weight: float = 3.0
    contact_weight: float = 1.0
    vel_weight: float = 5.0
    sync_weight: float = 0.03
    sync_start: int = 1000
    sync_full: int = 2000
    lipread_weight: float = 0.0
    sampling_max: float = 0.5     # final share of previous-frame inputs taken from predictions
    sampling_ramp: int = 3000     # steps to reach it
    sampling_passes: int = 2      # no-grad passes, each feeding the previous pass's predictions
    warp: float = 1.0             # max vocal-tract warp factor (1 = off)
    input_noise: float = 0.02     # std of noise on previous-frame inputs (parameter units)
    val_every: int = 250
    val_clips: int = 12
    save_every: int = 250
    max_clips: int = 0
    device: str = "auto"
    resume: bool = False
    export: Path | None = None
    command: str = field(default_factory=lambda: " ".join(sys.argv))


@dataclass
class _TrainClip:
    audio: np.ndarray         # int16, padded with silence on both sides by `pad` samples
    motion: np.ndarray        # (T_padded, E+3), rest pose appended up to the crop length
    mel: torch.Tensor         # SyncNet log-mel of the unpadded clip
    frames: int


class TeacherForcedStep(nn.Module):
    """One teacher-forced pass from audio crops; a module so DDP can wrap it."""

    def __init__(self, model: nn.Module, crop_frames: int) -> None:
        super().__init__()
        self.model = model
        self.crop_frames = crop_frames
        self.lo, self.hi = model.frontend.required_range(0, crop_frames + model.config.audio_lookahead)

    def forward(self, audio: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        feats = self.model.frontend.features(audio, self.lo, 0,
                                             self.crop_frames + self.model.config.audio_lookahead)
        return self.model.forward_teacher(feats, previous)


def _build_model(rig: Rig, d_model: int):
    from driver.frontends import LogMelFrontEnd
    from driver.model import Learn2TalkRegressor, RegressorConfig

    config = RegressorConfig(outputs=[("expr", rig.n_expr), ("jaw_pose", 3)], d_model=d_model,
                             frontend=LogMelFrontEnd().config_dict())
    return Learn2TalkRegressor(config)


def _load_train_clips(corpus: Path, records: list[dict], crop: int, pad: int) -> list[_TrainClip]:
    clips = []
    for record in tqdm(records, desc="loading clips", unit="clip"):
        audio, _ = sf.read(corpus / "audio" / f"{record['id']}.wav", dtype="int16")
        motion = np.load(corpus / "motion" / f"{record['id']}.npy")
        frames = len(motion)
        total = max(frames, crop)
        padded_motion = np.zeros((total + 3, motion.shape[1]), np.float32)
        padded_motion[:frames] = motion
        need = int(math.ceil(total * 16000 / FPS)) + 2 * pad
        padded_audio = np.zeros(need, np.int16)
        padded_audio[pad:pad + len(audio)] = audio[: need - 2 * pad]
        clips.append(_TrainClip(padded_audio, padded_motion,
                                log_mel(audio.astype(np.float32) / 32768.0), frames))
    return clips


def _sample_batch(clips: list[_TrainClip], step_fn: TeacherForcedStep, batch: int, pad: int,
                  rng: np.random.Generator, warp: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, list[int], list[int]]:
    """Audio crops (B, S), motion (B, T, P), clip indices and crop start frames; 70 % of crops
    get a vocal-tract warp with factor in [warp^-0.5, warp] (formants mostly raised)."""
    crop = step_fn.crop_frames
    weights = np.array([max(c.frames, crop) for c in clips], float)
    chosen = rng.choice(len(clips), size=batch, p=weights / weights.sum())
    audios, motions, starts = [], [], []
    for c in chosen:
        clip = clips[c]
        last = (len(clip.motion) - 3 - crop) // 3
        k0 = 3 * int(rng.integers(0, max(0, last) + 1))
        s0 = k0 * 16000 // FPS            # exact: k0 is a multiple of 3
        a = clip.audio[pad + s0 + step_fn.lo: pad + s0 + step_fn.hi].astype(np.float32) / 32768.0
        if warp > 1.0 and rng.random() < 0.7:
            a = vocal_tract_warp(a, float(np.exp(rng.uniform(-0.5, 1.0) * np.log(warp))))
        gain = 10 ** (rng.uniform(-6, 6) / 20)
        audios.append(torch.from_numpy(a * gain))
        motions.append(torch.from_numpy(clip.motion[k0:k0 + crop]))
        starts.append(k0)
    return torch.stack(audios), torch.stack(motions), list(chosen), starts


@torch.no_grad()
def validate(model, rig: Rig, clips: list[Clip], syncnet: SyncNet3D | None) -> dict:
    """Autoregressive inference on whole clips → LVE, lip max-L2, closures, (LSE-D/C)."""
    from driver.metrics import audio_embeddings, lve, max_l2_mm, sync_distances, sync_scores

    model.eval()
    device = next(model.parameters()).device
    lips = lip_index(rig).numpy()
    gap = lip_gap_of(rig)
    errors, curves = [], []
    closed = [0, 0, 0, 0]
    for clip in clips:
        audio = torch.from_numpy(clip.audio)[None].to(device)
        pred = model.infer(audio, len(clip.motion))[0].cpu()
        v_pred = decode(rig, pred).numpy()
        v_gt = decode(rig, torch.from_numpy(clip.motion)).numpy()
        errors.append(lip_max_sq_error(v_pred, v_gt, lips))
        gaps = gap.gaps(v_pred)
        b = bilabial_closures(gaps, clip.phones, FPS)
        s = silence_closures(gaps, clip.phones, FPS)
        closed = [closed[0] + b[0], closed[1] + b[1], closed[2] + s[0], closed[3] + s[1]]
        if syncnet is not None:
            emb = audio_embeddings(syncnet, clip.audio, len(clip.motion))
            curves.append(sync_distances(syncnet, emb, v_pred[:, lips] -
                                         rig.data.v_template[lips]))
    out = {"lve": lve(errors), "max_l2_mm": max_l2_mm(errors),
           "bilabial_closure": closed[0] / max(1, closed[1]),
           "silence_closure": closed[2] / max(1, closed[3])}
    if curves:
        scores = sync_scores(curves)
        out.update(lse_d=scores.lse_d, lse_c=scores.lse_c, av_offset=scores.offset)
    return out


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises torch.distributed when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world


def _device(name: str, rank: int) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
        return torch.device("cpu")
    return torch.device(name)


def train_regressor(cfg: RegressorTrainConfig) -> dict:
    """Train (or resume) the regressor; checkpoints in cfg.out/model, returns last metrics."""
    from driver.checkpoint import CheckpointInfo, load_checkpoint, save_checkpoint

    rank, world = _distributed()
    device = _device(cfg.device, rank)
    torch.manual_seed(cfg.seed + rank)
    rng = np.random.default_rng(cfg.seed + 7919 * rank)
    rig = load_rig(cfg.rig)
    terms = build_terms(cfg.rec_weight, cfg.vel_weight, cfg.sync_weight, cfg.sync_start,
                        cfg.sync_full, cfg.lipread_weight, cfg.lip_weight, cfg.contact_weight)
    syncnet = judge = None               # judge: the CPU copy used by validation
    if cfg.syncnet is not None:
        judge, _ = load_syncnet(cfg.syncnet, rig.topology_digest())
        syncnet = copy.deepcopy(judge).to(device)
    elif cfg.sync_weight > 0:
        raise UserInputError("--sync-weight > 0 needs --syncnet DIR (train it with "
                             "`main.py train --what syncnet`)")

    model = _build_model(rig, cfg.d_model)
    loss_rig = speech_rig(rig.data).to(device)
    step_fn = TeacherForcedStep(model, cfg.crop_frames)
    pad = max(-step_fn.lo, step_fn.hi) + 16000
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start_step, elapsed_before = 0, 0.0
    state_path = cfg.out / "trainer_state.pt"
    if cfg.resume:
        if not state_path.is_file():
            raise UserInputError(f"nothing to resume in {cfg.out} (no trainer_state.pt)")
        loaded, _ = load_checkpoint(cfg.out / "model", rig=rig)
        model.load_state_dict(loaded.state_dict())
        state = torch.load(state_path, weights_only=False)
        opt.load_state_dict(state["optimizer"])
        start_step, elapsed_before = state["step"], state["elapsed"]
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
    model.to(device)
    runner: nn.Module = step_fn
    if world > 1:
        runner = nn.parallel.DistributedDataParallel(
            step_fn, device_ids=[device.index] if device.type == "cuda" else None)

    records = split_records(cfg.corpus, "train")
    if cfg.max_clips:
        records = records[:: max(1, len(records) // cfg.max_clips)][:cfg.max_clips]
    clips = _load_train_clips(cfg.corpus, records, cfg.crop_frames, pad)
    val_records = split_records(cfg.corpus, "val")
    val_records = val_records[:: max(1, len(val_records) // cfg.val_clips)][:cfg.val_clips]
    val_clips = [load_clip(cfg.corpus, r) for r in val_records]
    lips = lip_index(loss_rig)
    contact_sets = lip_gap_of(loss_rig)
    upper_lip, lower_lip = (torch.as_tensor(contact_sets.upper, device=device),
                            torch.as_tensor(contact_sets.lower, device=device))
    template_lips = loss_rig.v_template[lips]
    cfg.out.mkdir(parents=True, exist_ok=True)
    history = cfg.out / "history.jsonl"
    gen = torch.Generator().manual_seed(cfg.seed + rank)
    data_info = {"corpus": str(cfg.corpus), "train_utterances": len(records),
                 "train_hours": round(sum(r["duration"] for r in records) / 3600, 3),
                 "voices": sorted({r["voice"] for r in records}), "recipe": asdict(cfg)}
    data_info["recipe"] = {k: str(v) if isinstance(v, Path) else v
                           for k, v in data_info["recipe"].items()}

    def save(metrics: dict) -> None:
        if rank != 0:
            return
        info = CheckpointInfo.for_rig(rig, training_data=data_info, trained=step > 0,
                                      metrics=metrics)
        save_checkpoint(model, info, cfg.out / "model")
        torch.save({"step": step, "optimizer": opt.state_dict(), "elapsed": elapsed(),
                    "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()},
                   state_path)

    t0 = time.monotonic()

    def elapsed() -> float:
        return elapsed_before + time.monotonic() - t0

    metrics: dict = {}
    step = start_step
    bar = tqdm(total=cfg.steps, initial=start_step, desc="regressor", unit="step",
               disable=rank != 0)
    while step < cfg.steps:
        if cfg.minutes and elapsed() > cfg.minutes * 60:
            break
        model.train()
        if cfg.minutes:   # linear decay to 10 % over the wall-clock budget
            for group in opt.param_groups:
                group["lr"] = cfg.lr * (1.0 - 0.9 * min(1.0, elapsed() / (cfg.minutes * 60)))
        audio, target, chosen, starts = _sample_batch(clips, step_fn, cfg.batch, pad, rng,
                                                         cfg.warp)
        audio, target = audio.to(device), target.to(device)
        share = cfg.sampling_max * min(1.0, step / max(1, cfg.sampling_ramp))
        previous = target
        if share > 0:
            mask = (torch.rand(target.shape[:2], generator=gen) < share).to(device)[..., None]
            with torch.no_grad():   # iterate towards what autoregressive inference feeds itself
                for _ in range(cfg.sampling_passes):
                    previous = torch.where(mask, runner(audio, previous), target)
        previous = previous + cfg.input_noise * torch.randn(previous.shape, generator=gen).to(device)
        pred = runner(audio, previous)
        B, T, P = pred.shape
        v_pred = decode(loss_rig, pred.reshape(B * T, P)).reshape(B, T, -1, 3)
        with torch.no_grad():
            v_gt = decode(loss_rig, target.reshape(B * T, P)).reshape(B, T, -1, 3)
        parts = {"rec": reconstruction(v_pred, v_gt), "vel": velocity(v_pred, v_gt)}
        if terms["lips"].scale(step) > 0:
            parts["lips"] = lip_reconstruction(v_pred, v_gt, lips)
        if terms["contact"].scale(step) > 0:
            parts["contact"] = lip_contact(v_pred, v_gt, upper_lip, lower_lip)
        if syncnet is not None and terms["sync"].scale(step) > 0:
            parts["sync"] = sync_loss(syncnet, [clips[c].mel.to(device) for c in chosen], starts,
                                      v_pred[:, :, lips] - template_lips, 16, gen)
        loss = sum(terms[name].scale(step) * value for name, value in parts.items())
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix({k: f"{v.item():.3g}" for k, v in parts.items()})
        if rank == 0 and step % cfg.val_every == 0 and step < cfg.steps:
            metrics = {"step": step, "elapsed_min": round(elapsed() / 60, 2),
                       **validate(model, rig, val_clips, judge)}
            bar.write(json.dumps(metrics))
            with open(history, "a") as f:
                f.write(json.dumps(metrics) + "\n")
        if step % cfg.save_every == 0:
            save(metrics)
    bar.close()
    if rank == 0:
        metrics = {"step": step, "elapsed_min": round(elapsed() / 60, 2),
                   **validate(model, rig, val_clips, judge)}
        with open(history, "a") as f:
            f.write(json.dumps(metrics) + "\n")
        save(metrics)
        if cfg.export is not None:
            export(cfg.out, cfg.export, cfg.syncnet)
    return metrics


def export(run: Path, folder: Path, syncnet: Path | None) -> None:
    """Copy the run's model (and the SyncNet3D that trained/judges it) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("model.safetensors", "config.json"):
        shutil.copy2(run / "model" / name, folder / name)
    if syncnet is not None:
        for name in ("syncnet3d.safetensors", "syncnet3d.json"):
            shutil.copy2(Path(syncnet) / name, folder / name)
