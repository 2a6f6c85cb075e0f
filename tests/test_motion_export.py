"""Motion files (driver/motion_files.py): npz/CSV/JSON round trips, ARKit names, bad files, and
`render --save-motion` feeding `render --motion` back."""
import json

import numpy as np
import pytest

from driver.motion import MotionFrame
from driver.motion_files import (ARKIT_52, ARKIT_NAMES, curve_names, read_motion, write_motion)
from splat.default_rig_spec import EXPRESSION_NAMES, JAW_OPEN_MAX_RAD
from splat.errors import UserInputError

NAMES = list(EXPRESSION_NAMES)
FPS = 30.0


def random_frames(n=12, seed=0, fps=FPS):
    """Plausible motion: every parameter moving, rotations well inside +-pi/2."""
    rng = np.random.default_rng(seed)
    u = lambda lo, hi, k: rng.uniform(lo, hi, k).astype(np.float32)  # noqa: E731
    return [MotionFrame(t=i / fps, expr=u(-0.5, 1.0, len(NAMES)),
                        jaw_pose=u(-0.05, 0.3, 3), neck_pose=u(-0.3, 0.3, 3),
                        rotation=u(-0.5, 0.5, 3), eyes_pose=u(-0.3, 0.3, 6),
                        translation=u(-0.02, 0.02, 3)) for i in range(n)]


def assert_same(a, b, atol=1e-5):
    assert len(a) == len(b)
    for fa, fb in zip(a, b):
        assert fa.t == pytest.approx(fb.t, abs=1e-9)
        for key, value in fa.params().items():
            np.testing.assert_allclose(fb.params()[key], value, atol=atol, err_msg=key)


@pytest.mark.parametrize("suffix", [".npz", ".csv", ".json"])
def test_round_trip_is_exact(tmp_path, suffix):
    frames = random_frames()
    path = write_motion(tmp_path / f"m{suffix}", frames, NAMES, fps=FPS, rig_id="test")
    back, fps = read_motion(path, NAMES)
    assert fps == FPS
    assert_same(frames, back)


def test_csv_columns_use_arkit_names_and_head_pose(tmp_path):
    frame = MotionFrame(t=0.0, expr=np.zeros(len(NAMES), np.float32),
                        jaw_pose=np.float32([0.2, 0, 0]), rotation=np.float32([0, 0.3, 0]),
                        translation=np.float32([0.01, 0, 0]))
    frame.expr[NAMES.index("smile_L")] = 0.7
    frame.expr[NAMES.index("lips_press")] = 0.4
    frame.expr[NAMES.index("lips_part")] = 0.25
    path = write_motion(tmp_path / "m.csv", [frame, MotionFrame(t=1 / FPS, expr=frame.expr)], NAMES)
    header, first = [line.split(",") for line in path.read_text().splitlines()[:2]]
    row = dict(zip(header, map(float, first)))
    assert header[0] == "time" and header == curve_names(NAMES)
    assert row["mouthSmileLeft"] == pytest.approx(0.7)
    assert row["mouthPressLeft"] == row["mouthPressRight"] == pytest.approx(0.4)
    assert row["lips_part"] == pytest.approx(0.25)           # no ARKit counterpart: rig name
    assert row["jawOpen"] == pytest.approx(0.2 / JAW_OPEN_MAX_RAD)
    assert row["headYaw"] == pytest.approx(0.3) and row["headPitch"] == pytest.approx(0.0)
    assert row["headX"] == pytest.approx(0.01)
    mapped = {c for cols in ARKIT_NAMES.values() for c in cols}
    assert mapped <= set(ARKIT_52) and len(ARKIT_52) == len(set(ARKIT_52)) == 52


def test_an_arkit_file_from_another_tool_reads(tmp_path):
    """Irregular times (resampled), half a pair (averaged), ARKit curves the rig lacks
    (ignored, said once), the rig's own names accepted."""
    (tmp_path / "a2f.csv").write_text(
        "time,jawOpen,mouthPressLeft,eyeLookUpLeft,lips_part\n"
        "0.0,0.0,0.8,0.5,0.0\n0.05,0.5,0.8,0.5,0.2\n0.1,1.0,0.8,0.5,0.4\n")
    heard = []
    frames, fps = read_motion(tmp_path / "a2f.csv", NAMES, heard.append)
    assert fps == 20.0 and len(frames) == 3
    assert frames[2].jaw_pose[0] == pytest.approx(JAW_OPEN_MAX_RAD)
    assert frames[1].expr[NAMES.index("lips_press")] == pytest.approx(0.4)
    assert frames[2].expr[NAMES.index("lips_part")] == pytest.approx(0.4)
    assert len(heard) == 1 and "eyeLookUpLeft" in heard[0]
    (tmp_path / "uneven.csv").write_text("time,jawOpen\n0,0\n0.1,1\n0.15,1\n0.25,0\n")
    frames, fps = read_motion(tmp_path / "uneven.csv", NAMES)
    assert fps == 10.0                                       # the median step is 0.1 s
    assert [round(float(f.jaw_pose[0]) / JAW_OPEN_MAX_RAD, 4) for f in frames] == [0, 1, 0.5]


def test_json_bare_columns_and_fps(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"fps": 10, "time": [0, 0.2], "eyeBlinkRight": [0, 1]}))
    frames, fps = read_motion(path, NAMES)
    assert fps == 10 and len(frames) == 3
    assert frames[1].expr[NAMES.index("blink_R")] == pytest.approx(0.5)


def test_npz_keeps_the_flame_param_layout(tmp_path):
    frames = random_frames(5)
    path = write_motion(tmp_path / "m.npz", frames, NAMES)
    with np.load(path) as z:
        shapes = {k: z[k].shape for k in z.files}
    assert shapes == {"expr": (5, len(NAMES)), "rotation": (5, 3), "neck_pose": (5, 3),
                      "jaw_pose": (5, 3), "eyes_pose": (5, 6), "translation": (5, 3), "fps": ()}
    # A GaussianAvatars tracking file also holds the identity: accepted, the avatar keeps its own.
    with np.load(path) as z:
        arrays = dict(z)
    np.savez(tmp_path / "ga.npz", **arrays, shape=np.zeros(300, np.float32),
             static_offset=np.zeros((1, 10, 3), np.float32))
    assert_same(frames, read_motion(tmp_path / "ga.npz", NAMES)[0])


def test_npz_writes_irregular_frames_on_a_regular_grid(tmp_path):
    frames = [MotionFrame(t=t, expr=np.zeros(len(NAMES), np.float32),
                          jaw_pose=np.float32([j, 0, 0])) for t, j in [(0, 0), (0.05, 0.1), (0.1, 0.2)]]
    back, fps = read_motion(write_motion(tmp_path / "m.npz", frames, NAMES, fps=40), NAMES)
    assert fps == 40 and len(back) == 5
    np.testing.assert_allclose([f.jaw_pose[0] for f in back], [0, 0.05, 0.1, 0.15, 0.2], atol=1e-6)


@pytest.mark.parametrize("text, message", [
    ("jawOpen\n0.1\n", "no 'time' column"),
    ("time,jawOpen\n0,0\n0.1,0.2\n0.1,0.3\n", "time must increase from frame to frame; frame 2"),
    ("time,jawOpen\n0,0\n0.1,nan\n", "column jawOpen holds NaN or infinite values (first at frame 1)"),
    ("time,jawOpen\n0,0\n0.1,abc\n", "line 3, column jawOpen: 'abc' is not a number"),
    ("time,jawOpen\n0,0\n0.1\n", "line 3 has 1 values, the header has 2"),
    ("time,mouthSmileLfet\n0,0\n", "unknown column(s) mouthSmileLfet"),
    ("time,jawOpen,jawOpen\n0,0,0\n", "column jawOpen appears twice"),
    ("time,smile_L,mouthSmileLeft\n0,0,0\n", "smile_L is given twice"),
    ("time,jawOpen\n0,9\n", "jaw_pose[:, 0] (jaw opening, radians) must stay within"),
    ("time,jawOpen\n-1,0\n", "time starts at -1 s"),
    ("time,jawOpen\n0,0\n1e-9,0\n", "the frame rate of the time column (fps) must be from 1 to 240"),
    ("time\n", "the motion has no frames"),
    ("", "the file is empty"),
])
def test_bad_csv_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(UserInputError) as err:
        read_motion(path, NAMES)
    assert message in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("document, message", [
    ([1, 2], "expected a JSON object"),
    ({"columns": [1]}, "\"columns\" must be an object"),
    ({"time": [0, 1], "jawOpen": [0]}, "columns have different lengths"),
    ({"time": [0, "x"]}, "column time must be a list of numbers"),
    ({"fps": "fast", "time": [0]}, "fps must be a number"),
    ({"fps": 0, "time": [0]}, "fps must be from 1 to 240, got 0"),
])
def test_bad_json_is_one_clear_error(tmp_path, document, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(UserInputError) as err:
        read_motion(path, NAMES)
    assert message in str(err.value)
    path.write_text("{not json")
    with pytest.raises(UserInputError, match="not a readable JSON file"):
        read_motion(path, NAMES)


def test_write_refuses_unknown_extension(tmp_path):
    with pytest.raises(UserInputError, match="motion files are"):
        write_motion(tmp_path / "m.txt", random_frames(2), NAMES)


def test_render_saves_the_motion_it_shows_and_replays_it(tmp_path):
    """render --save-motion x.csv, then render --motion x.csv --no-idle: the same picture."""
    from tests.test_render_cmd import demux, run_main, speech
    from tests.test_model import make_tiny_rig
    from splat.avatar import GaussianAvatar, save_avatar
    from splat.rig import save_rig_data

    rig = make_tiny_rig()
    F = len(rig.faces)
    avatar = tmp_path / "avatar"
    save_avatar(GaussianAvatar(
        xyz=np.zeros((F, 3), np.float32), log_scales=np.full((F, 3), np.log(0.9), np.float32),
        quats=np.tile(np.float32([1, 0, 0, 0]), (F, 1)), opacity_logits=np.full(F, 6.0, np.float32),
        sh=np.full((F, 1, 3), 1.0, np.float32), binding=np.arange(F, dtype=np.int64)), avatar)
    save_rig_data(rig, avatar / "rig.npz")
    seconds = speech(tmp_path / "in.wav", seconds=0.5)
    jaw = np.zeros((15, 3), np.float32)
    jaw[5:10, 0] = 0.3
    np.savez(tmp_path / "script.npz", jaw_pose=jaw, fps=np.float32(30))
    common = ["--audio", tmp_path / "in.wav", "--avatar", avatar, "--size", 32,
              "--backend", "cpu", "--quiet"]
    r = run_main("render", *common, "--out", tmp_path / "a.mp4", "--motion",
                 tmp_path / "script.npz", "--save-motion", tmp_path / "shown.csv")
    assert r.returncode == 0, r.stderr
    assert f"wrote {tmp_path / 'shown.csv'}" in r.stdout
    shown, fps = read_motion(tmp_path / "shown.csv", rig.expr_names)
    assert fps == 30 and len(shown) == round(seconds * 30)
    np.testing.assert_allclose([f.jaw_pose[0] for f in shown], jaw[:, 0], atol=1e-6)
    assert max(float(np.abs(f.neck_pose).max()) for f in shown) > 1e-3   # idle sway is in
    r = run_main("render", *common, "--out", tmp_path / "b.mp4", "--motion",
                 tmp_path / "shown.csv", "--no-idle")
    assert r.returncode == 0, r.stderr
    a, b = demux(tmp_path / "a.mp4")[2], demux(tmp_path / "b.mp4")[2]
    assert len(a) == len(b) and max(np.abs(x - y).max() for x, y in zip(a, b)) <= 2.0
    r = run_main("render", *common, "--out", tmp_path / "c.mp4", "--save-motion",
                 tmp_path / "m.txt")
    assert r.returncode == 2 and "--save-motion" in r.stderr and "use one of" in r.stderr
