"""Mp4Writer: incremental H.264 + AAC with real timestamps; a valid file after Ctrl-C."""
import signal
import subprocess
import sys
import textwrap

import av
import numpy as np
import pytest

from avatar_app.mp4_writer import Mp4Writer
from tests.conftest import ROOT
from avatar_app.mp4_writer import read_back


def probe(path):
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        info = {"video_codec": v.codec_context.name, "audio_codec": a.codec_context.name,
                "size": (v.codec_context.width, v.codec_context.height),
                "v_dur": float(v.duration * v.time_base), "a_dur": float(a.duration * a.time_base)}
    with av.open(str(path)) as c:
        frames = [(f.time, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    return info, frames


def test_incremental_irregular_frames_and_audio(tmp_path):
    path = tmp_path / "live.mp4"
    sr = 16000
    w = Mp4Writer(path, 65, 49, fps=30, sample_rate=sr)
    times = [0.0, 0.031, 0.070, 0.101, 0.133, 0.166, 0.2]      # live frames are irregular
    for i, t in enumerate(times):
        w.write_frame(np.full((49, 65, 3), i / 10, np.float32), t)
        w.write_audio(np.full(512, 0.1, np.float32), t)            # audio with gaps
    assert not w.write_frame(np.zeros((49, 65, 3), np.uint8), 0.2)  # not advancing: skipped
    w.write_audio(np.zeros(sr // 5, np.float32), 0.3)
    w.close()
    w.close()                                                       # idempotent
    info, frames = probe(path)
    assert info["video_codec"] == "h264" and info["audio_codec"] == "aac"
    assert info["size"] == (64, 48)                                 # even for yuv420p
    assert [round(t, 3) for t, _ in frames] == times
    assert abs(frames[3][1].mean() / 255 - 0.3) < 0.02
    assert read_back(path).audio_end == pytest.approx(0.5, abs=1e-3)


def test_sigint_mid_recording_leaves_a_valid_file(tmp_path):
    path = tmp_path / "interrupted.mp4"
    script = textwrap.dedent(f"""
        import signal, sys, time, numpy as np
        sys.path.insert(0, {str(ROOT)!r})
        from avatar_app.mp4_writer import Mp4Writer
        w = Mp4Writer({str(path)!r}, 32, 32, fps=30)
        def stop(*_):
            w.close()
            sys.exit(0)
        signal.signal(signal.SIGINT, stop)
        k = 0
        while True:
            w.write_frame(np.random.rand(32, 32, 3), k / 30)
            w.write_audio(np.zeros(533, np.float32), k * 533 / 16000)
            k += 1
            if k == 20:
                print("ready", flush=True)
            time.sleep(0.005)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    info, frames = probe(path)
    assert len(frames) >= 20 and info["v_dur"] > 0.6


def test_exit_without_close_still_finishes_the_file(tmp_path):
    path = tmp_path / "atexit.mp4"
    script = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {str(ROOT)!r})
        from avatar_app.mp4_writer import Mp4Writer
        w = Mp4Writer({str(path)!r}, 32, 32, fps=30)
        for k in range(10):
            w.write_frame(np.zeros((32, 32, 3), np.uint8), k / 30)
            w.write_audio(np.zeros(533, np.float32), k * 533 / 16000)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    info, frames = probe(path)
    assert len(frames) == 10 and info["v_dur"] == pytest.approx(10 / 30, abs=1e-3)
