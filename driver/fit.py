"""Least-squares fit of vertex motion into rig parameters (expression + jaw pose).

A FaceFormer-style vertex checkpoint predicts per-vertex offsets from the neutral mesh; an avatar
is driven by rig parameters. The map from (expr, jaw_pose) to vertices is linear in expr and
nearly linear in jaw_pose for speech-sized angles, so the fit is:
1. one regularised linear solve with the rig's Jacobian at the neutral pose (precomputed, so a
   frame costs one small matrix product - cheap enough per streaming frame), then
2. `refine_steps` chord-Newton steps: evaluate the true rig at the current estimate and correct
   by the same fixed Jacobian, which removes most of the jaw-rotation linearisation error.
"""
from __future__ import annotations

from typing import Any

import torch

from splat.rig import Rig, RigData


class RigFitter:
    """Vertex offsets (T, V, 3) from the neutral mesh -> {"expr": (T,E), "jaw_pose": (T,3)}."""

    def __init__(self, rig: Rig | RigData, ridge: float = 1e-6, refine_steps: int = 2) -> None:
        self.rig = rig if isinstance(rig, Rig) else Rig(rig)
        self.refine_steps = refine_steps
        E = self.rig.n_expr
        dev = self.rig.v_template.device
        with torch.no_grad():
            self.neutral = self.rig({})[0]                                   # (V,3)

        # Expression enters linearly at the neutral pose (unit steps are exact); jaw columns
        # by central differences. One batched rig call of E+6 frames, no autograd needed.
        h = 1e-3
        expr = torch.zeros(E + 6, E, device=dev)
        expr[:E] = torch.eye(E, device=dev)
        jaw = torch.zeros(E + 6, 3, device=dev)
        jaw[E:E + 3] = h * torch.eye(3, device=dev)
        jaw[E + 3:] = -h * torch.eye(3, device=dev)
        with torch.no_grad():
            v = self.rig({"expr": expr, "jaw_pose": jaw}).reshape(E + 6, -1)
        J = torch.cat([v[:E] - self.neutral.reshape(1, -1),
                       (v[E:E + 3] - v[E + 3:]) / (2 * h)]).T               # (V*3, E+3)
        JtJ = J.T @ J
        # Ridge relative to the Jacobian's scale keeps unobservable components at zero.
        reg = ridge * JtJ.diagonal().mean() * torch.eye(E + 3, device=dev)
        self.solve = torch.linalg.solve(JtJ + reg, J.T).contiguous()        # (E+3, V*3)
        self.n_expr = E

    @torch.no_grad()
    def fit(self, offsets: Any) -> dict[str, torch.Tensor]:
        """Fit each frame's offsets; accepts (T,V,3) or (V,3) tensors/arrays."""
        d = torch.as_tensor(offsets, dtype=torch.float32, device=self.solve.device)
        if d.ndim == 2:
            d = d[None]
        target = d.reshape(d.shape[0], -1)
        x = target @ self.solve.T
        for _ in range(self.refine_steps):
            p = self.split(x)
            residual = target - (self.rig(p) - self.neutral).reshape(d.shape[0], -1)
            x = x + residual @ self.solve.T
        return self.split(x)

    def split(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"expr": x[:, :self.n_expr], "jaw_pose": x[:, self.n_expr:]}
