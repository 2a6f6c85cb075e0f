"""Bad output paths, bad audio paths and bad benchmark options (issue 13, part B): every row is a
command line that must end in exactly one `error:` line with exit code 2, before any work, and
never a traceback. Rows run in-process through `main.main` (fast); two run `main.py` in a
subprocess to hold the real entry point to the same promise.

`{tmp}` in a row is the test's temporary folder, which holds: `speech.wav` (valid audio),
`empty.wav`, `fifo.wav` (a named pipe), `a_file` (a regular file), `a_dir/` (a folder).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

import main
from tests.conftest import ROOT

OK_AUDIO = "{tmp}/speech.wav"
OK_OUT = "{tmp}/out.mp4"

ROWS = [
    # render: the output file is checked before anything is loaded
    (["render", "--audio", OK_AUDIO, "--out", "/proc/x.mp4"], "cannot create files in /proc"),
    (["render", "--audio", OK_AUDIO, "--out", "{tmp}/a_dir"], "folders are for --transparent"),
    (["render", "--audio", OK_AUDIO, "--out", "{tmp}/clip.avi"], ".avi is not supported"),
    (["render", "--audio", OK_AUDIO, "--out", "{tmp}/clip.mov"], "name the file .mp4"),
    (["render", "--audio", OK_AUDIO, "--out", "{tmp}/noext"], "folders are for --transparent"),
    (["render", "--audio", OK_AUDIO, "--out", "{tmp}/clip.txt"], "extension '.txt'"),
    (["render", "--audio", OK_AUDIO, "--out", "{tmp}/missing/clip.mp4"], "does not exist"),
    (["render", "--audio", OK_AUDIO, "--out", "{tmp}/a_file/clip.mp4"], "is not a folder"),
    (["render", "--audio", OK_AUDIO, "--out", "/dev/full"], "name the file .mp4"),
    # render: audio paths say what they are
    (["render", "--audio", "{tmp}/a_dir", "--out", OK_OUT], "is a folder, not an audio file"),
    (["render", "--audio", "{tmp}/fifo.wav", "--out", OK_OUT], "named pipe (FIFO)"),
    (["render", "--audio", "/dev/null", "--out", OK_OUT], "device or socket"),
    (["render", "--audio", "{tmp}/nothing.wav", "--out", OK_OUT], "audio file not found"),
    (["render", "--audio", "{tmp}/empty.wav", "--out", OK_OUT], "file is empty"),
    # still
    (["still", "--out", "{tmp}/noext"], "has no extension"),
    (["still", "--out", "{tmp}/x.txt"], "use one of .jpeg, .jpg, .png"),
    (["still", "--out", "/proc/x.png"], "cannot create files in /proc"),
    (["still", "--out", "{tmp}/a_dir"], "is a directory"),
    (["still", "--out", "{tmp}/missing/x.png"], "does not exist"),
    # assets
    (["assets", "--out", "/proc/assets", "--only", "demo_speech"], "cannot create files in /proc"),
    (["assets", "--out", "{tmp}/a_file", "--only", "demo_speech"], "is not a folder"),
    # corpus, train, eval: their outputs
    (["corpus", "--out", "/proc/corpus"], "cannot create files in /proc"),
    (["corpus", "--out", "{tmp}/a_file"], "is not a folder"),
    (["train", "--what", "syncnet", "--out", "/proc/run"], "cannot create files in /proc"),
    (["train", "--what", "regressor", "--out", "{tmp}/a_file"], "is not a folder"),
    (["train", "--what", "regressor", "--out", "{tmp}/r", "--track-weight", "-1"],
     "--track-weight must be a finite number >= 0, got -1.0"),
    (["train", "--what", "regressor", "--out", "{tmp}/r", "--pause-weight", "0"],
     "--pause-weight must be > 0, got 0.0"),
    (["eval", "--json", "/proc/table.json"], "cannot create files in /proc"),
    (["eval", "--plot", "{tmp}/plot.txt"], "use one of .pdf, .png, .svg"),
    # bench
    (["bench", "e2e", "--size", "0"], "--size must be"),
    (["bench", "e2e", "--size", "100000"], "--size must be"),
    (["bench", "e2e", "--seconds", "0"], "--seconds must be"),
    (["bench", "e2e", "--seconds", "nan"], "--seconds must be"),
    (["bench", "e2e", "--audio", "{tmp}/a_dir"], "is a folder, not an audio file"),
    (["bench", "stream", "--seconds", "0"], "--seconds must be"),
    (["bench", "stream", "--seconds", "-3"], "--seconds must be"),
    (["bench", "soak", "--minutes", "0"], "--minutes must be"),
    (["bench", "soak", "--minutes", "1", "--warmup", "-1"], "--warmup must be"),
    (["bench", "soak", "--minutes", "1", "--out", "{tmp}/a_dir"], "is a directory"),
    (["bench", "soak", "--minutes", "1", "--out", "{tmp}/soak.avi"], ".avi is not supported"),
    (["bench", "soak", "--minutes", "1", "--audio", "{tmp}/fifo.wav",
      "--out", "{tmp}/soak.mp4"], "named pipe (FIFO)"),
]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad_cli")
    t = np.arange(8000) / 16000
    soundfile.write(folder / "speech.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    (folder / "empty.wav").write_bytes(b"")
    os.mkfifo(folder / "fifo.wav")
    (folder / "a_file").write_text("not a folder")
    (folder / "a_dir").mkdir()
    return folder


@pytest.mark.parametrize("argv,fragment", ROWS, ids=[" ".join(r[0][:2]) + f" #{i}" for i, r in enumerate(ROWS)])
def test_bad_input_is_one_error_line(argv, fragment, tmp, capsys):
    args = [a.replace("{tmp}", str(tmp)) for a in argv]
    before = set(tmp.rglob("*"))
    code = main.main(args)
    out, err = capsys.readouterr()
    assert code == 2, (args, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in out + err and "wrote" not in out
    assert set(tmp.rglob("*")) == before          # nothing written, not even a probe file


def test_table_covers_enough_cases():
    assert len(ROWS) >= 25


@pytest.mark.parametrize("argv,fragment", [
    (["render", "--audio", OK_AUDIO, "--out", "/proc/x.mp4"], "cannot create files in /proc"),
    (["bench", "stream", "--seconds", "0"], "--seconds must be"),
])
def test_real_entry_point(argv, fragment, tmp):
    args = [a.replace("{tmp}", str(tmp)) for a in argv]
    proc = subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and fragment in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
