"""`--device` means the same everywhere, and a missing GPU is an error, never a silent CPU run."""
from __future__ import annotations

import pytest
import torch

from driver.devices import resolve_device
from driver.distributed import device_for
from splat.errors import UserInputError


def test_auto_and_cpu_on_a_machine_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert device_for("auto", rank=1) == torch.device("cpu")


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_without_a_gpu_is_refused_not_replaced(monkeypatch, name):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserInputError, match="no CUDA GPU"):
        resolve_device(name)
    with pytest.raises(UserInputError, match="no CUDA GPU"):
        device_for(name, rank=0)


def test_cuda_names_on_a_machine_with_two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert device_for("auto", rank=0) == torch.device("cuda", 1)
    with pytest.raises(UserInputError, match="2 CUDA device"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("name", ["gpu", "tpu", "cuda:x", "mps"])
def test_unknown_names_are_one_clear_line(name):
    with pytest.raises(UserInputError) as err:
        resolve_device(name)
    assert "\n" not in str(err.value) and "--device" in str(err.value)

