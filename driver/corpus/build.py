"""Corpus generation: a plan of (voice, sentence, rate, pitch) utterances, synthesised in rounds.

Layout under the corpus folder (one line per utterance in `manifest-<voice>.jsonl`):
  audio/<id>.wav        microphone-like audio the model hears (16 kHz PCM16)
  audio/<id>.clean.wav  the engine's clean audio (for on-the-fly augmentation or inspection)
  phones/<id>.tsv       start, end, ARPAbet phone (engine timings)
  motion/<id>.npy       rig parameters at 30 fps (written by `driver.corpus.motion_files`)
With the "robust" acoustics profile (`driver.corpus.acoustics`), training and validation
utterances are rendered through rooms, talker and background noises and devices, with longer
pauses; their clean audio and phones then follow the edited timeline. Test utterances always
get the standard chain, so the held-out split is the same under either profile.
Rounds interleave all voices, so a corpus interrupted early is still balanced and usable, and
a rerun skips utterances already on disk.
"""
from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from driver.audio import SAMPLE_RATE
from driver.corpus.acoustics import robust_augment
from driver.corpus.augment import augment
from driver.corpus.phones import write_tsv
from driver.corpus.splits import split_of_voice
from driver.corpus.text import LENGTH_WORDS, make_sentence
from driver.corpus.tts import ESPEAK_VARIANTS, FIXED_F0_VOICES, Synthesiser, Voice
from splat.errors import UserInputError


@dataclass(frozen=True)
class UtteranceSpec:
    """Everything needed to synthesise one utterance deterministically."""

    id: str
    voice: Voice
    split: str
    text: str
    rate: float
    pitch: float
    augment: bool
    seed: int


# Every flite/festival training voice is male, and espeak's female variants are formant
# synthesis: without a raised-F0 share of natural-sounding speech a model fails on real
# female voices (it closed 39 % of bilabials of the held-out female flite voice). The extra
# draw comes last, so every other field, and the test split, stay as they were.
HIGH_PITCH_SHARE = 0.35
HIGH_PITCH_RANGE = (1.5, 2.2)


def _spec(voice: Voice, split: str, index: int, taken: set[str], seed: int) -> UtteranceSpec:
    rng = random.Random(f"{seed}:{voice.id}:{split}:{index}")
    sentence_set = "test" if split == "test" else "train"
    while True:
        text = make_sentence(rng, rng.choice(LENGTH_WORDS))
        if split != "test" or text not in taken:
            break
    name = voice.name
    if voice.engine == "espeak":
        variant = rng.choice(ESPEAK_VARIANTS)
        name = f"{name}+{variant}" if variant else name
    rate, pitch = round(rng.uniform(0.8, 1.25), 3), round(rng.uniform(0.8, 1.25), 3)
    augment, utterance_seed = rng.random() < 0.85, rng.randrange(2**31)
    if (voice.engine != "espeak" and voice.name not in FIXED_F0_VOICES and split != "test"
            and rng.random() < HIGH_PITCH_SHARE):
        pitch = round(rng.uniform(*HIGH_PITCH_RANGE), 3)
    return UtteranceSpec(
        id=f"{voice.id}-{sentence_set if split != 'val' else 'val'}-{index:04d}",
        voice=Voice(voice.engine, name), split=split, text=text, rate=rate, pitch=pitch,
        augment=augment, seed=utterance_seed)


def make_plan(voices: list[Voice], per_train_voice: int, per_val_voice: int,
              per_test_voice: int, rounds: int, seed: int = 0) -> list[list[UtteranceSpec]]:
    """Utterances grouped in `rounds` shards; test-set sentences never equal a training one."""
    quotas = {}
    for voice in voices:
        if split_of_voice(voice.id) == "test":
            quotas[voice] = {"test": per_test_voice}
        else:
            quotas[voice] = {"train": per_train_voice, "val": per_val_voice}
    train_texts = {_spec(v, s, i, set(), seed).text for v, q in quotas.items()
                   for s, n in q.items() if s != "test" for i in range(n)}
    plan: list[list[UtteranceSpec]] = [[] for _ in range(rounds)]
    for voice, quota in quotas.items():
        for split, count in quota.items():
            for index in range(count):
                plan[index * rounds // max(count, 1)].append(
                    _spec(voice, split, index, train_texts, seed))
    return plan


def _voice_base_id(spec: UtteranceSpec) -> str:
    """The voice id without the per-utterance espeak timbre variant (splits are by base voice)."""
    return Voice(spec.voice.engine, spec.voice.name.split("+")[0]).id


ACOUSTICS = ("standard", "robust")
ROBUST_STREAM = 1   # the robust chain's generator: np.random.default_rng([seed, ROBUST_STREAM])


def synthesise(spec: UtteranceSpec, out: Path, synth: Synthesiser,
               acoustics: str = "standard") -> dict:
    """Synthesise, augment and store one utterance; returns its manifest record."""
    speech = synth.speak(spec.voice, spec.text, spec.rate, spec.pitch)
    clean = speech.audio / max(1e-3, float(np.max(np.abs(speech.audio)))) * 0.7
    phones = speech.phones
    steps: list[str] = []
    heard = clean
    robust = acoustics == "robust" and spec.split != "test"
    if spec.augment and robust:
        rendering = robust_augment(clean, phones, np.random.default_rng([spec.seed, ROBUST_STREAM]))
        heard, clean, phones, steps = rendering.audio, rendering.dry, rendering.phones, rendering.steps
    elif spec.augment:
        heard, info = augment(clean, np.random.default_rng(spec.seed))
        steps = info.steps
    sf.write(out / "audio" / f"{spec.id}.wav", heard, SAMPLE_RATE, subtype="PCM_16")
    sf.write(out / "audio" / f"{spec.id}.clean.wav", clean, SAMPLE_RATE, subtype="PCM_16")
    write_tsv(phones, out / "phones" / f"{spec.id}.tsv")
    record = asdict(spec)
    record.update(voice=_voice_base_id(spec), engine=spec.voice.engine,
                  engine_voice=spec.voice.name, duration=len(clean) / SAMPLE_RATE,
                  augmentation=steps)
    if robust:
        record["acoustics"] = acoustics
    return record


def generate(out: Path, plan: list[list[UtteranceSpec]], progress: bool = True,
             acoustics: str = "standard") -> int:
    """Synthesise every planned utterance not already in a manifest; returns how many were made."""
    for sub in ("audio", "phones", "motion"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    records = [json.loads(line) for path in out.glob("manifest-*.jsonl")
               for line in path.read_text().splitlines() if line.strip()]
    mixed = {r.get("acoustics", "standard") for r in records if r["split"] != "test"} - {acoustics}
    if mixed:
        raise UserInputError(f"{out} holds {sorted(mixed)[0]!r} utterances; build the "
                             f"{acoustics!r} profile into another --out folder")
    done = {r["id"] for r in records}
    todo = [spec for shard in plan for spec in shard if spec.id not in done]
    synth = Synthesiser()
    made = 0
    for spec in tqdm(todo, desc="corpus", unit="utt", disable=not progress):
        record = synthesise(spec, out, synth, acoustics)
        with open(out / f"manifest-{record['voice']}.jsonl", "a") as manifest:
            manifest.write(json.dumps(record) + "\n")
        made += 1
    return made
