"""Phone timings for real English recordings, offline, with pocketsphinx's bundled model.

The pocketsphinx wheel ships a US-English acoustic model, the CMU dictionary and a language
model. The recordings come without transcripts, so timings are made in two passes:
0. split the clip at Silero VAD pauses (the alignment search has no optional leading silence),
1. recognise the words of each speech segment (n-gram search),
2. force-align that word sequence (`set_align_text` + `set_alignment`): the phones of the
   recognised words' dictionary pronunciations, with their own start and duration
   (10 ms frames).
Recognition errors become phone errors, so these are *recognised* phones, not a hand-checked
alignment: good enough for where the lips must meet on average, which is what `eval --real`'s
bilabial rate and training targets use them for. Every other language gets only the
speech/pause segmentation of `driver.speech_activity` (`name.vad.tsv`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from driver.audio import SAMPLE_RATE
from driver.corpus.phones import SILENCE, PhoneSegment, merge_silences, normalise_phone, \
    pad_to_duration, write_tsv
from driver.speech_activity import SPEECH, Segment, read_segments, speech_segments, \
    write_segments
from splat.errors import UserInputError

FRAME_S = 0.01            # pocketsphinx's frame rate is 100 frames per second


def sphinx_phone(label: str) -> str:
    """A pocketsphinx phone name as an ARPAbet phone of `driver.corpus.phones` (SIL and the
    filler models +NSN+, +SPN+, +BREATH+... are pauses: nothing is articulated)."""
    if label.upper() == "SIL" or label.startswith("+"):
        return SILENCE
    return normalise_phone(label)


def phones_from_alignment(alignment: list[tuple[str, int, int]], duration: float
                          ) -> list[PhoneSegment]:
    """(phone, start frame, frame count) triples -> padded, merged PhoneSegments."""
    segments = [PhoneSegment(start * FRAME_S, min((start + count) * FRAME_S, duration),
                             sphinx_phone(name))
                for name, start, count in alignment if count > 0 and start * FRAME_S < duration]
    return pad_to_duration(segments, duration) if segments else []


class SphinxAligner:
    """One loaded pocketsphinx decoder, reused for every clip (loading costs about a second)."""

    def __init__(self) -> None:
        self._load()

    def _load(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise UserInputError("phone timings need the 'pocketsphinx' package (pip install "
                                 "'.[real]', i.e. pocketsphinx==5.1.1); it bundles the English model") from exc
        self._decoder = Decoder(loglevel="FATAL")
        self._search = self._decoder.current_search()

    def _decode(self, pcm: bytes) -> None:
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, full_utt=True)
        self._decoder.end_utt()

    def align(self, audio: np.ndarray) -> tuple[str, list[PhoneSegment]]:
        """(recognised words, phone segments covering the clip); ('', []) if nothing was
        recognised."""
        d = self._decoder
        d.activate_search(self._search)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        self._decode(pcm)
        hyp = d.hyp()
        words = hyp.hypstr.strip() if hyp is not None else ""
        if not words:
            return "", []
        try:
            d.set_align_text(words)
            self._decode(pcm)
            d.set_alignment()
            self._decode(pcm)
            alignment = [(phone.name, phone.start, phone.duration)
                         for word in d.get_alignment() for phone in word]
        except RuntimeError:       # the recognised words do not align to the audio
            self._load()           # a failed utterance leaves the decoder unusable
            return words, []
        return words, phones_from_alignment(alignment, len(audio) / SAMPLE_RATE)


def align_speech(aligner: "SphinxAligner", audio: np.ndarray, segments: list[Segment]
                 ) -> tuple[str, list[PhoneSegment]]:
    """Recognise and align each VAD speech segment on its own, so pauses are `pau`.

    pocketsphinx's alignment search has no optional leading silence: a whole clip's first
    phone would start at 0 s and swallow the pause before it. Aligning inside the speech
    segments keeps every phone inside speech."""
    words, phones = [], []
    for seg in segments:
        if seg.label != SPEECH or seg.end - seg.start < 0.1:
            continue
        lo, hi = int(seg.start * SAMPLE_RATE), int(seg.end * SAMPLE_RATE)
        said, part = aligner.align(audio[lo:hi])
        if said:
            words.append(said)
        phones += [PhoneSegment(p.start + seg.start, p.end + seg.start, p.phone) for p in part
                   if p.phone != SILENCE]
    duration = len(audio) / SAMPLE_RATE
    return " ".join(words), pad_to_duration(merge_gaps(phones), duration) if phones else []


def merge_gaps(phones: list[PhoneSegment]) -> list[PhoneSegment]:
    """Fill the gaps between consecutive phones with `pau` (what `write_tsv` readers expect)."""
    out: list[PhoneSegment] = []
    for p in phones:
        if out and p.start > out[-1].end + 1e-6:
            out.append(PhoneSegment(out[-1].end, p.start, SILENCE))
        out.append(p)
    return merge_silences(out)


def write_timings(folder: Path, rows: list[dict]) -> dict[str, int]:
    """Beside every manifest clip under `folder`: `name.vad.tsv` (silero speech/pause) and,
    for English clips, `name.tsv` (recognised phones, the words in a `#` comment line); the
    row records what exists. Test and validation clips go first; clips whose files exist are
    kept (recognition runs at about real time, so an interrupted run resumes).
    Returns counts of each kind."""
    from driver.audio import load_audio

    aligner: SphinxAligner | None = None
    counts = {"vad": 0, "phones": 0}
    order = {"test": 0, "val": 1, "train": 2}
    for row in tqdm(sorted(rows, key=lambda r: order[r["split"]]), desc="timings",
                    unit="clip"):
        wav = Path(folder) / row["path"]
        vad, tsv = wav.with_suffix(".vad.tsv"), wav.with_suffix(".tsv")
        english = row["language"].lower().startswith("en")
        audio = segments = None
        if not vad.is_file():
            audio = load_audio(wav)
            segments = speech_segments(audio)
            write_segments(segments, vad)
        counts["vad"] += 1
        row["timings"] = "silero-vad"
        if english and not tsv.is_file():
            audio = load_audio(wav) if audio is None else audio
            segments = read_segments(vad) if segments is None else segments
            aligner = aligner or SphinxAligner()
            words, phones = align_speech(aligner, audio, segments)
            if phones:
                write_tsv(phones, tsv)
                tsv.write_text(f"# words: {words}\n" + tsv.read_text())
        if english and tsv.is_file():
            first = tsv.read_text().split("\n", 1)[0]
            row.update(timings="pocketsphinx words+phones, silero-vad",
                       words=first.removeprefix("# words: "))
            counts["phones"] += 1
    return counts
