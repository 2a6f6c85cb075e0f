"""The lip-contact term: zero when closures are met, pulls open lips shut where the truth closes."""
from __future__ import annotations

import torch

from driver.losses import lip_contact


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
