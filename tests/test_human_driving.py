"""Driving the embedded human head (ARKit-52 rig) with the default rig's motion: the native
map keeps bilabial closures closed on the human mesh, `eval --avatar` measures them there, and
`render --save-motion` writes the head's own ARKit names."""
import json

import numpy as np
import pytest
import torch

from driver.metrics import CLOSED_MM, LipGap
from driver.motion import MotionFrame
from splat.assets_paths import DEFAULT_RIG, HUMAN_AVATAR
from splat.rig import Rig, load_rig_data

HUMAN_RIG = HUMAN_AVATAR / "rig.npz"


@pytest.fixture(scope="module")
def rigs():
    from driver.retarget import Retargeter

    source, target = load_rig_data(DEFAULT_RIG), load_rig_data(HUMAN_RIG)
    return source, target, Retargeter(source, target)


def default_frame(source, jaw=0.0, **weights):
    expr = np.zeros(source.n_expr, np.float32)
    for name, value in weights.items():
        expr[source.expr_names.index(name)] = value
    return MotionFrame(t=0.0, expr=expr, jaw_pose=np.array([jaw, 0, 0], np.float32))


def gap_mm(rig_data, frame):
    with torch.no_grad():
        verts = Rig(rig_data)(frame.params())
    return float(LipGap.from_rig_data(rig_data).gaps(verts)[0]) * 1000


def test_a_bilabial_frame_closes_the_human_lips(rigs, one_torch_thread):
    """p/b/m on the default rig (lips_close with the jaw at 0.05 rad) -> closed human lips,
    measured on the decoded human mesh; the same jaw without lips_close stays open."""
    source, target, retargeter = rigs
    assert retargeter.native is not None and "native ARKit map" in retargeter.summary()
    cases = ((0.05, 1.0, 0.0), (0.03, 1.0, 0.0), (0.0, 1.0, 0.0), (0.05, 0.8, 0.0),
             (0.05, 1.0, 0.25), (0.08, 1.0, 0.2))   # the corpus's p/b/m press the lips too
    for jaw, close, press in cases:
        frame = default_frame(source, jaw, lips_close=close, lips_press=press)
        assert gap_mm(source, frame) < CLOSED_MM
        assert gap_mm(target, retargeter.apply(frame)) < CLOSED_MM, (jaw, close, press)
    assert gap_mm(target, retargeter.apply(default_frame(source, 0.05))) > 2 * CLOSED_MM
    assert gap_mm(target, retargeter.apply(default_frame(source, lips_part=1.0))) > 2 * CLOSED_MM


def test_the_native_map_speaks_arkit(rigs):
    source, target, retargeter = rigs
    units = dict(zip(target.expr_names,
                     retargeter.apply(default_frame(source, smile_L=1.0, lips_press=0.5,
                                                    blink_R=1.0)).expr))
    moved = {n for n, v in units.items() if abs(v) > 1e-6}
    assert moved == {"mouthSmileLeft", "mouthPressLeft", "mouthPressRight", "eyeBlinkRight"}
    assert units["mouthSmileLeft"] == pytest.approx(1.0)
    assert units["mouthPressLeft"] == pytest.approx(0.5)
    # mouthClose follows the jaw: none without an open jaw, more the wider it is.
    k = target.expr_names.index("mouthClose")
    closes = [retargeter.apply(default_frame(source, jaw, lips_close=1.0)).expr[k]
              for jaw in (0.0, 0.03, 0.06)]
    assert closes[0] == 0.0 and 0.0 < closes[1] < closes[2]


def test_eval_avatar_measures_both_heads_on_a_tiny_corpus(tmp_path):
    """`eval --avatar human` on a synthetic corpus (the default rig's expression names): one
    table, the JSON holds model and ground-truth closures of the default and the human head."""
    from tests.test_render_cmd import run_main
    from tests.test_train_fixtures import write_tiny_corpus

    corpus = write_tiny_corpus(tmp_path / "corpus", clips_per_voice=2)
    r = run_main("eval", "--corpus", corpus, "--avatar", "human", "--max-clips", 2,
                 "--json", tmp_path / "t.json")
    assert r.returncode == 0, r.stderr
    assert "| human | model |" in r.stdout and "| procedural | ground truth |" in r.stdout
    table = json.loads((tmp_path / "t.json").read_text())
    rows = table["avatars"]
    assert list(rows) == ["procedural", "human"]
    assert rows["human"]["rig"] == "makehuman-head-v1"
    assert "native ARKit map" in rows["human"]["retargeting"]
    for row in rows.values():
        truth = row["ground truth"]
        assert truth["bilabials"] > 0 and truth["silence_frames"] > 0
        assert truth["bilabial_closure"] >= 0.9 and truth["silence_closure"] >= 0.9
        assert 0.0 <= row["model"]["bilabial_closure"] <= 1.0
    assert table["_info"]["clips"] == 2 and table["_info"]["threshold_mm"] == CLOSED_MM
    bad = run_main("eval", "--corpus", corpus, "--avatar", tmp_path / "nowhere")
    assert bad.returncode == 2 and "--avatar" in bad.stderr and "Traceback" not in bad.stderr


def test_render_save_motion_writes_the_human_heads_arkit_names(tmp_path):
    """render --avatar <human head> --save-motion x.csv (no --retarget: an embedded head is
    retargeted like in the window): the columns are the head's own ARKit
    units (one jawOpen, the jaw's opening), the lips move, and the file reads back exactly."""
    from driver.motion_files import ARKIT_52, POSE_COLUMNS, read_motion
    from tests.test_render_cmd import run_main, speech

    target = load_rig_data(HUMAN_RIG)
    speech(tmp_path / "in.wav", seconds=0.6)
    r = run_main("render", "--audio", tmp_path / "in.wav", "--avatar", HUMAN_AVATAR,
                 "--size", 32, "--backend", "cpu", "--quiet", "--out", tmp_path / "a.mp4",
                 "--save-motion", tmp_path / "m.csv")
    assert r.returncode == 0, r.stderr
    header = (tmp_path / "m.csv").read_text().splitlines()[0].split(",")
    assert len(header) == len(set(header)) and header[0] == "time"
    expression_columns = [c for c in header[1:] if c not in POSE_COLUMNS]
    assert expression_columns == [n for n in target.expr_names if n != "jawOpen"]
    assert set(expression_columns) <= set(ARKIT_52) and "jawOpen" in header
    frames, fps = read_motion(tmp_path / "m.csv", target.expr_names)
    assert fps == 30 and len(frames) == 18
    mouth = [target.expr_names.index(n) for n in ("mouthPressLeft", "mouthUpperUpLeft")]
    assert max(float(np.abs(f.expr[mouth]).max()) for f in frames) > 1e-3
    from driver.motion_files import write_motion

    write_motion(tmp_path / "again.csv", frames, target.expr_names, fps=fps)
    again, _ = read_motion(tmp_path / "again.csv", target.expr_names)
    for a, b in zip(frames, again):
        for key, value in a.params().items():
            np.testing.assert_allclose(b.params()[key], value, atol=1e-6, err_msg=key)
