"""`main.py render`: demux the MP4 and check streams, durations, frame count, and that a scripted
jaw trajectory shows up in the mouth region at the right frames."""
import subprocess
import sys

import av
import numpy as np
import pytest
import soundfile

from splat.avatar import GaussianAvatar, save_avatar
from splat.rig import save_rig_data
from tests.conftest import ROOT
from avatar_app.mp4_writer import read_back
from tests.test_model import make_tiny_rig

FPS = 30


@pytest.fixture(scope="module")
def tiny_avatar(tmp_path_factory):
    """One opaque Gaussian per triangle of the tiny rig: skin above, dark red on the jaw."""
    folder = tmp_path_factory.mktemp("avatar")
    rig = make_tiny_rig()
    F = len(rig.faces)
    centroid_y = rig.v_template[rig.faces].mean(1)[:, 1]
    rgb = np.where((centroid_y < -0.03)[:, None], [0.5, 0.05, 0.05], [0.9, 0.7, 0.6])
    avatar = GaussianAvatar(
        xyz=np.zeros((F, 3), np.float32), log_scales=np.full((F, 3), np.log(0.9), np.float32),
        quats=np.tile(np.float32([1, 0, 0, 0]), (F, 1)),
        opacity_logits=np.full(F, 6.0, np.float32),
        sh=((rgb - 0.5) / 0.28209479)[:, None, :].astype(np.float32),
        binding=np.arange(F, dtype=np.int64))
    save_avatar(avatar, folder)
    save_rig_data(rig, folder / "rig.npz")
    return folder


def speech(path, seconds=1.5, sr=22050):
    t = np.arange(int(seconds * sr)) / sr
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    return seconds


def run_main(*args):
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                               "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")})


def demux(path):
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        names = v.codec_context.name, a.codec_context.name
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24").astype(np.float32) for f in c.decode(video=0)]
    ends = read_back(path)   # fragmented MP4: the packets, not the duration fields
    return names, (ends.video_end, ends.audio_end), frames


def test_scripted_jaw_shows_in_the_mouth_at_the_right_frames(tmp_path, tiny_avatar):
    seconds = speech(tmp_path / "in.wav")
    n = int(seconds * FPS)
    jaw = np.zeros((n, 3), np.float32)
    jaw[15:25, 0] = 0.35                                  # open for frames 15..24
    np.savez(tmp_path / "motion.npz", jaw_pose=jaw, fps=np.float32(FPS))
    out = tmp_path / "clip.mp4"
    r = run_main("render", "--audio", tmp_path / "in.wav", "--out", out, "--avatar", tiny_avatar,
                 "--motion", tmp_path / "motion.npz", "--size", 64, "--backend", "cpu",
                 "--no-idle", "--background", "0,0,1")
    assert r.returncode == 0, r.stderr
    assert "real-time factor" in r.stdout
    names, (v_dur, a_dur), frames = demux(out)
    assert names == ("h264", "aac")
    assert abs(v_dur - seconds) <= 1 / FPS and abs(a_dur - seconds) <= 1 / FPS
    assert len(frames) == n
    mouth = lambda f: f[40:, :]                           # lower part of the picture  # noqa: E731
    change = [np.abs(mouth(f) - mouth(frames[0])).mean() for f in frames]
    opened = [k for k, c in enumerate(change) if c > 20.0]   # codec noise stays below ~2
    assert opened == list(range(15, 25))
    assert max(change[k] for k in range(n) if k not in opened) < 5.0
    top = [np.abs(f[:20] - frames[0][:20]).mean() for f in frames]
    assert max(top) < 5.0                                 # the upper face stays put


def test_model_path_says_untrained_and_idle_runs(tmp_path, tiny_avatar):
    from driver.checkpoint import CheckpointInfo, save_checkpoint
    from driver.model import Learn2TalkRegressor
    from splat.rig import load_rig_data
    from tests.test_model import tiny_config

    rig = load_rig_data(tiny_avatar / "rig.npz")
    model = Learn2TalkRegressor(tiny_config(outputs=[("expr", rig.n_expr), ("jaw_pose", 3)]))
    save_checkpoint(model, CheckpointInfo.for_rig(rig, trained=False), tmp_path / "ckpt")
    speech(tmp_path / "in.wav", seconds=0.5)
    out = tmp_path / "clip.mp4"
    r = run_main("render", "--audio", tmp_path / "in.wav", "--out", out, "--avatar", tiny_avatar,
                 "--checkpoint", tmp_path / "ckpt", "--size", 32, "--backend", "cpu", "--fps", 25,
                 "--quiet")
    assert r.returncode == 0, r.stderr
    assert "UNTRAINED" in r.stdout
    _, (v_dur, _), frames = demux(out)
    assert len(frames) == 13 and abs(v_dur - 0.5) <= 1 / 25


def test_bad_input_is_one_line(tmp_path, tiny_avatar):
    (tmp_path / "empty.wav").write_bytes(b"")
    r = run_main("render", "--audio", tmp_path / "empty.wav", "--out", tmp_path / "x.mp4",
                 "--avatar", tiny_avatar)
    assert r.returncode == 2 and r.stderr.startswith("error:") and "empty" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    speech(tmp_path / "in.wav", seconds=0.3)
    r = run_main("render", "--audio", tmp_path / "in.wav", "--out", tmp_path / "x.mp4",
                 "--avatar", tiny_avatar, "--checkpoint", tmp_path / "nowhere")
    assert r.returncode == 2 and "checkpoint folder not found" in r.stderr


def test_run_folder_checkpoint_and_input_gate(tmp_path, tiny_avatar):
    """A training run folder works as --checkpoint (its model/), like eval; --gate runs the
    window's gate on the model's input and a bad gate name is one line."""
    from driver.checkpoint import CheckpointInfo, save_checkpoint
    from driver.model import Learn2TalkRegressor
    from splat.rig import load_rig_data
    from tests.test_model import tiny_config

    rig = load_rig_data(tiny_avatar / "rig.npz")
    model = Learn2TalkRegressor(tiny_config(outputs=[("expr", rig.n_expr), ("jaw_pose", 3)]))
    save_checkpoint(model, CheckpointInfo.for_rig(rig, trained=True), tmp_path / "run" / "model")
    speech(tmp_path / "in.wav", seconds=0.3)
    common = ("render", "--audio", tmp_path / "in.wav", "--out", tmp_path / "clip.mp4",
              "--avatar", tiny_avatar, "--checkpoint", tmp_path / "run", "--size", 32,
              "--backend", "cpu", "--quiet")
    r = run_main(*common, "--gate", "noise")
    assert r.returncode == 0, r.stderr
    assert f"checkpoint {tmp_path / 'run' / 'model'}" in r.stdout
    r = run_main(*common, "--gate", "loud")
    assert r.returncode == 2 and "--gate" in r.stderr


def test_gate_clip_keeps_the_clip_aligned():
    """render's gating: same length as the input, quiet stretches silenced, speech untouched."""
    from avatar_app.vad import gate_clip, make_gate

    sr = 16000
    t = np.arange(sr) / sr
    loud = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    audio = np.concatenate([np.full(sr, 1e-4, np.float32), loud]) + 0
    gated = gate_clip(make_gate("noise", -45.0), audio)
    assert gated.shape == audio.shape
    assert not gated[:sr - 320].any()                         # room tone: closed
    np.testing.assert_array_equal(gated[sr + 320:], audio[sr + 320:])   # speech: passed
