"""The lip-contact term: zero when closures are met, pulls open lips shut where the truth closes.
The speech-opening hinge: only a window of speech that stays shut is pushed, at its widest frame.
The loudness-tracking hinge: silent once the gap follows the envelope, pushes towards it below."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from driver.losses import lip_contact, loudness_tracking, speech_opening


def _mouth(gap_m: torch.Tensor) -> torch.Tensor:
    """(1, T, 4, 3): two upper-lip vertices at y=gap, two lower-lip vertices at y=0."""
    T = gap_m.shape[0]
    v = torch.zeros(1, T, 4, 3)
    v[0, :, 0, 0], v[0, :, 1, 0] = -0.01, 0.01
    v[0, :, 2, 0], v[0, :, 3, 0] = -0.01, 0.01
    v[0, :, :2, 1] = gap_m[:, None]
    return v


UPPER, LOWER = torch.tensor([0, 1]), torch.tensor([2, 3])


def test_contact_is_zero_when_predicted_closures_match() -> None:
    gt = _mouth(torch.tensor([0.0, 0.0, 0.008, 0.008]))
    assert lip_contact(gt.clone(), gt, UPPER, LOWER).item() == 0.0


def test_contact_penalises_open_lips_only_where_the_truth_is_closed() -> None:
    gt = _mouth(torch.tensor([0.0, 0.0, 0.008, 0.008]))
    open_everywhere = _mouth(torch.tensor([0.003, 0.003, 0.020, 0.0]))
    gap = open_everywhere.clone().requires_grad_(True)
    loss = lip_contact(gap, gt, UPPER, LOWER)
    assert abs(loss.item() - (3.0 - 0.3) ** 2) < 1e-3         # mm², frames 0-1 only
    loss.backward()
    grad_y = gap.grad[0, :, :, 1]
    assert torch.all(grad_y[2:] == 0)                          # open in truth: no pull
    assert grad_y[0, :2].sum() > 0 and grad_y[0, 2:].sum() < 0  # descent closes the gap


def test_contact_without_closed_frames_is_zero_but_differentiable() -> None:
    gt = _mouth(torch.full((3,), 0.01))
    pred = _mouth(torch.full((3,), 0.02)).requires_grad_(True)
    loss = lip_contact(pred, gt, UPPER, LOWER)
    loss.backward()
    assert loss.item() == 0.0 and pred.grad is not None


def test_speech_opening_pushes_only_windows_of_speech_that_stay_shut() -> None:
    # frames 0-5 open once (5 mm at frame 2), 6-11 shut (1 mm, widest 1.5 at frame 8), 12-17 a pause
    gap_mm = torch.tensor([1, 1, 5, 1, 1, 1, 1, 1, 1.5, 1, 1, 1, 0, 0, 0, 0, 0, 0.0])
    speech = torch.zeros(1, 18)
    speech[0, :12] = 1.0
    pred = _mouth(gap_mm / 1000.0).requires_grad_(True)
    loss = speech_opening(pred, UPPER, LOWER, speech, open_mm=3.0, window=6)
    # windows wholly in speech start at 0..6; those holding frame 2 (starts 0-2) are open enough,
    # starts 3..6 see at most 1.5 mm: 4 of 7 windows short by 1.5 mm
    assert loss.item() == pytest.approx(4 / 7 * 1.5 ** 2, rel=1e-4)
    loss.backward()
    grad_y = pred.grad[0, :, :2, 1].sum(-1)
    assert grad_y[8] < 0                              # descent opens the widest shut frame
    assert torch.count_nonzero(grad_y) == 1           # and nothing else: no shape is imposed
    silent = speech_opening(pred, UPPER, LOWER, torch.zeros(1, 18), open_mm=3.0, window=6)
    assert silent.item() == 0.0


def test_loudness_tracking_is_silent_once_the_gap_follows_the_envelope() -> None:
    loud = torch.tensor([[0.1, 0.9, 0.2, 1.0, 0.3, 0.8, 0.1, 0.1, 0.0, 0.0]])
    speech = torch.zeros(1, 10)
    speech[0, :7] = 1.0
    # frames 7-9 are a pause whose shut lips would inflate r if they counted
    following = _mouth(torch.cat([loud[0, :7] * 0.01, torch.zeros(3)]))
    assert loudness_tracking(following, UPPER, LOWER, speech, loud, 0.6, 5).item() == 0.0


def test_loudness_tracking_pushes_a_gap_against_the_envelope_towards_it() -> None:
    loud = torch.tensor([[0.1, 0.9, 0.2, 1.0, 0.3, 0.8, 0.1, 0.1]])
    speech = torch.ones(1, 8)
    gap_mm = torch.tensor([2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 5.0])   # opens on a quiet frame
    r = float(np.corrcoef(gap_mm.numpy(), loud[0].numpy())[0, 1])
    against = _mouth(gap_mm / 1000.0).requires_grad_(True)
    loss = loudness_tracking(against, UPPER, LOWER, speech, loud, 0.6, 5)
    assert r < 0 and loss.item() == pytest.approx((0.6 - r) ** 2, rel=1e-4)
    loss.backward()
    grad_y = against.grad[0, :, :2, 1].sum(-1)
    assert grad_y[3] < 0 < grad_y[0]          # descent opens the loudest frame, shuts the quietest
    too_short = loudness_tracking(against, UPPER, LOWER, speech, loud, 0.6, 9)
    assert too_short.item() == 0.0            # fewer speech frames than judged on: no say
