"""Vertex motion -> rig parameters: the least-squares fit recovers what the rig produced."""
import torch

from driver.fit import RigFitter
from splat.rig import Rig
from tests.test_model import make_tiny_rig


def test_fit_recovers_expression_and_jaw():
    rig = Rig(make_tiny_rig())
    g = torch.Generator().manual_seed(1)
    expr = torch.rand(5, 4, generator=g)
    jaw = torch.zeros(5, 3)
    jaw[:, 0] = torch.linspace(0.0, 0.3, 5)
    with torch.no_grad():
        offsets = rig({"expr": expr, "jaw_pose": jaw}) - rig({})
    linear = RigFitter(rig, refine_steps=0).fit(offsets)
    refined = RigFitter(rig, refine_steps=3).fit(offsets)
    err_lin = (refined["jaw_pose"] - jaw).abs().max()
    assert (refined["jaw_pose"][:, 0] - jaw[:, 0]).abs().max() < 2e-3
    assert (refined["expr"] - expr).abs().max() < 2e-2
    assert err_lin <= (linear["jaw_pose"] - jaw).abs().max()
    # A single unbatched frame works too.
    one = RigFitter(rig).fit(offsets[2].numpy())
    assert one["expr"].shape == (1, 4)
