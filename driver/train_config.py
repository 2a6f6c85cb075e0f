"""The options of a training run: where its clips come from (`DataConfig`) and each trainer's
settings. A field made with `option(default, help)` is also a command-line flag, so every option
is declared once, here; this module imports no torch, so `main.py train --help` stays quick."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driver.training_data import TrainingData


def option(default: Any, help: str) -> Any:
    """A config field that is also a command-line flag (`--field-name`): its default, type and
    help line are declared here once, and `avatar_app.config_flags` derives the argument."""
    return field(default=default, metadata={"help": help})


@dataclass
class DataConfig:
    """Where a run's clips come from; the base of the syncnet and regressor configs."""

    out: Path = field(metadata={"help": "run folder: everything the run writes"})
    corpus: Path | None = option(None, "the project's corpus folder (default: data/corpus)")
    rig: Path | None = option(None, "rig .npz/.pkl decoding the corpus (default: "
                                    "assets/default_avatar/rig.npz)")
    vocaset: Path | None = option(None, "VOCASET in FaceFormer's layout (vertices_npy/, wav/, "
                                        "templates.pkl): trains a vertex-output model for FLAME")
    flame: Path | None = option(None, "with --vocaset: the FLAME model (generic_model.pkl) it "
                                      "is registered to")
    flame_masks: Path | None = option(None, "with --vocaset: FLAME_masks.pkl (default: the one "
                                            "beside --flame)")

    def open_data(self) -> TrainingData:
        from driver.training_data import open_data

        return open_data(self.corpus, self.rig, self.vocaset, self.flame, self.flame_masks)


@dataclass
class SyncNetConfig(DataConfig):
    """`train_syncnet`'s settings."""

    steps: int = option(3000, "training steps")
    batch: int = option(128, "audio/lip pairs per step (half aligned, half shifted)")
    lr: float = option(5e-4, "Adam learning rate")
    seed: int = option(0, "seed of the initial weights and of the sampled batches")
    min_shift: int = 3            # off-sync pairs shift the audio min..max frames
    max_shift: int = 15
    val_every: int = option(500, "validate every this many steps")
    max_clips: int = option(0, "use only this many training clips (0 = all)")


@dataclass
class RegressorTrainConfig(DataConfig):
    """`train_regressor`'s settings (`recipe` in the checkpoint records them all)."""

    syncnet: Path | None = option(None, "frozen SyncNet3D folder")
    steps: int = option(100000, "training steps")
    minutes: float = option(0.0, "wall-clock budget: training stops and saves, and the learning "
                                 "rate decays linearly to 10 % over it (0 = none)")
    batch: int = option(6, "crops per step and process")
    crop_frames: int = option(90, "frames per training crop (30 fps)")
    lr: float = option(1e-3, "Adam learning rate")
    seed: int = option(0, "seed of the initial weights and of the sampled batches")
    d_model: int = option(128, "width of the regressor's transformer")
    lookahead_ms: float = option(82.5, "audio the front end hears after each frame: the "
                                       "model's share of the live latency (2.5 ms = causal)")
    rec_weight: float = 1.0
    lip_weight: float = option(3.0, "extra reconstruction weight on the lip vertices")
    contact_weight: float = option(1.0, "weight of the lip-contact term (closures where the "
                                        "truth has them)")
    open_weight: float = option(0.0, "weight of the speech-opening hinge on real speech "
                                     "without phones: the lips part at least once every "
                                     "200 ms of VAD speech")
    track_weight: float = option(0.0, "weight of the loudness-tracking hinge on real speech "
                                      "without phones: within VAD speech the lip gap must "
                                      "correlate with the loudness envelope (r >= 0.6)")
    pause_weight: float = option(1.0, "loss weight of a rest target in a real-speech pause "
                                      "(pause-only clips) against a fully supervised frame's 1; "
                                      "also how much more often those clips are drawn")
    vel_weight: float = option(5.0, "weight of the velocity term")
    sync_weight: float = option(0.03, "weight of the frozen SyncNet3D's sync loss (needs "
                                      "--syncnet)")
    sync_start: int = option(1000, "step the sync loss starts")
    sync_full: int = option(2000, "step it reaches its weight")
    lipread_weight: float = option(0.0, "weight of the lip-reading teacher: a frozen lip "
                                        "reader's features of differentiable mouth renders of "
                                        "the prediction against the truth's (corpus rig only; "
                                        "costly on a CPU)")
    lipreader: Path | None = option(None, "frozen lip reader for --lipread-weight (default: "
                                          "assets/lipreader)")
    lipread_start: int = option(2000, "step the lip-reading term starts")
    lipread_full: int = option(3000, "step it reaches its weight")
    lipread_size: int = 24        # the teacher's render side (upsampled to the reader's input)
    lipread_frames: int = 8       # frames per rendered window
    lipread_clips: int = 2        # clips of the batch rendered per step
    sampling_max: float = option(0.5, "final share of decoder inputs taken from its own "
                                      "predictions")
    sampling_ramp: int = option(3000, "steps over which that share rises from 0")
    sampling_passes: int = option(2, "no-grad passes feeding the decoder its own predictions")
    warp: float = option(1.0, "max vocal-tract-length warp of training audio (1 = off; 1.25 "
                              "raises formants up to 25 % to imitate unseen, e.g. female, voices)")
    input_noise: float = 0.02     # std of noise on previous-frame inputs (motion units)
    ema: float = option(0.999, "decay of the exponential moving average of the weights that is "
                               "saved, validated and exported (0 = the raw weights)")
    val_every: int = option(250, "validate every this many steps")
    val_clips: int = option(12, "validation clips")
    save_every: int = 250
    keep_checkpoints: bool = option(False, "also keep every saved model as OUT/checkpoints/"
                                           "step-N, to choose one on validation afterwards")
    max_clips: int = option(0, "use only this many training clips (0 = all)")
    device: str = option("auto", "auto, cpu, cuda, cuda:1 ...")
    resume: bool = option(False, "continue the run in --out")
    init: Path | None = option(None, "fine-tune: start from this exported checkpoint's weights "
                                     "(fresh optimizer and clock), e.g. assets/default_model")
    export: Path | None = option(None, "copy the final model (+ the SyncNet3D) here, e.g. "
                                       "assets/default_model")
    command: str = field(default_factory=lambda: " ".join(sys.argv))

    def __post_init__(self) -> None:
        """A negative (or NaN) term weight would train the model away from its targets without
        a word; refuse it at the flag."""
        from splat.errors import UserInputError

        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name.endswith("_weight") and not (isinstance(value, (int, float)) and value >= 0
                                                 and math.isfinite(value)):
                raise UserInputError(f"--{name.replace('_', '-')} must be a finite number >= 0, "
                                     f"got {value}")
        if not self.pause_weight > 0:
            raise UserInputError(f"--pause-weight must be > 0, got {self.pause_weight}")
