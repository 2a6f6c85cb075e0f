"""SyncNet3D learns to tell aligned audio/lip windows from shifted ones."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from driver.syncnet3d import (SyncNet3D, audio_windows, load_syncnet, log_mel, motion_windows,
                              sync_bce)
from driver.train import _sync_batch
from splat.errors import UserInputError


def _synthetic_clip(rng: np.random.Generator, seconds: float = 4.0):
    """Noise bursts (syllables) and lips that open exactly while a burst sounds."""
    T = int(seconds * 30)
    on = np.zeros(T, bool)
    t = 3
    while t < T - 3:
        length = int(rng.integers(2, 7))
        on[t:t + length] = True
        t += length + int(rng.integers(2, 7))
    samples = np.repeat(on, 16000 // 30 + 1)[: int(seconds * 16000)]
    audio = (rng.standard_normal(len(samples)) * 0.3 * samples).astype(np.float32)
    lips = torch.zeros(T, 2, 3)
    lips[:, 1, 1] = -0.008 * torch.from_numpy(on.astype(np.float32))
    return log_mel(audio), lips


def test_windows_are_centred_and_padded_with_silence() -> None:
    mel = torch.zeros(80, 40)
    mel[:, 20] = 5.0
    w = audio_windows(mel, torch.tensor([0, 7]))           # frame 7 ≈ mel frame 18.7 → 19
    assert w.shape == (2, 80, 16) and torch.all(w[0, :, :8] == -1.0)
    assert w[1, 0].argmax() == 9                            # mel frame 20 sits at index 9
    lips = torch.arange(6.0)[:, None, None].expand(6, 1, 3)
    assert motion_windows(lips, torch.tensor([0]))[0, :, 0, 0].tolist() == [0, 0, 0, 1, 2]


def test_syncnet_separates_aligned_from_shifted_windows() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    clips = [_synthetic_clip(rng, 3.0) for _ in range(4)]
    mels, lips = [c[0] for c in clips], [c[1] for c in clips]
    model = SyncNet3D(n_lip_verts=2, dim=32)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(80):
        audio, motion, labels = _sync_batch(mels, lips, 48, 3, 15, rng)
        loss = sync_bce(model(audio, motion), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    test_rng = np.random.default_rng(99)
    test = [_synthetic_clip(test_rng, 3.0) for _ in range(3)]
    audio, motion, labels = _sync_batch([c[0] for c in test], [c[1] for c in test], 200, 3, 15,
                                        test_rng)
    with torch.no_grad():
        cos = model(audio, motion)
    accuracy = float(((cos > 0.5).float() == labels).float().mean())
    assert accuracy > 0.75
    assert float(cos[labels == 1].mean()) > float(cos[labels == 0].mean()) + 0.2


def test_a_bad_syncnet_folder_is_one_clear_error(tmp_path) -> None:
    config = tmp_path / "syncnet3d.json"
    for text, fragment in [("[1]", "expected an object"), ('{"n_lip_verts": 0, "dim": 8}',
                           "config.n_lip_verts must be a whole number"),
                           ('{"n_lip_verts": 4, "dim": -1}', "config.dim must be"),
                           ("{oops", "corrupt SyncNet3D config")]:
        config.write_text(text)
        with pytest.raises(UserInputError, match=fragment):
            load_syncnet(tmp_path)
    config.write_text(json.dumps({"n_lip_verts": 4, "dim": 8}))
    (tmp_path / "syncnet3d.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(UserInputError, match="unusable SyncNet3D weights"):
        load_syncnet(tmp_path)
