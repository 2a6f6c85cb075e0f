"""Pause-only supervision of real speech without phones: import, loss weighting, training."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from driver.audio import MOTION_FPS
from driver.corpus.articulation import phones_to_motion
from driver.corpus.external import import_aligned_folder
from driver.corpus.motion_files import write_motion
from driver.corpus.pause_targets import rest_motion
from driver.corpus.phones import PhoneSegment, write_tsv
from driver.losses import build_terms, lip_contact, lip_reconstruction, reconstruction, velocity
from driver.speech_activity import PAUSE, SPEECH, Segment, write_segments
from driver.syncnet3d import SyncNet3D
from driver.train import Objective, RegressorTrainConfig, SyncNetConfig, TeacherForcedStep, \
    TrainClip, _prepare_sync_data, build_model, decoder_inputs, sample_batch, train_regressor, \
    train_syncnet
from driver.training_data import CorpusData
from splat.errors import UserInputError
from tests.test_train_fixtures import write_tiny_corpus, write_tiny_rig

RATE = 16000
VAD = [Segment(0.0, 0.6, PAUSE), Segment(0.6, 1.2, SPEECH), Segment(1.2, 2.0, PAUSE),
       Segment(2.0, 3.1, SPEECH), Segment(3.1, 4.0, PAUSE)]


def _speechlike(segments: list[Segment], seed: int = 0) -> np.ndarray:
    """A buzz in the speech segments, faint noise in the pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(segments[-1].end * RATE)) / RATE
    audio = 0.003 * rng.standard_normal(len(t))
    for seg in segments:
        if seg.label == SPEECH:
            on = (t >= seg.start) & (t < seg.end)
            audio[on] += 0.3 * np.sin(2 * np.pi * 180 * t[on]) * np.sin(np.pi * 3 * t[on]) ** 2
    return audio.astype(np.float32)


def _real_folder(root, with_orphan: bool = False):
    """OUT/train/kde/ as `corpus --real-sources` writes it: one clip with phones, one with a
    VAD segmentation only, and a manifest naming their languages."""
    folder = root / "train" / "kde"
    folder.mkdir(parents=True)
    sf.write(folder / "kde-x-de-0000.wav", _speechlike(VAD), RATE, subtype="PCM_16")
    write_segments(VAD, folder / "kde-x-de-0000.vad.tsv")
    sf.write(folder / "kde-y-en-0000.wav", _speechlike(VAD, 1), RATE, subtype="PCM_16")
    write_segments(VAD, folder / "kde-y-en-0000.vad.tsv")
    write_tsv([PhoneSegment(0.0, 0.6, "pau"), PhoneSegment(0.6, 0.9, "m"),
               PhoneSegment(0.9, 1.2, "aa"), PhoneSegment(1.2, 4.0, "pau")],
              folder / "kde-y-en-0000.tsv")
    if with_orphan:
        sf.write(folder / "kde-z-fr-0000.wav", _speechlike(VAD, 2), RATE, subtype="PCM_16")
    rows = [{"id": "kde-x-de-0000", "language": "de"}, {"id": "kde-y-en-0000", "language": "en"}]
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_pause_only_import_weights_exactly_the_pauses_100ms_from_speech(tmp_path) -> None:
    folder = _real_folder(tmp_path / "real")
    corpus = tmp_path / "corpus"
    summary = import_aligned_folder(folder, corpus, "train", pauses=True)
    assert (summary.aligned, summary.pause_only, summary.already) == (1, 1, 0)
    assert summary.languages == {"de": 1, "en": 1}
    assert summary.pause_only_minutes == pytest.approx(4.0 / 60)

    data = CorpusData(corpus)
    clips = {r["id"]: data.load(r) for r in data.items("train")}
    pause_clip = clips["external-train-kde-x-de-0000"]
    full_clip = clips["external-train-kde-y-en-0000"]
    t = np.arange(len(pause_clip.motion)) / MOTION_FPS
    far = (t < 0.5) | ((t >= 1.3) & (t < 1.9)) | (t >= 3.2)
    assert pause_clip.weight.dtype == np.float32 and set(np.unique(pause_clip.weight)) == {0, 1}
    assert np.array_equal(pause_clip.weight == 1.0, far)
    assert summary.supervised_minutes == pytest.approx(far.sum() / MOTION_FPS / 60)
    assert pause_clip.phones == [] and not pause_clip.fully_supervised
    inside = ((t >= 0.6) & (t < 1.2)) | ((t >= 2.0) & (t < 3.1))
    assert pause_clip.speech.dtype == bool and np.array_equal(pause_clip.speech, inside)
    # the targets are the corpus's own pause rest: the core of a long TTS pause
    rest = phones_to_motion([PhoneSegment(0.0, 4.0, "pau")], 4.0, seed=3)[10:-10]
    assert np.array_equal(pause_clip.motion, rest_motion(len(t)))
    assert np.array_equal(rest, rest_motion(len(rest)))
    assert full_clip.weight is None and full_clip.fully_supervised and full_clip.phones
    assert full_clip.speech is None

    # `--motion-only` recomputes the same weights; a second import adds nothing
    (corpus / "weights" / "external-train-kde-x-de-0000.npy").unlink()
    write_motion(corpus, progress=False)
    record = next(r for r in data.items("train") if r["id"] == pause_clip.id)
    assert np.array_equal(data.load(record).weight, pause_clip.weight)
    again = import_aligned_folder(folder, corpus, "train", pauses=True)
    assert (again.aligned, again.pause_only, again.already) == (0, 0, 2)
    assert len((corpus / "manifest-external.jsonl").read_text().splitlines()) == 2


def test_pause_only_import_is_refused_outside_training_and_without_vad(tmp_path) -> None:
    folder = _real_folder(tmp_path / "real", with_orphan=True)
    with pytest.raises(UserInputError, match="training only"):
        import_aligned_folder(folder, tmp_path / "c", "val", pauses=True)
    with pytest.raises(UserInputError, match="kde-z-fr-0000.wav has no .* and no"):
        import_aligned_folder(folder, tmp_path / "c", "train", pauses=True)
    summary = import_aligned_folder(folder, tmp_path / "c", "train", skip_unaligned=True,
                                    pauses=True)
    assert (summary.aligned, summary.pause_only) == (1, 1)
    (tmp_path / "c2").mkdir()
    # without --aligned-pauses the VAD-only clip is skipped, as before
    assert import_aligned_folder(folder, tmp_path / "c2", "train",
                                 skip_unaligned=True).pause_only == 0
    np.save(tmp_path / "c" / "weights" / "external-train-kde-x-de-0000.npy",
            np.full(7, 0.5, np.float32))
    data = CorpusData(tmp_path / "c")
    with pytest.raises(UserInputError, match="frame weights"):
        [data.load(r) for r in data.items("train")]


def _mouths(T: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(2, T, 8, 3) predicted and true vertices: 4 upper lip, 4 lower lip; truth closed."""
    g = torch.Generator().manual_seed(seed)
    gt = torch.zeros(2, T, 8, 3)
    gt[..., 0] = torch.linspace(-0.01, 0.01, 4).repeat(2)
    gt[:, :, :4, 1] = 0.0005
    pred = gt + 0.002 * torch.randn(gt.shape, generator=g)
    pred[:, :, :4, 1] += 0.004
    return pred, gt


UPPER, LOWER, LIPS = torch.arange(4), torch.arange(4, 8), torch.arange(8)


def _all_terms(pred, gt, weight) -> dict[str, torch.Tensor]:
    return {"rec": reconstruction(pred, gt, weight),
            "lips": lip_reconstruction(pred, gt, LIPS, weight),
            "contact": lip_contact(pred, gt, UPPER, LOWER, weight=weight),
            "vel": velocity(pred, gt, weight)}


def test_losses_ignore_unsupervised_frames_and_follow_supervised_ones() -> None:
    T = 12
    pred, gt = _mouths(T, 0)
    weight = torch.ones(2, T)
    weight[0, 3:8] = 0.0          # speech in crop 0
    weight[1] = 0.0               # a crop with no target at all
    base = _all_terms(pred, gt, weight)
    moved = pred.clone()
    moved[0, 3:8] += 0.01         # wild predictions where there is no target
    moved[1] -= 0.02
    for name, value in _all_terms(moved, gt, weight).items():
        assert value.item() == base[name].item(), name
    in_pause = pred.clone()
    in_pause[0, 9, :4, 1] += 0.01    # the upper lip lifts in a pause
    for name, value in _all_terms(in_pause, gt, weight).items():
        assert value.item() != base[name].item(), name
    # no weights = every frame weighs 1 = the plain means the terms always were
    ones = _all_terms(pred, gt, torch.ones(2, T))
    for name, value in _all_terms(pred, gt, None).items():
        assert value.item() == pytest.approx(ones[name].item(), rel=1e-6), name
    assert reconstruction(pred, gt).item() == pytest.approx(
        ((pred - gt) * 1000).pow(2).sum(-1).mean().item(), rel=1e-6)
    # nothing supervised: zero loss and a zero, finite gradient
    leaf = pred.clone().requires_grad_(True)
    total = sum(_all_terms(leaf, gt, torch.zeros(2, T)).values())
    total.backward()
    assert total.item() == 0.0 and torch.all(leaf.grad == 0)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """The tiny corpus plus one pause-only and one aligned real clip in its train split."""
    root = tmp_path_factory.mktemp("mixed")
    corpus = write_tiny_corpus(root / "corpus", clips_per_voice=2)
    import_aligned_folder(_real_folder(root / "real"), corpus, "train", pauses=True)
    return root, corpus, write_tiny_rig(root / "rig.npz")


def test_a_mixed_batch_trains_with_finite_gradients_and_sync_on_full_clips_only(mixed) -> None:
    root, corpus, rig = mixed
    data = CorpusData(corpus, rig)
    torch.manual_seed(0)
    model = build_model(data.space, 32)
    step_fn = TeacherForcedStep(model, 30)
    pad = max(-step_fn.lo, step_fn.hi) + RATE
    clips = [TrainClip.of(data.load(r), 30, pad) for r in data.items("train")]
    pause_only = [c for c in clips if not c.full]
    assert len(pause_only) == 1 and len(pause_only[0].weight) == len(pause_only[0].motion)
    assert pause_only[0].weight[pause_only[0].frames:].sum() == 0     # padding: no target
    syncnet = SyncNet3D(len(data.space.for_loss().lips)).requires_grad_(False)
    objective = Objective(data.space, build_terms(1.0, 5.0, 0.1, 0, 0, 0.0, 3.0, 1.0), syncnet,
                          torch.device("cpu"))
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)

    only_pauses = sample_batch(pause_only, step_fn, 2, pad, rng, torch.device("cpu"))
    # no rest pose fed back as the previous frame where there is no target: the model's own
    # output (here a stand-in that predicts 1 everywhere) instead, even without sampling
    previous = decoder_inputs(lambda audio, prev: torch.ones_like(prev), only_pauses, 0.0, 1,
                              0.0, gen)
    speech = only_pauses.weight == 0
    assert speech.any() and (~speech).any()
    assert torch.all(previous[speech] == 1.0)
    assert torch.equal(previous[~speech], only_pauses.target[~speech])
    parts = objective.parts(step_fn(only_pauses.audio, previous), only_pauses, 0, gen)
    assert "sync" not in parts and set(parts) == {"rec", "vel", "lips", "contact"}
    # the speech-opening hinge acts on the VAD speech of pause-only crops when it has a weight
    assert only_pauses.speech.sum() > 0 and torch.all(only_pauses.weight[only_pauses.speech > 0] == 0)
    opening = Objective(data.space, build_terms(1.0, 5.0, 0.0, 0, 0, 0.0, 3.0, 1.0, opening=0.5),
                        None, torch.device("cpu"))
    assert "open" in opening.parts(step_fn(only_pauses.audio, previous), only_pauses, 0, gen)

    # crops are drawn by supervised frames: a clip without any is never drawn
    silent = TrainClip.of(data.load(next(r for r in data.items("train") if "x-de" in r["id"])),
                          30, pad)
    silent.weight[:] = 0.0
    full_clip = next(c for c in clips if c.full)
    drawn = sample_batch([silent, full_clip], step_fn, 16, pad, rng, torch.device("cpu"))
    assert all(drawn.full)
    with pytest.raises(UserInputError, match="no training clip"):
        sample_batch([silent], step_fn, 2, pad, rng, torch.device("cpu"))
    # ... unless a speech hinge is on: then its VAD speech is a target and it is drawn
    assert silent.speech.sum() > 0
    hinged = sample_batch([silent, full_clip], step_fn, 64, pad, rng, torch.device("cpu"),
                          speech_has_targets=True)
    assert not all(hinged.full) and any(hinged.full)
    # --pause-weight scales a pause-only clip's rest targets, not a fully supervised clip's
    heavier = [TrainClip.of(data.load(r), 30, pad, pause_weight=3.0) for r in data.items("train")]
    for plain, heavy in zip(clips, heavier):
        assert np.allclose(heavy.weight, plain.weight * (1.0 if plain.full else 3.0))
    assert pause_only[0].weight.max() == 1.0

    batch = sample_batch(clips, step_fn, 8, pad, np.random.default_rng(3), torch.device("cpu"))
    assert not all(batch.full) and any(batch.full)
    model.zero_grad()
    parts = objective.parts(step_fn(batch.audio, batch.target), batch, 0, gen)
    assert "sync" in parts and "open" not in parts          # weight 0: the term is off
    objective.total(parts, 0).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_training_runs_on_a_corpus_with_pause_only_clips(mixed) -> None:
    """SyncNet3D (which leaves pause-only clips out) and the regressor, end to end."""
    root, corpus, rig = mixed
    data = CorpusData(corpus, rig)
    mels, lips = _prepare_sync_data(data, "train", 0, "sync data")
    assert len(mels) == len(lips) == len(data.items("train")) - 1
    train_syncnet(SyncNetConfig(corpus=corpus, out=root / "sync", rig=rig, steps=4, batch=16,
                                val_every=4))
    metrics = train_regressor(RegressorTrainConfig(
        corpus=corpus, out=root / "run", rig=rig, syncnet=root / "sync", steps=2, batch=4,
        crop_frames=30, d_model=32, sync_start=0, sync_full=1, val_every=2, val_clips=1,
        save_every=2))
    assert np.isfinite(metrics["lve"])
