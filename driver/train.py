"""Training: SyncNet3D on ground truth, then the Learn2Talk regressor on vertices.

`python main.py train --what syncnet|regressor ...` (see avatar_app/commands/train.py).

One loop serves both data sources (`driver.training_data`): the project's corpus (rig
parameters, decoded to vertices by the differentiable rig) and VOCASET on FLAME (vertex offsets
from each subject's template, FaceFormer's head). What differs lives in their `MotionSpace`:
the output blocks, how a prediction becomes vertices, and the unit the output head learns in.

Regressor recipe: random 3 s crops (start frames on the 3-frame grid where a motion frame
falls exactly on an audio sample, so a crop's front-end features equal the whole clip's);
scheduled sampling over a few no-grad passes (a teacher-forced pass predicts every frame, a
share of the previous-frame inputs, rising to all of them, is replaced by those predictions,
and the pass is repeated on its own outputs) so the autoregressive decoder learns to live with
its own outputs: with teacher forcing alone its free-running error was 2–3x the teacher-forced
one; losses on vertices: reconstruction + lip reconstruction + lip contact + velocity + the
frozen SyncNet3D's BCE(cos, 1) with a warm-up. Single process by default; under torchrun
(WORLD_SIZE set) each rank samples its own crops (so the effective batch is ranks x --batch),
DistributedDataParallel averages the gradients, rank 0's clock decides the time budget and
learning rate, and rank 0 validates and saves.
"""
from __future__ import annotations

import copy
import json
import math
import pickle
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from driver import distributed
from driver.corpus.augment import vocal_tract_warp
from driver.corpus.dataset import Clip
from driver.losses import LossTerm, build_terms, lip_contact, lip_reconstruction, reconstruction, \
    loudness_tracking, speech_opening, sync_loss, velocity
from driver.audio import MOTION_FPS, SAMPLE_RATE
from driver.evaluate import frame_energy
from driver.motion_space import MotionSpace
from driver.real_speech_eval import OPEN_MM, WINDOW_S
from driver.scoring import Judge, Scorecard
from driver.syncnet3d import SyncNet3D, audio_windows, load_syncnet, log_mel, motion_windows, \
    save_syncnet, sync_bce
from driver.train_config import RegressorTrainConfig, SyncNetConfig
from driver.training_data import TrainingData
from splat.errors import UserInputError

if TYPE_CHECKING:
    from driver.lipreading.teacher import LipReadTeacher

# Loudness tracking on real speech without phones: the r(lip gap, loudness) a crop's VAD speech
# must reach before the term falls silent, and the fewest speech frames (0.5 s) it is judged on.
TRACK_R = 0.6
TRACK_MIN_FRAMES = 15


# ------------------------------------------------------------------------------ syncnet
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


@torch.no_grad()
def _prepare_sync_data(data: TrainingData, split: str, max_clips: int,
                       desc: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """SyncNet log-mels and ground-truth lip displacements (T, L, 3) of a split's clips."""
    space = data.space.for_loss()       # same lip vertices, cheaper to decode
    mels, lips = [], []
    for item in tqdm(data.items(split, max_clips), desc=desc, unit="clip"):
        clip = data.load(item)
        if not clip.fully_supervised:      # pause-only: no lip motion to learn sync from
            continue
        mels.append(log_mel(clip.audio))
        verts = space.vertices(torch.from_numpy(clip.motion)[None], [clip.voice])
        lips.append(space.lip_displacements(verts, [clip.voice])[0])
    return mels, lips


def train_syncnet(cfg: SyncNetConfig) -> dict:
    """Train SyncNet3D on ground-truth lip motion; saves to cfg.out; returns final metrics."""
    if distributed.init()[1] > 1:
        raise UserInputError("SyncNet3D trains in one process (minutes); run it without torchrun")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    data = cfg.open_data()
    mels, lips = _prepare_sync_data(data, "train", cfg.max_clips, "syncnet data")
    val_mels, val_lips = _prepare_sync_data(data, "val", 0, "syncnet val data")
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
    rig = data.space.data
    save_syncnet(model, cfg.out, {"rig_id": rig.rig_id, "rig_topology": rig.topology_digest(),
                                  "steps": cfg.steps, "metrics": metrics,
                                  "data": data.source})
    return metrics


# ---------------------------------------------------------------------------- regressor
@dataclass
class TrainClip:
    """A training clip, padded for cropping (int16 audio: a tenth of the memory of float)."""

    audio: np.ndarray         # int16, padded with silence on both sides by `pad` samples
    motion: np.ndarray        # (T_padded, P), rest (zeros) appended up to the crop length
    mel: torch.Tensor         # SyncNet log-mel of the unpadded clip
    frames: int
    voice: str
    weight: np.ndarray        # (T_padded,) frame loss weights (Clip.weight; padding: 1 if the
    full: bool                # clip is fully supervised, else 0); full: every frame has a target
    speech: np.ndarray        # (T_padded,) float32 1 on VAD speech frames of pause-only clips
    loudness: np.ndarray      # (T_padded,) float32 `frame_energy` envelope (pause-only clips)

    @classmethod
    def of(cls, clip: Clip, crop: int, pad: int, pause_weight: float = 1.0) -> "TrainClip":
        """`pause_weight` scales the rest targets of a pause-only clip against the 1 of a fully
        supervised frame (in the loss and in how often the clip is drawn)."""
        frames = len(clip.motion)
        total = max(frames, crop)
        motion = np.zeros((total + 3, clip.motion.shape[1]), np.float32)
        motion[:frames] = clip.motion
        audio = np.round(np.clip(clip.audio, -1.0, 32767 / 32768) * 32768).astype(np.int16)
        need = int(math.ceil(total * SAMPLE_RATE / MOTION_FPS)) + 2 * pad
        padded = np.zeros(need, np.int16)
        padded[pad:pad + len(audio)] = audio[: need - 2 * pad]
        full = clip.fully_supervised
        weight = np.full(len(motion), 1.0 if full else 0.0, np.float32)
        if clip.weight is not None:
            weight[:frames] = clip.weight * (1.0 if full else pause_weight)
        speech = np.zeros(len(motion), np.float32)
        loudness = np.zeros(len(motion), np.float32)
        if clip.speech is not None:
            speech[:frames] = clip.speech
            loudness[:frames] = frame_energy(clip.audio, frames)
        return cls(padded, motion, log_mel(clip.audio), frames, clip.voice, weight, full, speech,
                   loudness)


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


def build_model(space: MotionSpace, d_model: int, lookahead_ms: float = 82.5) -> nn.Module:
    """A fresh regressor (log-mel front end hearing at most `lookahead_ms` past each frame)
    whose outputs are `space`'s motion."""
    from driver.frontends import LogMelFrontEnd
    from driver.model import Learn2TalkRegressor, RegressorConfig

    frontend = LogMelFrontEnd(future_mel=LogMelFrontEnd.future_mel_for(lookahead_ms))
    config = RegressorConfig(outputs=space.outputs, mode=space.mode, d_model=d_model,
                             frontend=frontend.config_dict())
    return Learn2TalkRegressor(config)


def make_optimizer(model: nn.Module, lr: float, unit: float) -> torch.optim.Adam:
    """Adam, with the output head learning in the motion's unit.

    Adam moves every weight by about `lr` per step whatever the gradient's scale, so a head
    that outputs metres (vertex offsets of a few millimetres) at lr 1e-3 would jump by
    centimetres on its first step. Giving the head lr x unit is exactly Adam on a head that
    predicts in units of `unit` (centimetres), rescaled. Rig parameters (unit 1) keep one group.
    """
    if unit == 1.0:
        return torch.optim.Adam(model.parameters(), lr=lr)
    head = list(model.head.parameters())
    ids = {id(p) for p in head}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return torch.optim.Adam([{"params": rest, "lr": lr, "lr_scale": 1.0},
                             {"params": head, "lr": lr * unit, "lr_scale": unit}])


@dataclass
class Batch:
    """Crops of a training step (all tensors on the training device)."""

    audio: torch.Tensor           # (B, S)
    target: torch.Tensor          # (B, T, P)
    voices: list[str]
    mels: list[torch.Tensor]      # whole-clip SyncNet log-mels
    starts: list[int]             # clip frame of crop frame 0
    weight: torch.Tensor          # (B, T) frame loss weights (0: no target, e.g. real speech)
    full: list[bool]              # crop's clip fully supervised (the sync term uses only these)
    speech: torch.Tensor          # (B, T) 1 on VAD speech frames without a target
    loudness: torch.Tensor        # (B, T) loudness envelope of those clips (0 elsewhere)


def sample_batch(clips: list[TrainClip], step_fn: TeacherForcedStep, batch: int, pad: int,
                 rng: np.random.Generator, device: torch.device, warp: float = 1.0,
                 speech_has_targets: bool = False) -> Batch:
    """Random crops, clips drawn in proportion to their supervised frames (their length, for
    all but pause-only clips, whose speech has no target); 70 % of them get a vocal-tract warp
    with factor in [warp^-0.5, warp] (formants mostly raised).

    With `speech_has_targets` (the speech-opening or loudness-tracking hinge is on) the VAD
    speech of pause-only clips counts as supervised too: otherwise clips with trimmed pauses
    (telephone prompts, 3 % pause frames) are almost never drawn, and the hinges never see the
    speech they were added for."""
    crop = step_fn.crop_frames
    weights = np.array([max(c.frames, crop) * float(
        (c.weight[:c.frames] + (c.speech[:c.frames] if speech_has_targets else 0.0)).mean())
        for c in clips])
    if not weights.sum() > 0:
        raise UserInputError("no training clip has a frame with a target (pause-only clips "
                             "without pauses)")
    chosen = rng.choice(len(clips), size=batch, p=weights / weights.sum())
    audios, motions, frame_weights, speech, loudness, starts = [], [], [], [], [], []
    for c in chosen:
        clip = clips[c]
        last = (len(clip.motion) - 3 - crop) // 3
        k0 = 3 * int(rng.integers(0, max(0, last) + 1))
        s0 = k0 * SAMPLE_RATE // MOTION_FPS            # exact: k0 is a multiple of 3
        a = clip.audio[pad + s0 + step_fn.lo: pad + s0 + step_fn.hi].astype(np.float32) / 32768.0
        if warp > 1.0 and rng.random() < 0.7:
            a = vocal_tract_warp(a, float(np.exp(rng.uniform(-0.5, 1.0) * np.log(warp))))
        gain = 10 ** (rng.uniform(-6, 6) / 20)
        audios.append(torch.from_numpy(a * gain))
        motions.append(torch.from_numpy(clip.motion[k0:k0 + crop]))
        frame_weights.append(torch.from_numpy(clip.weight[k0:k0 + crop]))
        speech.append(torch.from_numpy(clip.speech[k0:k0 + crop]))
        loudness.append(torch.from_numpy(clip.loudness[k0:k0 + crop]))
        starts.append(k0)
    return Batch(torch.stack(audios).to(device), torch.stack(motions).to(device),
                 [clips[c].voice for c in chosen], [clips[c].mel.to(device) for c in chosen],
                 starts, torch.stack(frame_weights).to(device), [clips[c].full for c in chosen],
                 torch.stack(speech).to(device), torch.stack(loudness).to(device))


class Objective:
    """The Learn2Talk losses of one step on vertices of the loss space."""

    def __init__(self, space: MotionSpace, terms: dict[str, LossTerm],
                 syncnet: SyncNet3D | None, device: torch.device,
                 teacher: "LipReadTeacher | None" = None) -> None:
        self.space = space.for_loss().to(device)
        self.terms, self.syncnet, self.teacher = terms, syncnet, teacher
        gap = self.space.gap
        self.lips = torch.as_tensor(self.space.lips, device=device)
        self.upper = torch.as_tensor(gap.upper, device=device)
        self.lower = torch.as_tensor(gap.lower, device=device)

    def parts(self, pred: torch.Tensor, batch: Batch, step: int,
              generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The active terms' unweighted values."""
        v_pred = self.space.vertices(pred, batch.voices)
        with torch.no_grad():
            v_gt = self.space.vertices(batch.target, batch.voices)
        w = batch.weight
        parts = {"rec": reconstruction(v_pred, v_gt, w), "vel": velocity(v_pred, v_gt, w)}
        if self.terms["lips"].scale(step) > 0:
            parts["lips"] = lip_reconstruction(v_pred, v_gt, self.lips, w)
        if self.terms["contact"].scale(step) > 0:
            parts["contact"] = lip_contact(v_pred, v_gt, self.upper, self.lower, weight=w)
        if self.terms["open"].scale(step) > 0 and bool(batch.speech.any()):
            parts["open"] = speech_opening(v_pred, self.upper, self.lower, batch.speech,
                                           OPEN_MM, round(WINDOW_S * MOTION_FPS))
        if self.terms["track"].scale(step) > 0 and bool(batch.speech.any()):
            parts["track"] = loudness_tracking(v_pred, self.upper, self.lower, batch.speech,
                                               batch.loudness, TRACK_R, TRACK_MIN_FRAMES)
        full = [b for b, f in enumerate(batch.full) if f]
        if self.syncnet is not None and self.terms["sync"].scale(step) > 0 and full:
            lips = self.space.lip_displacements(v_pred[full], [batch.voices[b] for b in full])
            parts["sync"] = sync_loss(self.syncnet, [batch.mels[b] for b in full],
                                      [batch.starts[b] for b in full], lips, 16, generator)
        if self.teacher is not None and self.terms["lipread"].scale(step) > 0 and full:
            parts["lipread"] = self.teacher.loss(pred[full], batch.target[full], generator)
        return parts

    def total(self, parts: dict[str, torch.Tensor], step: int) -> torch.Tensor:
        return sum(self.terms[name].scale(step) * value for name, value in parts.items())


def decoder_inputs(step_fn: TeacherForcedStep, batch: Batch, share: float, passes: int,
                   noise: float, generator: torch.Generator) -> torch.Tensor:
    """Previous-frame inputs: a `share` of the frames, and every frame without a target
    (weight 0: its stored rest pose is no truth to feed back), come from the model's own no-grad
    predictions (iterated `passes` times), plus `noise`. Runs the unwrapped module: these
    passes need no gradient, so no DDP bookkeeping or collectives either."""
    target = batch.target
    previous = target
    mask = batch.weight == 0
    if share > 0:
        mask = mask | (torch.rand(target.shape[:2], generator=generator) < share).to(target.device)
    if bool(mask.any()):
        with torch.no_grad():
            for _ in range(passes):
                previous = torch.where(mask[..., None], step_fn(batch.audio, previous), target)
    return previous + noise * torch.randn(previous.shape, generator=generator).to(target.device)


@torch.no_grad()
def validate(model, space: MotionSpace, clips: list[Clip], syncnet: SyncNet3D | None) -> dict:
    """Autoregressive inference on whole clips → LVE, lip max-L2, (closures), (LSE-D/C)."""
    model.eval()
    device = next(model.parameters()).device
    card = Scorecard()
    for clip in clips:
        judge = Judge.for_clip(space, clip, syncnet)
        pred = model.infer(torch.from_numpy(clip.audio)[None].to(device), len(clip.motion))[0]
        card.add(judge.vertices(pred.cpu()), judge.vertices(clip.motion), judge)
    return card.result()


def _seeds(seed: int, rank: int, step: int) -> tuple[np.random.Generator, torch.Generator, int]:
    """Per-rank, per-start random streams: ranks must draw different crops, and a resumed run
    must not replay the crops it has already seen."""
    seq = np.random.SeedSequence([seed, rank, step])
    torch_seed, gen_seed = (int(x) for x in seq.generate_state(2))
    return np.random.default_rng(seq), torch.Generator().manual_seed(gen_seed), torch_seed


def train_regressor(cfg: RegressorTrainConfig) -> dict:
    """Train (or resume) the regressor; checkpoints in cfg.out/model, returns last metrics
    (rank 0's; other ranks return {})."""
    return RegressorTrainer(cfg).run()


def _frozen_syncnet(cfg: RegressorTrainConfig, rig: Any, device: torch.device
                    ) -> tuple[SyncNet3D | None, SyncNet3D | None]:
    """The frozen SyncNet3D on the training device and its CPU copy for validation (or None)."""
    if cfg.syncnet is None:
        if cfg.sync_weight > 0:
            raise UserInputError("--sync-weight > 0 needs --syncnet DIR (train it with "
                                 "`main.py train --what syncnet`)")
        return None, None
    on_cpu, _ = load_syncnet(cfg.syncnet, rig.topology_digest())
    return copy.deepcopy(on_cpu).to(device), on_cpu


def _lipread_teacher(cfg: RegressorTrainConfig, space: MotionSpace, device: torch.device
                     ) -> "LipReadTeacher | None":
    """The lip-reading teacher when --lipread-weight > 0 (rig-parameter models only: it renders
    the prediction through the avatar's rig)."""
    if cfg.lipread_weight <= 0:
        return None
    if space.mode != "params":
        raise UserInputError("--lipread-weight needs a rig-parameter model trained on the "
                             "project's corpus (the teacher renders the avatar's rig), not "
                             "VOCASET vertices")
    from driver.lipreading.teacher import LipReadTeacher
    from splat.assets_paths import DEFAULT_LIPREADER

    return LipReadTeacher(cfg.lipreader or DEFAULT_LIPREADER, space.data.topology_digest(),
                          cfg.lipread_size, cfg.lipread_frames, cfg.lipread_clips, device)


class RegressorTrainer:
    """One regressor run: set up by the constructor (data, model, optimizer, a resumed or
    `--init` state, random streams, EMA, DDP wrapper, clips), then `run()` repeats `step()`,
    validating and saving on rank 0 until the step count or the wall-clock budget is spent."""

    def __init__(self, cfg: RegressorTrainConfig) -> None:
        self.cfg = cfg
        self.rank, self.world = distributed.init()
        self.device = distributed.device_for(cfg.device, self.rank)
        data = cfg.open_data()
        self.space = space = data.space
        self.rig = space.data
        terms = build_terms(cfg.rec_weight, cfg.vel_weight, cfg.sync_weight, cfg.sync_start,
                            cfg.sync_full, cfg.lipread_weight, cfg.lip_weight, cfg.contact_weight,
                            cfg.lipread_start, cfg.lipread_full, cfg.open_weight,
                            cfg.track_weight)
        syncnet, self.val_syncnet = _frozen_syncnet(cfg, self.rig, self.device)
        teacher = _lipread_teacher(cfg, space, self.device)

        torch.manual_seed(cfg.seed)          # the same initial weights on every rank
        self.model = build_model(space, cfg.d_model, cfg.lookahead_ms)
        self.step_fn = TeacherForcedStep(self.model, cfg.crop_frames)
        self.pad = max(-self.step_fn.lo, self.step_fn.hi) + SAMPLE_RATE
        self.opt = make_optimizer(self.model, cfg.lr, space.unit)
        self.state_path = cfg.out / "trainer_state.pt"
        self.steps_done, self.elapsed_before, saved_ema = self._restore()
        self.rng, self.gen, torch_seed = _seeds(cfg.seed, self.rank, self.steps_done)
        torch.manual_seed(torch_seed)        # dropout differs per rank and per resumed start
        self.model.to(self.device)
        self.ema = _averaged(self.model, cfg.ema, saved_ema)
        self.shipped = self.ema.module if self.ema is not None else self.model
        self.runner: nn.Module = self.step_fn
        if self.world > 1:
            self.runner = nn.parallel.DistributedDataParallel(
                self.step_fn,
                device_ids=[self.device.index] if self.device.type == "cuda" else None)

        items = data.items("train", cfg.max_clips)
        self.clips = [TrainClip.of(data.load(item), cfg.crop_frames, self.pad, cfg.pause_weight)
                      for item in tqdm(items, desc="loading clips", unit="clip",
                                       disable=self.rank != 0)]
        self.val_clips = ([data.load(item) for item in data.items("val", cfg.val_clips)]
                          if self.rank == 0 else [])
        self.objective = Objective(space, terms, syncnet, self.device, teacher)
        cfg.out.mkdir(parents=True, exist_ok=True)
        self.history = cfg.out / "history.jsonl"
        described = data.describe(items)
        self.data_info: dict[str, Any] = {
            "source": data.source, "train_utterances": described["utterances"],
            "train_hours": round(described["hours"], 3), "voices": described["voices"],
            "world_size": self.world,
            "recipe": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}}
        self.t0 = time.monotonic()

    def _restore(self) -> tuple[int, float, dict | None]:
        """Load a resumed run (weights, optimizer, average) or `--init` weights into the fresh
        model; the step, clock seconds and saved average to go on from."""
        from driver.checkpoint import load_checkpoint

        cfg, model = self.cfg, self.model
        if cfg.resume:
            if not self.state_path.is_file():
                raise UserInputError(f"nothing to resume in {cfg.out} (no trainer_state.pt)")
            loaded, _ = load_checkpoint(cfg.out / "model", rig=self.rig)
            self.space.check_model(loaded.config, f"checkpoint {cfg.out / 'model'}")
            model.load_state_dict(loaded.state_dict())
            state = load_trainer_state(self.state_path)
            saved_ema = None
            try:
                self.opt.load_state_dict(state["optimizer"])
                if "raw_model" in state:     # the saved model is the average; training goes on raw
                    model.load_state_dict(state["raw_model"])
                    saved_ema = state["ema"]
            except (KeyError, ValueError, RuntimeError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise UserInputError(f"{self.state_path}: does not match the model being "
                                     f"resumed ({first})") from None
            return state["step"], state["elapsed"], saved_ema
        if cfg.init is not None:           # fine-tune: the weights only; optimizer and clock anew
            loaded, _ = load_checkpoint(cfg.init, rig=self.rig)
            self.space.check_model(loaded.config, f"--init checkpoint {cfg.init}")
            try:
                model.load_state_dict(loaded.state_dict())
            except RuntimeError as exc:
                raise UserInputError(f"--init {cfg.init}: its architecture differs from this "
                                     f"run's ({str(exc).splitlines()[0]}); match --d-model"
                                     ) from None
        return 0, 0.0, None

    def elapsed(self) -> float:
        """Training seconds, including those of the runs this one resumes."""
        return self.elapsed_before + time.monotonic() - self.t0

    def step(self, now: float) -> dict[str, torch.Tensor]:
        """One optimisation step at `now` training seconds (rank 0's clock); its loss terms."""
        cfg, step = self.cfg, self.steps_done
        self.model.train()
        if cfg.minutes:   # linear decay to 10 % over the wall-clock budget
            for group in self.opt.param_groups:
                group["lr"] = (cfg.lr * group.get("lr_scale", 1.0)
                               * (1.0 - 0.9 * min(1.0, now / (cfg.minutes * 60))))
        batch = sample_batch(self.clips, self.step_fn, cfg.batch, self.pad, self.rng, self.device,
                             cfg.warp, speech_has_targets=cfg.open_weight > 0 or cfg.track_weight > 0)
        share = cfg.sampling_max * min(1.0, step / max(1, cfg.sampling_ramp))
        previous = decoder_inputs(self.step_fn, batch, share, cfg.sampling_passes,
                                  cfg.input_noise * self.space.unit, self.gen)
        parts = self.objective.parts(self.runner(batch.audio, previous), batch, step, self.gen)
        loss = self.objective.total(parts, step)
        self.opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.steps_done += 1
        return parts

    def validate(self) -> dict:
        """Rank 0: the shipped weights' metrics on the validation clips, appended to
        history.jsonl."""
        metrics = {"step": self.steps_done, "elapsed_min": round(self.elapsed() / 60, 2),
                   **validate(self.shipped, self.space, self.val_clips, self.val_syncnet)}
        with open(self.history, "a") as f:
            f.write(json.dumps(metrics) + "\n")
        return metrics

    def save(self, metrics: dict) -> None:
        """Rank 0: the shipped model (cfg.out/model) and what resuming needs (trainer_state.pt)."""
        from driver.checkpoint import CheckpointInfo, save_checkpoint

        if self.rank != 0:
            return
        info = CheckpointInfo.for_rig(self.rig, training_data=self.data_info,
                                      trained=self.steps_done > 0, metrics=metrics)
        save_checkpoint(self.shipped, info, self.cfg.out / "model")
        if self.cfg.keep_checkpoints:
            save_checkpoint(self.shipped, info,
                            self.cfg.out / "checkpoints" / f"step-{self.steps_done:06d}")
        trainer_state = {"step": self.steps_done, "optimizer": self.opt.state_dict(),
                         "elapsed": self.elapsed()}
        if self.ema is not None:
            trainer_state.update(raw_model=self.model.state_dict(), ema=self.ema.state_dict())
        torch.save(trainer_state, self.state_path)

    def run(self) -> dict:
        """Train to cfg.steps or the budget, validate, save, export; rank 0's last metrics."""
        cfg = self.cfg
        metrics: dict = {}
        bar = tqdm(total=cfg.steps, initial=self.steps_done, desc="regressor", unit="step",
                   disable=self.rank != 0)
        while self.steps_done < cfg.steps:
            now = distributed.from_rank0(self.elapsed(), self.device)
            if cfg.minutes and now > cfg.minutes * 60:
                break
            parts = self.step(now)
            step = self.steps_done
            bar.update(1)
            bar.set_postfix({k: f"{v.item():.3g}" for k, v in parts.items()})
            if self.rank == 0 and step % cfg.val_every == 0 and step < cfg.steps:
                metrics = self.validate()
                bar.write(json.dumps(metrics))
            if step % cfg.save_every == 0:
                self.save(metrics)
        bar.close()
        distributed.check_replicas(self.model, self.device)
        if self.rank == 0:
            metrics = self.validate()
            self.save(metrics)
            if cfg.export is not None:
                export(cfg.out, cfg.export, cfg.syncnet)
        del self.runner                      # release the DDP wrapper before leaving the group
        distributed.finish()
        return metrics


def load_trainer_state(path: Path) -> dict[str, Any]:
    """trainer_state.pt read with torch's weights-only unpickler (tensors and plain containers
    only: a crafted file cannot run code), its step and clock checked."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserInputError(f"{path}: not a trainer state that loads safely "
                             f"(tensors and plain values only): {first}") from None
    if not isinstance(state, dict) or not isinstance(state.get("optimizer"), dict):
        raise UserInputError(f"{path}: not a trainer state (no optimizer state)")
    step, elapsed = state.get("step"), state.get("elapsed")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise UserInputError(f"{path}: step must be a whole number >= 0, got {step!r}")
    if not isinstance(elapsed, (int, float)) or not math.isfinite(elapsed) or elapsed < 0:
        raise UserInputError(f"{path}: elapsed must be a finite number of seconds >= 0, "
                             f"got {elapsed!r}")
    return state


def _averaged(model: nn.Module, decay: float,
              saved: dict | None) -> AveragedModel | None:
    """The exponential moving average of the weights that gets saved and validated, or None.

    Late in training the lip-closure and error metrics swing by several points between
    checkpoints 250 steps apart (SGD noise at the end of the schedule); the average over the
    last ~1/(1-decay) steps sits near the centre of that swing instead of at a random point of
    it. A run resumed without a saved average starts it from the current weights; one resumed
    with a saved average but without --ema ships the raw weights from then on.
    """
    if not decay:
        return None
    if not 0.0 < decay < 1.0:
        raise UserInputError(f"--ema must be in (0, 1), got {decay}")
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))
    if saved is not None:
        ema.load_state_dict(saved)
    return ema


def export(run: Path, folder: Path, syncnet: Path | None) -> None:
    """Copy the run's model (and the SyncNet3D that trained/judges it) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("model.safetensors", "config.json"):
        shutil.copy2(run / "model" / name, folder / name)
    if syncnet is not None:
        for name in ("syncnet3d.safetensors", "syncnet3d.json"):
            shutil.copy2(Path(syncnet) / name, folder / name)
