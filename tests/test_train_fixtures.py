"""Tiny but geometrically honest fixtures for the training tests: a mouth rig and a corpus.

The rig is a small FLAME-layout mesh (a grid of lip vertices around a mouth line, a chin and
an upper face) whose expression blendshapes carry the default rig's names, with lips that meet
at rest and for `lips_close`, part for `lips_part` and the jaw. It lets corpus, metrics and
training code run end to end in seconds without the procedural head.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from driver.corpus.articulation import phones_to_motion
from driver.corpus.phones import PhoneSegment, write_tsv
from splat.default_rig_spec import EXPRESSION_NAMES
from splat.rig import RigData, save_rig_data


def tiny_rig_data() -> RigData:
    """~100 vertices: 2x(8x4) lip grid, chin row, upper-face row; jaw joint behind the mouth."""
    xs = np.linspace(-0.025, 0.025, 8)
    upper = [(x, 0.0002 + 0.002 * r, 0.09 - 0.001 * r) for r in range(4) for x in xs]
    lower = [(x, -0.0002 - 0.002 * r, 0.09 - 0.001 * r) for r in range(4) for x in xs]
    chin = [(x, -0.01, 0.0) for x in xs]   # the jaw pivot (their mean) sits 9 cm behind
    face = [(x, 0.06, 0.08) for x in xs]
    v = np.array(upper + lower + chin + face, np.float32)
    n_up, n_lo = len(upper), len(lower)
    V = len(v)
    lower_idx = np.arange(n_up, n_up + n_lo)
    upper_idx = np.arange(n_up)
    chin_idx = np.arange(n_up + n_lo, n_up + n_lo + len(chin))
    faces = np.array([[i, i + 1, i + 8] for i in range(V - 9)], np.int64)
    E = len(EXPRESSION_NAMES)
    shapedirs = np.zeros((V, 3, 2 + E), np.float32)
    e = {name: 2 + i for i, name in enumerate(EXPRESSION_NAMES)}
    shapedirs[upper_idx, 1, e["lips_part"]] = 0.003
    shapedirs[lower_idx, 1, e["lips_part"]] = -0.003
    shapedirs[lower_idx, 1, e["lips_close"]] = 0.0045   # undoes the 0.05 rad jaw of p/b/m
    shapedirs[lower_idx, 2, e["lower_lip_tuck"]] = -0.004
    shapedirs[upper_idx, 2, e["lip_pucker"]] = 0.004
    shapedirs[lower_idx, 2, e["lip_pucker"]] = 0.004
    shapedirs[:, 0, e["lip_stretch_L"]] = 0.002 * np.sign(v[:, 0]) * (np.abs(v[:, 1]) < 0.01)
    shapedirs[-8:, 1, e["brow_raise"]] = 0.004
    weights = np.zeros((V, 5), np.float32)
    weights[:, 0] = 1.0
    weights[np.concatenate([lower_idx, chin_idx]), 0] = 0.0
    weights[np.concatenate([lower_idx, chin_idx]), 2] = 1.0
    J = np.zeros((5, V), np.float32)
    J[0, -8:] = 1 / 8
    J[1, -8:] = 1 / 8
    J[2, chin_idx] = 1 / 8          # jaw joint at the chin row's centre, then moved back
    J[3, -8:] = 1 / 8
    J[4, -8:] = 1 / 8
    data = RigData(v_template=v, faces=faces, shapedirs=shapedirs, n_shape=2, n_expr=E,
                   posedirs=np.zeros((V, 3, 36), np.float32), J_regressor=J, weights=weights,
                   kintree_table=np.array([[-1, 0, 1, 1, 1], [0, 1, 2, 3, 4]], np.int64),
                   expr_names=list(EXPRESSION_NAMES), shape_names=["s0", "s1"],
                   masks={"lips": np.arange(n_up + n_lo), "upper_face": np.arange(V - 8, V),
                          "eyes": np.arange(V - 8, V)},
                   rig_id="tiny-test-mouth")
    return data


def write_tiny_rig(path: Path) -> Path:
    save_rig_data(tiny_rig_data(), path)
    return path


def _tone_speech(phones: list[PhoneSegment], rng: np.random.Generator) -> np.ndarray:
    """Audio whose loudness and timbre follow the phones (silence in pauses), 16 kHz."""
    duration = phones[-1].end
    t = np.arange(int(duration * 16000)) / 16000
    audio = np.zeros_like(t)
    for seg in phones:
        if seg.phone == "pau":
            continue
        on = (t >= seg.start) & (t < seg.end)
        f = 150 + 40 * (hash(seg.phone) % 17)
        audio[on] = 0.3 * np.sin(2 * np.pi * f * t[on]) + 0.05 * rng.standard_normal(on.sum())
    return audio.astype(np.float32)


def _random_phones(rng: np.random.Generator) -> list[PhoneSegment]:
    """0.3 s pause, 8-13 phones of 60-160 ms (bilabials, labiodentals, vowels...), 0.4 s pause."""
    inventory = ["aa", "iy", "uw", "m", "b", "p", "f", "v", "t", "s", "ow", "ae", "k", "n"]
    phones, t = [PhoneSegment(0.0, 0.3, "pau")], 0.3
    for _ in range(int(rng.integers(8, 14))):
        d = float(rng.uniform(0.06, 0.16))
        phones.append(PhoneSegment(t, t + d, str(rng.choice(inventory))))
        t += d
    phones.append(PhoneSegment(t, t + 0.4, "pau"))
    return phones


def write_tiny_corpus(folder: Path, per_split: dict[str, list[str]] | None = None,
                      clips_per_voice: int = 3, seed: int = 0) -> Path:
    """A corpus folder (same layout as `main.py corpus`) from random phone strings."""
    per_split = per_split or {"train": ["v-a", "v-b"], "val": ["v-a"], "test": ["v-c"]}
    rng = np.random.default_rng(seed)
    for sub in ("audio", "phones", "motion"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for split, voices in per_split.items():
        for voice in voices:
            for i in range(clips_per_voice):
                uid = f"{voice}-{split}-{i:03d}"
                phones = _random_phones(rng)
                audio = _tone_speech(phones, rng)
                sf.write(folder / "audio" / f"{uid}.wav", audio, 16000, subtype="PCM_16")
                sf.write(folder / "audio" / f"{uid}.clean.wav", audio, 16000, subtype="PCM_16")
                write_tsv(phones, folder / "phones" / f"{uid}.tsv")
                seed_i = int(rng.integers(2**31))
                np.save(folder / "motion" / f"{uid}.npy",
                        phones_to_motion(phones, len(audio) / 16000, seed_i))
                record = {"id": uid, "voice": voice, "split": split, "text": "",
                          "duration": len(audio) / 16000, "seed": seed_i}
                with open(folder / f"manifest-{voice}.jsonl", "a") as f:
                    f.write(json.dumps(record) + "\n")
    return folder


def write_tiny_flame(model_path: Path, masks_path: Path) -> tuple[Path, Path]:
    """The tiny mouth rig as a FLAME pickle (300 identity components, then its 27 expressions)
    and a FLAME_masks.pkl for it: a stand-in for FLAME that the VOCASET path can train on."""
    data = tiny_rig_data()
    V = data.num_verts
    shapedirs = np.concatenate([np.zeros((V, 3, 300), np.float32),
                                data.shapedirs[:, :, data.n_shape:]], axis=2)
    model = {"v_template": data.v_template, "f": data.faces.astype(np.uint32),
             "shapedirs": shapedirs, "posedirs": data.posedirs, "J_regressor": data.J_regressor,
             "weights": data.weights, "kintree_table": data.kintree_table}
    face = data.masks["upper_face"]
    masks = {"lips": data.masks["lips"], "forehead": face[:3], "eye_region": face[3:6],
             "nose": face[6:], "left_eyeball": face[:2], "right_eyeball": face[-2:]}
    for path, content in ((model_path, model), (masks_path, masks)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(content, protocol=2))
    return model_path, masks_path


def write_tiny_vocaset(folder: Path, sentences: dict[str, list[int]] | None = None,
                       seed: int = 0) -> Path:
    """A VOCASET folder in FaceFormer's layout on the tiny rig's topology: articulatory motion of
    random phone strings decoded to vertices, moved onto a per-subject template (scaled head),
    written at 60 fps (each 30 fps frame twice), with tone-speech audio."""
    from driver.corpus.vocaset import SPLIT_SPEAKERS
    from splat.rig import Rig

    sentences = sentences or {SPLIT_SPEAKERS["train"][0]: [1, 2], SPLIT_SPEAKERS["train"][1]: [3],
                              SPLIT_SPEAKERS["val"][0]: [21], SPLIT_SPEAKERS["test"][0]: [22]}
    rng = np.random.default_rng(seed)
    rig = Rig(tiny_rig_data())
    (folder / "vertices_npy").mkdir(parents=True, exist_ok=True)
    (folder / "wav").mkdir(exist_ok=True)
    templates = {}
    for k, (subject, numbers) in enumerate(sentences.items()):
        template = rig.data.v_template * (1.0 + 0.04 * k)
        templates[subject] = template
        for number in numbers:
            phones = _random_phones(rng)
            audio = _tone_speech(phones, rng)
            motion = torch.from_numpy(phones_to_motion(phones, len(audio) / 16000,
                                                      int(rng.integers(2**31))))
            with torch.no_grad():
                verts = rig({"expr": motion[:, :-3], "jaw_pose": motion[:, -3:]}).numpy()
            verts = template + (verts - rig.data.v_template)
            name = f"{subject}_sentence{number:02d}"
            np.save(folder / "vertices_npy" / f"{name}.npy",
                    np.repeat(verts.reshape(len(verts), -1), 2, axis=0))
            sf.write(folder / "wav" / f"{name}.wav", audio, 16000, subtype="PCM_16")
    (folder / "templates.pkl").write_bytes(pickle.dumps(templates, protocol=2))
    return folder
