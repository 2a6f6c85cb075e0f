"""The lip reader: its vocabularies, mouth crops, CTC training path, safe files and metric."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from driver.corpus.phones import PHONES, SILENCE, PhoneSegment
from driver.lipreading.crops import CropClip, phone_targets
from driver.lipreading.model import LipReader, load_lipreader, save_lipreader
from driver.lipreading.perception import error_counts, viseme_ids
from driver.lipreading.train import _batch, _ctc
from driver.lipreading.visemes import (PHONE_TOKENS, VISEME_GROUPS, VISEME_OF, edit_distance,
                                       encode, greedy_decode, rates, viseme_sequence)
from driver.scoring import Scorecard
from splat.errors import UserInputError


def test_every_spoken_phone_has_exactly_one_viseme() -> None:
    grouped = [p for group in VISEME_GROUPS.values() for p in group]
    assert sorted(grouped) == sorted(p for p in PHONES if p != SILENCE) == sorted(PHONE_TOKENS)
    assert VISEME_OF["p"] == VISEME_OF["b"] == VISEME_OF["m"] != VISEME_OF["f"]
    assert viseme_sequence(["p", "m", "aa", "b"]) == ["P", "A", "P"]


def test_ctc_decoding_and_edit_distance() -> None:
    assert greedy_decode([0, 3, 3, 0, 3, 5, 5, 0]) == [3, 3, 5]
    assert edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert edit_distance([1, 3], [1, 2, 3]) == 1            # a deletion
    assert edit_distance([4, 2, 3, 9], [1, 2, 3]) == 2      # a substitution and an insertion
    assert edit_distance([], [1, 2]) == 2
    assert rates([3, 10, 1, 4]) == {"per": 0.3, "ver": 0.25}


def test_phone_targets_skip_silence_and_windows_pick_phones_by_their_middle() -> None:
    phones = [PhoneSegment(0.0, 0.3, SILENCE), PhoneSegment(0.3, 0.5, "m"),
              PhoneSegment(0.5, 0.9, "aa"), PhoneSegment(0.9, 1.2, SILENCE)]
    ids, mids = phone_targets(phones)
    assert ids.tolist() == encode(["m", "aa"], PHONE_TOKENS)
    assert mids.tolist() == pytest.approx([12.0, 21.0])
    clip = CropClip("c", np.zeros((36, 8, 8), np.uint8), ids, mids)
    assert clip.targets(0, 15).tolist() == ids[:1].tolist()     # "aa"'s middle is at frame 21
    assert viseme_ids(ids) == encode(["P", "A"], tuple(VISEME_GROUPS))


def _synthetic(rng: np.random.Generator, n: int = 8, size: int = 16):
    """Clips whose frames draw phone k (of 3) as a bright band at row 4k: a learnable 'lip'."""
    clips = []
    for c in range(n):
        labels = rng.integers(0, 3, 6)
        frames = np.full((30, size, size), 60, np.uint8)
        ids, mids = [], []
        for j, k in enumerate(labels):
            frames[5 * j + 1: 5 * j + 4, 4 * k + 2: 4 * k + 5] = 220
            ids.append(int(k) + 1)
            mids.append(5 * j + 2.5)
        clips.append(CropClip(f"s{c}", frames, np.array(ids), np.array(mids, np.float32)))
    return clips


def test_ctc_training_reads_a_synthetic_lip_and_not_a_still_one(one_torch_thread) -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    train, held = _synthetic(rng, 12), _synthetic(np.random.default_rng(1), 4)
    reader = LipReader(16, width=8, hidden=32)
    opt = torch.optim.Adam(reader.parameters(), lr=1e-2)
    for _ in range(100):
        reader.train()
        frames, phones, visemes = _batch(train, 8, 30, rng)
        phone_lp, viseme_lp = reader(frames)
        loss = _ctc(phone_lp, phones) + 0.5 * _ctc(viseme_lp, visemes)
        opt.zero_grad()
        loss.backward()
        opt.step()
    reader.eval()
    seen = sum(error_counts(reader, c.frames, c.phone_ids) for c in held)
    still = sum(error_counts(reader, np.full_like(c.frames, 60), c.phone_ids) for c in held)
    assert rates(seen)["per"] < 0.3 < 0.9 < rates(still)["per"]


def test_reader_files_round_trip_and_bad_files_are_refused(tmp_path) -> None:
    reader = LipReader(16, width=8, hidden=16)
    save_lipreader(reader, tmp_path, {"avatar": "default"})
    loaded, config = load_lipreader(tmp_path)
    x = torch.randint(0, 255, (1, 5, 16, 16))
    reader.eval()
    assert torch.allclose(loaded(x)[0], reader(x)[0])
    assert config["size"] == 16 and not any(p.requires_grad for p in loaded.parameters())
    cfg = json.loads((tmp_path / "lipreader.json").read_text())
    (tmp_path / "lipreader.json").write_text(json.dumps({**cfg, "phones": ["aa"]}))
    with pytest.raises(UserInputError, match="vocabulary"):
        load_lipreader(tmp_path)
    (tmp_path / "lipreader.json").write_text(json.dumps({**cfg, "size": "big"}))
    with pytest.raises(UserInputError, match="size"):
        load_lipreader(tmp_path)
    (tmp_path / "lipreader.json").write_text(json.dumps(cfg))
    (tmp_path / "lipreader.safetensors").write_bytes(b"\x80\x04not weights")
    with pytest.raises(UserInputError, match="weights"):
        load_lipreader(tmp_path)
    with pytest.raises(UserInputError, match="train one"):
        load_lipreader(tmp_path / "missing")


def test_scorecard_pools_perception_and_the_table_shows_it_only_when_measured() -> None:
    from driver.evaluate import _markdown

    a, b = Scorecard(), Scorecard()
    a.add_perception([2, 10, 1, 5])
    b.add_perception([4, 10, 1, 5])
    card = Scorecard.merged([a, b])
    card.errors = [np.array([1e-6])]
    out = card.result()
    assert out["per"] == pytest.approx(0.3) and out["ver"] == pytest.approx(0.2)
    assert "PER" in "\n".join(_markdown("m", {"x": out}))
    assert "PER" not in "\n".join(_markdown("m", {"x": {"lve": 1e-6, "max_l2_mm": 1.0}}))


def test_mouth_crops_follow_the_lips_and_views_vary_the_picture() -> None:
    from driver.lipreading.mouth_view import MouthRenderer, MouthView
    from splat.assets_paths import DEFAULT_AVATAR

    renderer = MouthRenderer(DEFAULT_AVATAR, size=32)
    n = renderer.rig_data.n_expr
    motion = np.zeros((2, n + 3), np.float32)
    motion[1, n] = 0.25                                       # jaw open in frame 1
    crops = renderer.render(motion)
    assert crops.shape == (2, 32, 32) and crops.dtype == np.uint8
    centre = (slice(12, 22), slice(8, 24))
    assert np.abs(crops[1][centre].astype(int) - crops[0][centre]).mean() > 10
    assert np.array_equal(renderer.render(motion), crops)     # canonical renders repeat exactly
    varied = renderer.render(motion, MouthView.sample(np.random.default_rng(3), 8), seed=1)
    assert np.abs(varied.astype(int) - crops).mean() > 5


def test_train_lipreader_flags_fill_its_own_config() -> None:
    import main
    from avatar_app.config_flags import config_values
    from driver.lipreading.config import LipReaderConfig

    parser = main.build_parser(["train"])
    args = parser.parse_args(["train", "--what", "lipreader", "--out", "r"])
    cfg = LipReaderConfig(**config_values(LipReaderConfig, args))
    assert (cfg.steps, cfg.batch, cfg.max_clips, cfg.size, cfg.pool) == (1500, 8, 220, 48, 2)
    args = parser.parse_args(["train", "--what", "lipreader", "--out", "r", "--batch", "5",
                              "--views", "2", "--export", "x"])
    cfg = LipReaderConfig(**config_values(LipReaderConfig, args))
    assert (cfg.batch, cfg.views, str(cfg.export)) == (5, 2, "x")


def test_torch_rasterizer_matches_the_cpu_renderer_and_passes_gradients() -> None:
    from driver.lipreading.mouth_view import LUMA, MouthRenderer, MouthView
    from driver.motion_space import motion_params
    from splat.assets_paths import DEFAULT_AVATAR
    from splat.binding import bind_gaussians
    from splat.render.torch_raster import rasterize

    renderer = MouthRenderer(DEFAULT_AVATAR, size=24)
    n = renderer.rig_data.n_expr
    motion = np.zeros((2, n + 3), np.float32)
    motion[1, n], motion[1, 0] = 0.2, 0.5                    # jaw open, lips parted
    cpu = renderer.render(motion).astype(np.float32)
    m = torch.tensor(motion, requires_grad=True)
    pipe = renderer.pipeline
    verts = pipe.rig({**pipe.identity, **motion_params(m, n)})
    image, _ = rasterize(bind_gaussians(pipe.tensors, verts),
                         renderer.camera(MouthView.canonical()), 1.0)
    grey = (image @ torch.from_numpy(LUMA)) * 255
    assert np.abs(grey.detach().numpy() - cpu).mean() < 1.0  # under one 8-bit step on average
    grey[1].sum().backward()
    assert torch.isfinite(m.grad).all() and m.grad[1, n].abs() > 0
    assert m.grad[0].abs().sum() < 1e-4 * m.grad[1].abs().sum()   # frames are independent


def test_teacher_loss_is_zero_on_the_truth_and_pulls_a_wrong_mouth(tmp_path) -> None:
    from driver.lipreading.teacher import LipReadTeacher
    from splat.assets_paths import DEFAULT_RIG
    from splat.rig import load_rig_data

    torch.manual_seed(0)
    save_lipreader(LipReader(48, width=8, hidden=16), tmp_path, {"avatar": "default"})
    rig = load_rig_data(DEFAULT_RIG)
    teacher = LipReadTeacher(tmp_path, rig.topology_digest(), size=16, frames=4, clips=1)
    assert len(teacher.tensors.xyz) < len(teacher.mouth.pipeline.tensors.xyz)   # hidden dropped
    target = torch.zeros(1, 4, rig.n_expr + 3)
    target[0, 1:3, rig.n_expr] = 0.2                         # the truth opens the jaw
    assert teacher.loss(target.clone(), target).item() == pytest.approx(0.0, abs=1e-8)
    pred = torch.zeros_like(target, requires_grad=True)      # the student keeps it shut
    loss = teacher.loss(pred, target)
    loss.backward()
    assert loss.item() > 0 and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    with pytest.raises(UserInputError, match="another rig"):
        LipReadTeacher(tmp_path, "V1-F1-000000000000")
