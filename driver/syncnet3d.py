"""SyncNet3D: a lip-sync expert between a 0.2 s audio window and 5 frames of 3D lip motion.

Wav2Lip's expert ported to meshes (REFERENCE.md §4): an audio encoder over an 80-bin log-mel
window of 16 steps (12.5 ms hop = 0.2 s) and a motion encoder over 5 frames (0.2 s at 30 fps)
of lip-vertex displacements from the template; both end in ReLU + L2 normalisation, so their
cosine lies in [0, 1] and is read as the probability that the two are in sync (BCE against
1 for aligned windows, 0 for windows shifted within the same clip). Trained on ground-truth
motion, then frozen: used as the training sync loss and for LSE-D / LSE-C / AV offset.
The audio features are its own fixed log-mel (not the regressor's), so it judges every model
the same way.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from driver.audio import MOTION_FPS, SAMPLE_RATE
from splat.errors import UserInputError

MEL_HOP = 200                 # 12.5 ms → 80 mel frames per second
MEL_WIN = 400
N_MELS = 80
MEL_STEPS = 16                # 0.2 s audio window
MOTION_FRAMES = 5             # 0.2 s at 30 fps
LIP_SCALE = 100.0
SILENCE_LEVEL = -1.0          # log_mel of digital silence: (log10(1e-8) + 4) / 4             # metres → centimetres: displacements of order 1 for the encoder

_MEL_FB: torch.Tensor | None = None


def _mel_filters() -> torch.Tensor:
    global _MEL_FB
    if _MEL_FB is None:
        from transformers.audio_utils import mel_filter_bank

        fb = mel_filter_bank(num_frequency_bins=MEL_WIN // 2 + 1, num_mel_filters=N_MELS,
                             min_frequency=20.0, max_frequency=SAMPLE_RATE / 2,
                             sampling_rate=SAMPLE_RATE, norm="slaney", mel_scale="slaney")
        _MEL_FB = torch.as_tensor(fb, dtype=torch.float32)
    return _MEL_FB


def log_mel(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N_MELS, M) log-mel at 80 Hz; mel frame m is centred on sample m * MEL_HOP.

    A fixed log offset (no per-clip normalisation) so silence looks like silence at any gain.
    """
    x = torch.as_tensor(np.asarray(audio, np.float32))
    x = torch.nn.functional.pad(x, (MEL_WIN // 2, MEL_WIN // 2))
    frames = x.unfold(0, MEL_WIN, MEL_HOP)
    spec = torch.fft.rfft(frames * torch.hann_window(MEL_WIN), n=MEL_WIN).abs().pow(2)
    mel = spec @ _mel_filters()
    return ((torch.log10(mel.clamp_min(1e-8)) + 4.0) / 4.0).T.contiguous()


def audio_windows(mel: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """(N, N_MELS, MEL_STEPS) windows centred on motion frames `frames` (silence beyond ends)."""
    centre = torch.round(frames.double() * (SAMPLE_RATE / MOTION_FPS) / MEL_HOP).long()
    idx = centre[:, None] - MEL_STEPS // 2 + torch.arange(MEL_STEPS)
    valid = (idx >= 0) & (idx < mel.shape[1])
    out = mel[:, idx.clamp(0, mel.shape[1] - 1)].permute(1, 0, 2)
    return out.masked_fill(~valid[:, None, :], SILENCE_LEVEL)


def motion_windows(lips: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """(N, MOTION_FRAMES, L, 3) windows of lip displacements (T, L, 3) centred on `frames`;
    frames beyond the ends repeat the edge frame."""
    offsets = torch.arange(MOTION_FRAMES) - MOTION_FRAMES // 2
    idx = (frames[:, None] + offsets).clamp(0, lips.shape[0] - 1)
    return lips[idx]


class SyncNet3D(nn.Module):
    """Two encoders → L2-normalised, non-negative embeddings; forward gives their cosine."""

    def __init__(self, n_lip_verts: int, dim: int = 128) -> None:
        super().__init__()
        self.n_lip_verts, self.dim = n_lip_verts, dim

        def block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            return [nn.Conv1d(c_in, c_out, 3, stride, 1), nn.BatchNorm1d(c_out), nn.ReLU()]

        # 1-D convolutions over time with the mel bins as channels: cheap on a CPU.
        self.audio = nn.Sequential(
            *block(N_MELS, 128, 1), *block(128, 128, 2), *block(128, 128, 2), nn.Flatten(),
            nn.Linear(128 * MEL_STEPS // 4, 256), nn.ReLU(), nn.Linear(256, dim), nn.ReLU())
        self.motion_frame = nn.Sequential(nn.Linear(n_lip_verts * 3, 256), nn.ReLU())
        self.motion = nn.Sequential(
            nn.Conv1d(256, 256, 3, padding=1), nn.BatchNorm1d(256), nn.ReLU(),
            nn.Flatten(), nn.Linear(256 * MOTION_FRAMES, 256), nn.ReLU(),
            nn.Linear(256, dim), nn.ReLU())

    def embed_audio(self, mel_windows: torch.Tensor) -> torch.Tensor:
        """(N, N_MELS, MEL_STEPS) → (N, dim) unit vectors."""
        return nn.functional.normalize(self.audio(mel_windows), dim=-1, eps=1e-6)

    def embed_motion(self, lip_windows: torch.Tensor) -> torch.Tensor:
        """(N, MOTION_FRAMES, L, 3) lip displacements (metres) → (N, dim) unit vectors."""
        n = lip_windows.shape[0]
        per_frame = self.motion_frame(lip_windows.reshape(n, MOTION_FRAMES, -1) * LIP_SCALE)
        return nn.functional.normalize(self.motion(per_frame.transpose(1, 2)), dim=-1, eps=1e-6)

    def forward(self, mel_windows: torch.Tensor, lip_windows: torch.Tensor) -> torch.Tensor:
        """Cosine similarity in [0, 1] of each audio/motion window pair."""
        return (self.embed_audio(mel_windows) * self.embed_motion(lip_windows)).sum(-1)


def sync_bce(cosine: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """BCE on the cosine read as a probability (Wav2Lip's expert loss)."""
    return nn.functional.binary_cross_entropy(cosine.clamp(1e-6, 1 - 1e-6), label)


def save_syncnet(model: SyncNet3D, folder: Path, info: dict) -> None:
    """Weights (safetensors) + config.json with the lip vertex count and the rig it saw."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
              str(folder / "syncnet3d.safetensors"))
    (folder / "syncnet3d.json").write_text(json.dumps(
        {"n_lip_verts": model.n_lip_verts, "dim": model.dim, **info}, indent=2))


def load_syncnet(folder: Path, rig_topology: str | None = None) -> tuple[SyncNet3D, dict]:
    """A frozen SyncNet3D (eval mode, no grads); refuses one trained on another rig topology."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from driver.checkpoint import check_numbers

    folder = Path(folder)
    config_path = folder / "syncnet3d.json"
    if not config_path.is_file():
        raise UserInputError(f"{folder}: no syncnet3d.json (train one with "
                             "`main.py train --what syncnet`)")
    try:   # a user's folder: the config's schema, then weights that match it
        config = json.loads(config_path.read_text())
        if not isinstance(config, dict) or not {"n_lip_verts", "dim"} <= set(config):
            raise ValueError("expected an object with n_lip_verts and dim")
        check_numbers(config, {"n_lip_verts": (1, 1_000_000), "dim": (1, 8192)}, int, "config")
    except ValueError as exc:
        raise UserInputError(f"{config_path}: corrupt SyncNet3D config ({exc})") from None
    if rig_topology is not None and config.get("rig_topology") not in (None, rig_topology):
        raise UserInputError(f"SyncNet3D in {folder} was trained on rig {config['rig_topology']}, "
                             f"not {rig_topology}")
    model = SyncNet3D(config["n_lip_verts"], config["dim"])
    weights = folder / "syncnet3d.safetensors"
    try:
        model.load_state_dict(load_file(str(weights)))
    except (OSError, RuntimeError, SafetensorError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserInputError(f"{weights}: unusable SyncNet3D weights ({first})") from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, config
