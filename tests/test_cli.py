"""The command surface: every command has --help, and bad input ends in one line, not a traceback."""
import subprocess
import sys

import pytest

from main import COMMANDS, ROOT


def run_main(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command):
    result = run_main(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_top_level_help_lists_commands():
    result = run_main("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


def test_doctor_reports_without_failing():
    result = run_main("doctor")
    assert result.returncode == 0, result.stderr
    for key in ("torch", "cuda", "display", "microphones"):
        assert key in result.stdout


def test_gsplat_build_without_cuda_is_one_clear_line():
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the build would really run")
    result = run_main("doctor", "--build-gsplat")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:")
    assert "Traceback" not in result.stderr
