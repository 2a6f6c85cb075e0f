"""External aligned speech: a folder of `name.wav` + `name.tsv` (start, end, ARPAbet phone).

Real recordings with forced-aligned phones (e.g. from an aligner run elsewhere) go through the
same articulatory model as the TTS corpus, so they can be used for evaluation (held-out real
voices) or training. Imported utterances get voice id "external" (or the folder's name) and
land in the corpus layout with their own manifest file. With `pauses`, a wav that has no phones
but a `name.vad.tsv` speech/pause segmentation (`corpus --real-sources` writes one for every
clip) is imported as a pause-only training utterance (`driver.corpus.pause_targets`).
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from driver.audio import MOTION_FPS, SAMPLE_RATE, load_audio
from driver.corpus.articulation import phones_to_motion
from driver.corpus.dataset import PAUSE_SUPERVISION
from driver.corpus.phones import PhoneSegment, pad_to_duration, read_tsv, write_tsv
from driver.speech_activity import Segment, read_segments
from splat.errors import UserInputError


@dataclass
class AlignedUtterance:
    """One wav with phones (full supervision) or, without phones, its VAD `segments`."""

    name: str
    audio: np.ndarray               # float32 mono 16 kHz
    phones: list[PhoneSegment]      # empty for a pause-only utterance
    segments: list[Segment] | None = None

    @property
    def pause_only(self) -> bool:
        return not self.phones


def read_aligned_folder(folder: Path, skip_unaligned: bool = False,
                        pauses: bool = False) -> list[AlignedUtterance]:
    """Every `name.wav` with a matching `name.tsv` (and, with `pauses`, every other one with a
    `name.vad.tsv`); a wav without timings is an error unless `skip_unaligned` (a
    `corpus --real-sources` set has phones for its English clips only)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"aligned-speech folder not found: {folder}")
    wavs = sorted(folder.glob("*.wav"))
    if not wavs:
        raise UserInputError(f"{folder}: no .wav files")
    out = []
    for wav in wavs:
        tsv, vad = wav.with_suffix(".tsv"), wav.with_suffix(".vad.tsv")
        pause_only = not tsv.is_file() and pauses and vad.is_file()
        if not tsv.is_file() and not pause_only and skip_unaligned:
            continue
        if not tsv.is_file() and not pause_only:
            raise UserInputError(f"{wav.name} has no {tsv.name} (start end phone per line)"
                                 + (f" and no {vad.name}" if pauses else ""))
        audio = load_audio(wav)
        duration = len(audio) / SAMPLE_RATE
        if pause_only:
            segments = read_segments(vad)
            if not segments or segments[-1].end > duration + 0.05:
                raise UserInputError(f"{vad}: segments must cover the audio's {duration:.2f} s")
            out.append(AlignedUtterance(wav.stem, audio, [], segments))
            continue
        phones = read_tsv(tsv)
        if phones[-1].end > duration + 0.05:
            raise UserInputError(f"{tsv}: phones run to {phones[-1].end:.2f} s but the audio "
                                 f"lasts {duration:.2f} s")
        out.append(AlignedUtterance(wav.stem, audio, pad_to_duration(phones, duration)))
    return out


@dataclass
class ImportSummary:
    """What an import added (utterances already in the corpus are counted, not re-added)."""

    aligned: int = 0                  # new fully supervised utterances
    aligned_minutes: float = 0.0
    pause_only: int = 0               # new pause-only utterances
    pause_only_minutes: float = 0.0
    supervised_minutes: float = 0.0   # pause frames with weight 1 among the pause-only ones
    already: int = 0                  # found in the corpus manifest, skipped
    languages: dict[str, int] = field(default_factory=dict)   # new utterances per language

    @property
    def utterances(self) -> int:
        return self.aligned + self.pause_only + self.already

    def line(self, corpus: Path) -> str:
        langs = ", ".join(f"{k} {v}" for k, v in sorted(self.languages.items())) or "none"
        return (f"imported into {corpus}: {self.aligned} aligned utterances "
                f"({self.aligned_minutes:.1f} min), {self.pause_only} pause-only "
                f"({self.pause_only_minutes:.1f} min, {self.supervised_minutes:.1f} min of it "
                f"supervised pauses); {self.already} already there; languages: {langs}")


def _languages(folder: Path) -> dict[str, str]:
    """{clip name: language} from the `corpus --real-sources` manifest above the folder
    (OUT/manifest.jsonl for OUT/<split>/<set>/), empty if there is none."""
    from driver.corpus.real_speech import read_manifest

    for root in (folder, folder.parent, folder.parent.parent):
        rows = read_manifest(root)
        if rows:
            return {row["id"]: row.get("language", "?") for row in rows}
    return {}


def import_aligned_folder(folder: Path, corpus: Path, split: str, voice: str = "external",
                          skip_unaligned: bool = False, pauses: bool = False) -> ImportSummary:
    """Copy an aligned folder into the corpus layout (audio, phones or VAD segmentation,
    motion, pause weights, manifest). Pause-only utterances go to the train split only:
    validation and test score every frame against a full trajectory."""
    from driver.corpus.pause_targets import write_pause_targets

    if pauses and split != "train":
        raise UserInputError("pause-only utterances supervise training only: use "
                             "--aligned-split train with --aligned-pauses")
    utterances = read_aligned_folder(folder, skip_unaligned, pauses)
    if not utterances:
        raise UserInputError(f"{folder}: no .wav has a phone .tsv beside it"
                             + (" or a .vad.tsv" if pauses else ""))
    for sub in ("audio", "phones", "motion"):
        (corpus / sub).mkdir(parents=True, exist_ok=True)
    manifest = corpus / f"manifest-{voice}.jsonl"
    known = set()
    if manifest.is_file():
        known = {json.loads(line)["id"] for line in manifest.read_text().splitlines() if line}
    languages = _languages(Path(folder))
    summary = ImportSummary()
    with open(manifest, "a") as f:
        for utt in utterances:
            uid = f"{voice}-{split}-{utt.name}"
            if uid in known:
                summary.already += 1
                continue
            seed = zlib.crc32(uid.encode())
            duration = len(utt.audio) / SAMPLE_RATE
            sf.write(corpus / "audio" / f"{uid}.wav", utt.audio, SAMPLE_RATE, subtype="PCM_16")
            sf.write(corpus / "audio" / f"{uid}.clean.wav", utt.audio, SAMPLE_RATE,
                     subtype="PCM_16")
            record = {"id": uid, "voice": voice, "split": split, "engine": "external",
                      "text": "", "duration": duration, "seed": seed,
                      "source": str(folder / f"{utt.name}.wav")}
            if utt.name in languages:
                record["language"] = languages[utt.name]
            if utt.pause_only:
                weights = write_pause_targets(corpus, uid, duration, utt.segments)
                record["supervision"] = PAUSE_SUPERVISION
                summary.pause_only += 1
                summary.pause_only_minutes += duration / 60
                summary.supervised_minutes += float(weights.sum()) / MOTION_FPS / 60
            else:
                write_tsv(utt.phones, corpus / "phones" / f"{uid}.tsv")
                np.save(corpus / "motion" / f"{uid}.npy",
                        phones_to_motion(utt.phones, duration, seed))
                summary.aligned += 1
                summary.aligned_minutes += duration / 60
            language = languages.get(utt.name, "?")
            summary.languages[language] = summary.languages.get(language, 0) + 1
            f.write(json.dumps(record) + "\n")
    return summary
