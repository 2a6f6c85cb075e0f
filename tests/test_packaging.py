"""`pip install .` gives a working package, and the set-up scripts behave where the user stands.

The wheel is built from a copy of exactly what an sdist would hold (pyproject.toml, setup.py,
README, LICENSE, the three packages, assets/), so a file the build needs but the copy lacks
fails here rather than on a user's machine.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from main import ROOT

tomllib = pytest.importorskip("tomllib")  # Python 3.11+ (the test venv's)

PACKAGE_FOLDERS = ("splat", "driver", "avatar_app")
SOURCE_ITEMS = ("pyproject.toml", "setup.py", "README.md", "LICENSE", *PACKAGE_FOLDERS, "assets")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} predates the licence metadata (>=77)")
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCE_ITEMS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    # No build isolation: the venv's setuptools builds it, so the test needs no network.
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                             "-q", "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (built,) = out.glob("talking_splat-*.whl")
    return built


def test_wheel_holds_every_package_the_assets_the_command_and_the_licence(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for init in sorted(p for folder in PACKAGE_FOLDERS for p in (ROOT / folder).rglob("__init__.py")):
        assert init.relative_to(ROOT).as_posix() in names, f"{init} missing from the wheel"
    manifest = json.loads((ROOT / "assets" / "MANIFEST.json").read_text())
    asset_files = [rel for section in manifest["generators"].values() for rel in section["files"]]
    asset_files += [p.relative_to(ROOT / "assets").as_posix()
                    for p in (ROOT / "assets" / "default_model").iterdir() if p.is_file()]
    assert "default_avatar/point_cloud.ply" in asset_files and "default_model/config.json" in asset_files
    for rel in ["MANIFEST.json", *asset_files]:
        assert f"talking_splat_assets/{rel}" in names, f"asset {rel} missing from the wheel"
    info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    archive = zipfile.ZipFile(wheel)
    entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert re.search(r"^talking-splat = avatar_app\.cli:main$", entry_points, re.M)
    metadata = archive.read(f"{info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert f"{info}/licenses/LICENSE" in names
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]


def test_installed_wheel_runs_from_another_folder_on_its_own_assets(wheel, tmp_path):
    """Installed (not editable), the command and its default assets come from site-packages,
    whatever the current folder; the repo's copy is not on the path."""
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                             "--target", str(site), str(wheel)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import sys, splat, splat.assets_paths as a\n"
        "print(splat.__file__); print(a.default_avatar()); print(a.DEFAULT_MODEL / 'config.json')\n"
        "from avatar_app.cli import main\n"
        "sys.argv = ['talking-splat', '--help']; sys.exit(main())\n"
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    result = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    code, avatar, model_config = (Path(line) for line in result.stdout.splitlines()[:3])
    assert code.is_relative_to(site), f"splat imported from {code}, not the installed copy"
    assert avatar.is_relative_to(site / "talking_splat_assets") and (avatar / "point_cloud.ply").is_file()
    assert model_config.is_relative_to(site) and model_config.is_file()
    assert "usage: talking-splat" in result.stdout
    for command in ("still", "render", "gui", "doctor"):
        assert command in result.stdout


def test_versions_and_indexes_agree_between_pyproject_setup_script_and_conda():
    project = _pyproject()
    (torch_pin,) = [d for d in project["project"]["dependencies"] if d.startswith("torch==")]
    version = torch_pin.split("==")[1]
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert f"TORCH={version}\n" in bootstrap
    conda = (ROOT / "environment.yml").read_text()
    assert f"- torch=={version}\n" in conda
    python = re.search(r"- python=(\d+)\.(\d+)", conda)
    floor = re.match(r">=(\d+)\.(\d+)", project["project"]["requires-python"])
    assert python and floor and tuple(map(int, python.groups())) >= tuple(map(int, floor.groups()))
    assert "platformdirs" in " ".join(project["project"]["dependencies"])
    # pip's configured index is honoured: no --index-url, and the one URL is PyTorch's CPU index,
    # added as an extra index (in environment.yml too: a CPU environment).
    for text in (bootstrap, conda):
        assert "--index-url" not in text.replace("--extra-index-url", "")
        assert set(re.findall(r"https?://[^\s\"']+", text)) <= {CPU_INDEX}
    assert f'--extra-index-url "$TORCH_CPU_INDEX"' in bootstrap and f"TORCH_CPU_INDEX={CPU_INDEX}" in bootstrap
    assert f"--extra-index-url {CPU_INDEX}" in conda
    floor_setuptools = re.search(r'"setuptools>=(\d+)"', (ROOT / "pyproject.toml").read_text())
    assert floor_setuptools and int(floor_setuptools.group(1)) >= 77  # PEP 639 licence expression


def test_run_sh_keeps_the_callers_folder(tmp_path):
    """Relative paths are the user's: `assets --out rel` from elsewhere writes there, not in the repo."""
    result = subprocess.run([str(ROOT / "run.sh"), "assets", "--out", "rel_assets", "--only", "demo_speech"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "rel_assets" / "demo_speech.wav").is_file()
    assert not (ROOT / "rel_assets").exists()


def test_set_up_check_and_help_never_import_torch(tmp_path):
    """`./run.sh --help` once set up: the bash checks, a metadata lookup and main.py's lazy parser.
    Importing torch costs seconds (2.3 s CPU measured); PYTHONPROFILEIMPORTTIME lists main.py's
    imports (the set-up's own version check keeps its stderr quiet, so its source is read)."""
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "import torch" not in bootstrap and "m.version('torch')" in bootstrap
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    result = subprocess.run([str(ROOT / "run.sh"), "--help"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "import time:" in line}
    assert "avatar_app.cli" in imported
    assert not {name for name in imported if name.split(".")[0] in ("torch", "numba", "numpy")}
