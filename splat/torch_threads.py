"""How many torch intra-op threads CPU work runs on: the one owner of the choice and the switch.

torch's default is one thread per core. On small machines that is the slow choice for this
project's work: its tensors are small, and OpenMP threads spinning on cores that the renderer's,
the driver's (and other programs') threads also want cost far more than they save.
- Rig + binding of one frame (~100k-element ops): 6 ms on one thread vs 22-185 ms on two, for
  40k Gaussians on a 2-core machine.
- Offline inference of the default model over a 28 s clip (`render`): 1.0-1.3 s on one thread vs
  5-13 s on two, on a 2-core machine under load (2026-12-02; the issue measured 0.4-0.7 s vs
  2.7-13 s for a shorter clip).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

RIG_BIND_THREADS = 1            # AvatarPipeline's per-frame rig + binding on the CPU
OFFLINE_INFERENCE_THREADS = 1   # whole-clip regressor inference on the CPU (render, file mode)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with `n` torch intra-op threads (None: leave as is), restoring afterwards."""
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
