"""World-space Gaussians: the hand-off between binding and every renderer backend."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class WorldGaussians:
    """Activated, world-space Gaussian attributes (gsplat conventions).

    means (N,3); quats (N,4) w,x,y,z unit; scales (N,3) activated (exp applied);
    opacities (N,) activated (sigmoid applied); sh (N,K,3) with K = (degree+1)^2, sh[:,0] the DC term.
    Colour = max(SH(dir) + 0.5, 0) like gsplat, clamped to [0,1] for display.
    """

    means: torch.Tensor
    quats: torch.Tensor
    scales: torch.Tensor
    opacities: torch.Tensor
    sh: torch.Tensor

    @property
    def sh_degree(self) -> int:
        return int(round(self.sh.shape[1] ** 0.5)) - 1

    def __len__(self) -> int:
        return int(self.means.shape[0])
