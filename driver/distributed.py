"""The few collectives multi-process training needs (torchrun + DistributedDataParallel).

Every rank runs the same loop on its own crops; DDP averages gradients in `backward`. What DDP
does not keep equal by itself is kept equal here: decisions taken from the wall clock (stop
at the time budget, the learning-rate decay) come from rank 0's clock, and at the end the ranks
check that their weights are still one model. A single process (no WORLD_SIZE) makes all of
these no-ops.
"""
from __future__ import annotations

import gc
import os

import torch
import torch.distributed as dist
from torch import nn


def init() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world


def device_for(name: str, rank: int) -> torch.device:
    """`--device` resolved; "auto" is this rank's GPU (LOCAL_RANK) when CUDA is visible."""
    from driver.devices import resolve_device

    return resolve_device(name, default_index=int(os.environ.get("LOCAL_RANK", rank)))


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def from_rank0(value: float, device: torch.device) -> float:
    """Rank 0's `value` on every rank (ranks whose clocks differ must still agree)."""
    if not _active():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(t, 0)
    return float(t.item())


def check_replicas(model: nn.Module, device: torch.device) -> None:
    """Raise if the ranks' weights differ: DDP keeps them equal only if every rank applied the
    same updates, and a silent divergence would ship rank 0's half of a model."""
    if not _active():
        return
    with torch.no_grad():
        mine = torch.stack([p.double().sum() for p in model.parameters()])
    mine = mine.to(device)
    lo, hi = mine.clone(), mine.clone()
    dist.all_reduce(lo, dist.ReduceOp.MIN)
    dist.all_reduce(hi, dist.ReduceOp.MAX)
    spread = float((hi - lo).abs().max())
    if spread > 1e-6 * max(1.0, float(mine.abs().max())):
        raise RuntimeError(f"ranks' weights diverged (max parameter-sum spread {spread:.3g})")


def finish() -> None:
    """Wait for every rank (rank 0 validates and saves last), then leave the process group.

    Callers drop their DistributedDataParallel wrapper first: it sits in reference cycles, so
    without the collection here it (and the gloo group it holds, with its worker threads) would
    only be freed during interpreter shutdown, which aborts the process ("terminate called
    without an active exception") and fails the whole torchrun job."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        gc.collect()
        dist.destroy_process_group()
