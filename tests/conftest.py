"""Shared test set-up: run from the repository root with its packages importable."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "2")


import pytest  # noqa: E402  (after the path set-up above)


@pytest.fixture
def one_torch_thread():
    """Tiny torch ops on a shared 2-core box: OpenMP spinning costs far more than the work."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
