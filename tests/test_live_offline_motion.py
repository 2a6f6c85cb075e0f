"""The live window and `render` move the head alike: the same audio gives the same speech
energy and the same speech-following head motion on both paths, and the window's Face view
aims where `still` and `render` do."""
from __future__ import annotations

import numpy as np
import pytest

from avatar_app.live_motion import DriverWorker, MotionBuffer
from avatar_app.offline_render import clip_frames
from driver.audio import MOTION_FPS, SAMPLE_RATE
from driver.idle import IdleMotion, rms_energy
from driver.model import Learn2TalkRegressor
from driver.streaming import StreamingEngine, infer_offline
from tests.conftest import ROOT
from tests.test_model import make_tiny_rig, tiny_config


def _speechlike(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """Syllable-rate bursts of a voiced tone over faint room noise, with a pause in the middle."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) * ((t < 1.2) | (t > 1.8))
    voice = 0.2 * envelope * np.sin(2 * np.pi * 180 * t)
    return (voice + 1e-3 * rng.standard_normal(t.size)).astype(np.float32)


def _head_only() -> IdleMotion:
    """Only the speech-following layer (blinks, gaze and sway run on the window's own clock)."""
    return IdleMotion(seed=3, blink_on=False, gaze_on=False, sway_on=False)


def test_same_audio_same_head_motion_live_and_offline():
    rig = make_tiny_rig()
    model = Learn2TalkRegressor(tiny_config(outputs=[("expr", rig.n_expr), ("jaw_pose", 3)])).eval()
    audio = _speechlike()

    # live: the driver worker's own body, fed in uneven blocks as a sound card would
    buffer = MotionBuffer(seconds=10.0)
    worker = DriverWorker(source=None, engine=StreamingEngine(model, rig), motion=buffer,
                          gate_factory=lambda: None, on_audio=lambda _chunk: None)
    rng = np.random.default_rng(1)
    at = 0
    while at < audio.size:
        n = int(rng.integers(160, 1400))
        worker.drive(audio[at:at + n], at / SAMPLE_RATE)
        at += n
    live = [buffer.select(k / MOTION_FPS) for k in range(int(2.8 * MOTION_FPS))]
    assert [tf.frame.t for tf in live] == pytest.approx([k / MOTION_FPS for k in range(len(live))])

    # offline: what render_clip layers per video frame (at the motion's own 30 fps)
    motion = infer_offline(model, audio, rig=rig)
    offline = list(clip_frames(motion, MOTION_FPS, audio, MOTION_FPS, len(live), _head_only(),
                               lambda f: f))

    energies = np.array([tf.energy for tf in live])
    expected = np.array([rms_energy(audio, k / MOTION_FPS) for k in range(len(live))])
    np.testing.assert_allclose(energies, expected, atol=1e-6)
    assert energies.max() > 0.6            # dB-mapped speech energy, not a linear RMS (~0.1)

    idle = _head_only()
    live_neck = np.array([idle.apply(tf.frame, tf.energy).neck_pose for tf in live])
    offline_neck = np.array([f.neck_pose for f in offline])
    np.testing.assert_allclose(live_neck, offline_neck, atol=1e-6)
    assert np.abs(offline_neck[:, 0]).max() > 0.03   # the nod is really there (NOD_MAX 0.06 rad)


@pytest.mark.skipif(not (ROOT / "assets" / "default_avatar" / "point_cloud.ply").is_file(),
                    reason="default avatar not generated")
def test_window_face_view_renders_what_still_renders(tmp_path):
    """The window's "Face" button (OrbitView.aim on AvatarPipeline.framing) and `still`
    give the same picture of the neutral default head."""
    import subprocess
    import sys

    import cv2

    from avatar_app.gui.orbit import OrbitView
    from avatar_app.live_render import RenderOptions, RenderWorker, Scene
    from splat.assets_paths import DEFAULT_AVATAR
    from splat.pipeline import AvatarPipeline

    size = 96
    out = tmp_path / "still.png"
    r = subprocess.run([sys.executable, "main.py", "still", "--out", str(out), "--size", str(size),
                        "--backend", "cpu"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    still = cv2.imread(str(out))[..., ::-1].astype(np.int16)

    pipeline = AvatarPipeline.open(DEFAULT_AVATAR, backend="cpu")
    view = OrbitView()
    view.aim(*pipeline.framing("face"), "face")
    worker = RenderWorker(MotionBuffer(), view.camera, idle_factory=lambda _opts: None)
    frame = worker.render_once(Scene(pipeline, "default_avatar"), RenderOptions(size=size), 0.0)
    window = (frame.rgba[..., :3] * 255.0 + 0.5).astype(np.int16)
    assert np.abs(window - still).max() <= 1

    # the old aim (the mesh's bounding-box centre) was centimetres lower than the face framing
    points = pipeline.framing_points({})
    old_target = (points.min(axis=0) + points.max(axis=0)) / 2.0
    assert view.target[1] - old_target[1] > 0.01
