"""Metrics on hand-made cases: the definitions of REFERENCE.md §5, lip gap and closure rates."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from driver.corpus.phones import PhoneSegment
from driver.metrics import (LipGap, bilabial_closures, fdd, lip_max_sq_error, lve, max_l2_mm,
                            silence_closures, sync_distances, sync_scores,
                            upper_face_dynamics)


def test_lve_is_mean_over_frames_of_squared_max_lip_error() -> None:
    gt = np.zeros((2, 4, 3))
    pred = gt.copy()
    pred[0, 0] = [0.003, 0.0, 0.0]      # frame 0: lip errors 3 mm and 4 mm → max² = 16e-6
    pred[0, 1] = [0.0, 0.004, 0.0]
    pred[1, 2] = [0.001, 0.0, 0.0]      # frame 1: 1 mm → 1e-6
    pred[:, 3] = [0.5, 0.5, 0.5]        # not a lip vertex: ignored
    per_frame = lip_max_sq_error(pred, gt, np.array([0, 1, 2]))
    assert per_frame == pytest.approx([16e-6, 1e-6])
    assert lve([per_frame]) == pytest.approx(8.5e-6)           # squared, no square root
    assert max_l2_mm([per_frame]) == pytest.approx(2.5)        # (4 mm + 1 mm) / 2


def test_fdd_is_gt_minus_prediction_of_upper_face_dynamics() -> None:
    template = np.zeros((2, 3))
    gt = np.zeros((4, 2, 3))
    gt[:, 0, 1] = [0.0, 0.01, 0.0, 0.01]   # squared displacement 0, 1e-4, 0, 1e-4 → std 5e-5
    static = np.zeros_like(gt)
    dyn_gt = upper_face_dynamics(gt, template, np.array([0, 1]))
    assert dyn_gt == pytest.approx(2.5e-5)                     # mean over the two vertices
    assert fdd([dyn_gt], [upper_face_dynamics(static, template, np.array([0, 1]))]) == \
        pytest.approx(2.5e-5)


class _IndexSyncNet:
    """A fake expert whose motion embedding encodes the frame index held in the lips."""

    dim = 64

    def embed_motion(self, windows: torch.Tensor) -> torch.Tensor:
        index = windows[:, 2, 0, 0].round().long()             # centre frame of the window
        return torch.nn.functional.one_hot(index % self.dim, self.dim).float()


def test_lse_and_offset_from_a_fake_embedding() -> None:
    T, lag = 40, 3
    lips = torch.zeros(T, 1, 3)
    lips[:, 0, 0] = torch.arange(T).float()
    offsets = np.arange(-15, 16)
    # audio embedding of frame f equals the motion embedding of frame f - lag: the audio is
    # `lag` frames late relative to the motion, so the best offset is +lag.
    frames = torch.arange(int(offsets[0]), T + int(offsets[-1]))
    audio_emb = torch.nn.functional.one_hot((frames - lag) % 64, 64).float()
    curve = sync_distances(_IndexSyncNet(), audio_emb, lips.numpy(), offsets)
    scores = sync_scores([curve], offsets)
    assert scores.offset == lag
    assert scores.lse_d == pytest.approx(0.0)
    assert scores.lse_c == pytest.approx(np.sqrt(2.0))


def test_lip_gap_and_closure_rates_on_the_tiny_rig() -> None:
    from splat.default_rig_spec import EXPRESSION_NAMES
    from splat.rig import Rig
    from tests.test_train_fixtures import tiny_rig_data

    rig = Rig(tiny_rig_data())
    gap = LipGap.from_rig_data(rig.data)
    expr = torch.zeros(4, len(EXPRESSION_NAMES))
    expr[2, EXPRESSION_NAMES.index("lips_close")] = 1.0
    jaw = torch.tensor([[0.0, 0, 0], [0.15, 0, 0], [0.05, 0, 0], [0.15, 0, 0]])
    gaps = gap.gaps(rig({"expr": expr, "jaw_pose": jaw}).detach())
    assert gaps[0] * 1000 < 1.5 and gaps[2] * 1000 < 1.5 and gaps[1] * 1000 > 5
    phones = [PhoneSegment(0.0, 1 / 30, "b"), PhoneSegment(1 / 30, 2 / 30, "aa"),
              PhoneSegment(2 / 30, 2.5 / 30, "m"), PhoneSegment(2.5 / 30, 4 / 30, "p")]
    assert bilabial_closures(gaps, phones, 30.0) == (2, 3)      # b and m close, p does not
    quiet = [PhoneSegment(0.0, 4 / 30, "pau")]
    assert silence_closures(gaps, quiet, 30.0, margin=0.0) == (2, 4)
