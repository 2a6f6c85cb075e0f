"""Alpha, size and sound of the outputs: `still --transparent` (straight RGBA PNG), `--size WxH`
(face framed, same vertical field of view), alpha video writers decoded back (ProRes 4444 .mov,
VP9 .webm, PNG folder), and `render` keeping a 48 kHz stereo source 48 kHz stereo."""
from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
import soundfile

import main
from avatar_app.video_out import open_video_writer, rgba_straight
from splat.cameras import intrinsics_from_fov
from tests.test_render_cmd import run_main


def still(tmp_path, name, *flags):
    out = tmp_path / name
    assert main.main(["still", "--out", str(out), "--backend", "cpu", *flags]) == 0
    return cv2.imread(str(out), cv2.IMREAD_UNCHANGED)


def coverage_box(alpha: np.ndarray, level: float = 0.5):
    rows, cols = np.nonzero(alpha > level)
    return rows.min(), rows.max(), cols.min(), cols.max()


def test_transparent_still_is_straight_rgba_and_wide_sizes_keep_the_face(tmp_path):
    bgra = still(tmp_path, "t.png", "--size", "320x180", "--transparent")
    assert bgra.shape == (180, 320, 4)
    alpha = bgra[..., 3] / 255.0
    assert alpha[0, 0] == 0 and alpha[0, -1] == 0 and alpha[-1, 0] == 0   # background
    assert alpha[90, 160] > 0.99                                            # the face
    top, bottom, left, right = coverage_box(alpha)
    assert abs((left + right) / 2 - 160) < 8 and left > 40 and right < 280  # centred, all in
    # Straight alpha: compositing the PNG over white/black gives the opaque renders.
    rgba = bgra[..., [2, 1, 0, 3]] / 255.0
    for background in ("1,1,1", "0,0,0"):
        flat = still(tmp_path, "o.png", "--size", "320x180", "--background", background)
        ref = flat[..., ::-1] / 255.0
        bg = float(background[0])
        composite = rgba[..., :3] * rgba[..., 3:] + bg * (1 - rgba[..., 3:])
        assert np.abs(composite - ref).max() <= 3 / 255
    # Same vertical field of view: the face is as tall as in a 180x180 still.
    square = still(tmp_path, "s.png", "--size", "180", "--transparent")[..., 3] / 255.0
    s_top, s_bottom, _, _ = coverage_box(square)
    assert abs((bottom - top) - (s_bottom - s_top)) <= 2 and abs(top - s_top) <= 2
    # Too narrow for the face: the camera backs off so the whole face stays in the picture.
    tall = still(tmp_path, "n.png", "--size", "60x180", "--transparent")[..., 3] / 255.0
    assert tall.shape == (180, 60)
    assert tall[:, 0].max() < 0.5 and tall[:, -1].max() < 0.5


def test_non_square_intrinsics_share_the_vertical_focal_length():
    wide, square = intrinsics_from_fov(20, 320, 180), intrinsics_from_fov(20, 180, 180)
    assert wide[0, 0] == wide[1, 1] == square[1, 1]
    assert (wide[0, 2], wide[1, 2]) == (160, 90)


def test_rgba_straight_undoes_the_composite_over_black():
    colour = np.array([[[0.8, 0.4, 0.2]]], np.float32)
    alpha = np.array([[0.25]], np.float32)
    rgba = rgba_straight(colour * alpha, alpha)
    np.testing.assert_allclose(rgba[0, 0], [0.8, 0.4, 0.2, 0.25], atol=1e-6)
    assert rgba_straight(np.zeros((1, 1, 3)), np.zeros((1, 1)))[0, 0].tolist() == [0, 0, 0, 0]


def synthetic_rgba(k: int, w: int = 64, h: int = 48) -> np.ndarray:
    """A ramp of alpha from left (0) to right (1) and a colour that changes per frame."""
    img = np.zeros((h, w, 4), np.float32)
    img[..., 0] = 0.8
    img[..., 1] = k / 10
    img[..., 3] = np.linspace(0, 1, w)[None, :]
    return img


def decode_rgba(path):
    if path.is_dir():
        return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED)[..., [2, 1, 0, 3]]
                for p in sorted(path.glob("*.png"))]
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        if stream.codec_context.name == "vp9":   # FFmpeg's own vp9 decoder drops the alpha
            decoder = av.CodecContext.create("libvpx-vp9", "r")
            return [f.to_ndarray(format="rgba") for p in c.demux(stream) for f in decoder.decode(p)]
        return [f.to_ndarray(format="rgba") for f in c.decode(stream)]


def audio_of(path):
    if path.is_dir():
        info = soundfile.info(str(path / "audio.wav"))
        return info.samplerate, info.channels, info.duration
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        n = sum(f.samples for f in c.decode(a))
        return a.rate, a.channels, n / a.rate


@pytest.mark.parametrize("name, codec", [("clip.mov", "prores"), ("clip.webm", "vp9"),
                                         ("frames", None)])
def test_alpha_writers_decode_back_with_their_alpha(tmp_path, name, codec):
    path = tmp_path / name
    rate = 48000
    with open_video_writer(path, 64, 48, fps=10, sample_rate=rate, channels=2, alpha=True) as w:
        for k in range(5):
            w.write_audio(np.full((rate // 10, 2), 0.1, np.float32), k / 10)
            w.write_frame(synthetic_rgba(k), k / 10)
    frames = decode_rgba(path)
    assert len(frames) == 5 and frames[0].shape == (48, 64, 4)
    tolerance = 8 if codec == "vp9" else 2       # VP9 is lossy; ProRes 4444 near lossless
    for k, frame in enumerate(frames):
        expected = (synthetic_rgba(k)[..., 3] * 255 + 0.5).astype(int)
        assert np.abs(frame[..., 3].astype(int) - expected).max() <= tolerance
        opaque = frame[..., -1, :]                                    # the right column: alpha 1
        assert abs(int(opaque[:, 1].mean()) - round(k / 10 * 255)) <= tolerance
    if codec is not None:
        with av.open(str(path)) as c:
            assert c.streams.video[0].codec_context.name == codec
    got_rate, channels, seconds = audio_of(path)
    assert (got_rate, channels) == (rate, 2) and seconds == pytest.approx(0.5, abs=0.03)


def test_a_path_that_cannot_hold_alpha_is_refused_before_work(tmp_path, capsys):
    wav = tmp_path / "in.wav"
    soundfile.write(wav, np.zeros(1600, np.float32), 16000)
    for out, flags, message in [("x.mp4", ["--transparent"], "an H.264 MP4 has no alpha"),
                                ("x.mov", [], "are for --transparent"),
                                ("x.avi", ["--transparent"], "use one of .mov, .webm")]:
        code = main.main(["render", "--audio", str(wav), "--out", str(tmp_path / out), *flags])
        assert code == 2 and message in capsys.readouterr().err
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "000000.png").write_bytes(b"")
    code = main.main(["render", "--audio", str(wav), "--out", str(tmp_path / "old"),
                      "--transparent"])
    assert code == 2 and "already holds PNG frames" in capsys.readouterr().err


def test_sound_track_keeps_or_picks_a_stored_rate():
    from avatar_app.offline_render import sound_track
    from pathlib import Path

    stereo = np.zeros((4800, 2), np.float32)
    assert sound_track(stereo, 48000, Path("x.mp4"))[0].shape == (4800, 2)
    heard = []
    samples, rate = sound_track(np.zeros(11000, np.float32), 11000, Path("x.mp4"), heard.append)
    assert rate == 11025 and samples.shape == (11025, 1) and "11025 Hz" in heard[0]
    assert sound_track(np.zeros(4410, np.float32), 44100, Path("x.webm"))[1] == 48000
    assert sound_track(np.zeros(4410, np.float32), 44100, Path("frames"))[1] == 44100


def test_render_keeps_48k_stereo_and_writes_transparent_prores(tmp_path):
    """A 48 kHz stereo source stays 48 kHz stereo (AAC in the MP4, PCM in the .mov) while the
    model hears 16 kHz mono; the .mov's alpha is 0 around the face and ~1 on it."""
    t = np.arange(int(0.4 * 48000)) / 48000
    left = 0.3 * np.sin(2 * np.pi * 220 * t)
    soundfile.write(tmp_path / "st.wav", np.stack([left, 0.5 * left], 1).astype(np.float32), 48000)
    np.savez(tmp_path / "rest.npz", jaw_pose=np.zeros((12, 3), np.float32))
    common = ["render", "--audio", tmp_path / "st.wav", "--motion", tmp_path / "rest.npz",
              "--size", "96x64", "--backend", "cpu", "--quiet", "--no-idle"]
    r = run_main(*common, "--out", tmp_path / "clip.mp4")
    assert r.returncode == 0, r.stderr
    with av.open(str(tmp_path / "clip.mp4")) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.width, v.height) == (96, 64)
        assert (a.codec_context.name, a.rate, a.channels) == ("aac", 48000, 2)
        decoded = np.concatenate([f.to_ndarray() for f in c.decode(a)], axis=1)   # (2, n) fltp
    level = np.sqrt((decoded[:, 4096:] ** 2).mean(axis=1))
    assert level[1] / level[0] == pytest.approx(0.5, abs=0.05)   # the two channels stay apart
    r = run_main(*common, "--out", tmp_path / "clip.mov", "--transparent")
    assert r.returncode == 0, r.stderr
    assert audio_of(tmp_path / "clip.mov")[:2] == (48000, 2)
    frames = decode_rgba(tmp_path / "clip.mov")
    assert len(frames) == 12
    alpha = frames[0][..., 3] / 255.0
    assert alpha[0, 0] == 0 and alpha[-1, -1] < 0.05 and alpha[32, 48] > 0.95
