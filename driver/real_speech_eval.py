"""`eval --real`: how a model moves on real recordings that have no motion ground truth.

Without a true trajectory, only what any talking mouth must do can be scored, on the same mesh
for the model and the audio-energy jaw baseline (`driver.evaluate`):
- **silence closure**: share of pause frames at least `MARGIN_S` from speech (speech/pause from
  Silero VAD, `driver.speech_activity`) in which the lips are closed, overall and split by the
  pause's loudness (frame RMS in dB relative to the clip's 95th-percentile frame RMS: reverb
  tails, breaths and room tone are the loud pauses);
- **speech opening**: every VAD speech segment is cut into consecutive `WINDOW_S` (200 ms,
  about a syllable) windows (a remainder shorter than that is dropped); the share of windows in
  which the aperture exceeds `OPEN_MM` on at least one frame (a mouth that stays shut for a
  syllable while someone talks fails; whole VAD segments last seconds, so "opens once per
  segment" would pass almost anything);
- **r(aperture, loudness)**: per clip, Pearson correlation of the aperture with the loudness
  envelope (`driver.evaluate.frame_energy`) at lags -5..+5 frames, averaged over clips; the
  best lag is the argmax of that mean curve (lag > 0: the mouth moves later than the sound);
- **bilabial closure** where a phone `.tsv` lies beside the audio (`driver.metrics` rule).
Aperture = the smallest distance between the upper- and lower-lip vertices in the middle fifth
of the mouth width (`LipGap.from_rig_data(width=0.2)`); closed = below `CLOSED_MM`.
A clip in which the VAD finds no speech is counted but not scored: its loudness has no speech
level to be measured against.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from driver.audio import MOTION_FPS, load_audio
from driver.corpus.phones import PhoneSegment, read_tsv
from driver.evaluate import frame_energy
from driver.metrics import CLOSED_MM, LipGap, bilabial_closures
from driver.motion_space import RigSpace, load_rig, speech_rig
from driver.speech_activity import SPEECH, Segment, read_segments, speech_segments
from driver.streaming import n_frames_for
from splat.errors import UserInputError

MARGIN_S = 0.1
WINDOW_S = 0.2
OPEN_MM = 3.0
APERTURE_WIDTH = 0.2                 # middle fifth of the mouth width
BANDS = ((-np.inf, -40.0), (-40.0, -30.0), (-30.0, np.inf))   # pause loudness, dB re p95
BAND_NAMES = ("< -40 dB", "-40..-30 dB", "> -30 dB")
LAGS = np.arange(-5, 6)
# Least-squares jaw gain of the energy baseline on the synthetic training corpus (`eval` prints
# it; docs/RESULTS.md section 4): used when no corpus is given to refit it.
ENERGY_GAIN = 0.129
METHODS = ("model", "energy jaw")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".opus", ".aiff")


def pause_frames(segments: list[Segment], n_frames: int, fps: float,
                 margin: float = MARGIN_S) -> np.ndarray:
    """(T,) bool: frames at least `margin` s from every speech segment (the clip's edges are
    not speech)."""
    times = np.arange(n_frames) / fps
    far = np.ones(n_frames, bool)
    for seg in segments:
        if seg.label == SPEECH:
            far &= (times < seg.start - margin) | (times >= seg.end + margin)
    return far


def speech_frames(segments: list[Segment], n_frames: int, fps: float) -> np.ndarray:
    """(T,) bool: frames inside a VAD speech segment (where `RealCard`'s speech-opening windows
    lie)."""
    times = np.arange(n_frames) / fps
    inside = np.zeros(n_frames, bool)
    for seg in segments:
        if seg.label == SPEECH:
            inside |= (times >= seg.start) & (times < seg.end)
    return inside


def frame_db(loudness: np.ndarray) -> np.ndarray:
    """dB of `frame_energy`'s RMS relative to the clip's 95th percentile."""
    return 20.0 * np.log10(np.maximum(loudness, 1e-5))


def lagged_correlations(aperture: np.ndarray, loudness: np.ndarray,
                        lags: np.ndarray = LAGS) -> np.ndarray:
    """r(aperture[t + lag], loudness[t]) for each lag; NaN where either side is constant."""
    out = np.full(len(lags), np.nan)
    T = len(aperture)
    for i, lag in enumerate(lags):
        a = aperture[max(lag, 0): T + min(lag, 0)]
        e = loudness[max(-lag, 0): T - max(lag, 0)]
        if len(a) > 2 and np.std(a) > 1e-9 and np.std(e) > 1e-9:
            out[i] = np.corrcoef(a, e)[0, 1]
    return out


@dataclass
class RealCard:
    """One method's counts over clips (merge cards to pool sets)."""

    pause_closed: np.ndarray = field(default_factory=lambda: np.zeros(len(BANDS), int))
    pause_total: np.ndarray = field(default_factory=lambda: np.zeros(len(BANDS), int))
    windows: np.ndarray = field(default_factory=lambda: np.zeros(2, int))     # opened, total
    bilabial: np.ndarray = field(default_factory=lambda: np.zeros(2, int))    # closed, total
    curves: list = field(default_factory=list)
    clips: int = 0
    seconds: float = 0.0
    no_speech: int = 0

    def add(self, aperture_m: np.ndarray, segments: list[Segment], loudness: np.ndarray,
            phones: list[PhoneSegment] | None = None, fps: float = MOTION_FPS) -> None:
        """Score one clip: `aperture_m` (T,) metres, VAD `segments`, `loudness` (T,) from
        `frame_energy`, optional phones."""
        T = len(aperture_m)
        self.clips += 1
        self.seconds += T / fps
        if not any(seg.label == SPEECH for seg in segments):
            self.no_speech += 1        # no speech level to measure pause loudness against
            return
        closed = aperture_m * 1000.0 < CLOSED_MM
        quiet = pause_frames(segments, T, fps)
        db = frame_db(loudness)
        for b, (lo, hi) in enumerate(BANDS):
            sel = quiet & (db >= lo) & (db < hi)
            self.pause_closed[b] += int(np.sum(closed & sel))
            self.pause_total[b] += int(np.sum(sel))
        times = np.arange(T) / fps
        for seg in segments:
            if seg.label != SPEECH:
                continue
            for k in range(int((seg.end - seg.start) / WINDOW_S + 1e-9)):
                lo = seg.start + k * WINDOW_S
                inside = (times >= lo) & (times < lo + WINDOW_S)
                if inside.any():
                    self.windows += (int(np.max(aperture_m[inside]) * 1000.0 > OPEN_MM), 1)
        if phones:
            self.bilabial += bilabial_closures(aperture_m, phones, fps)
        self.curves.append(lagged_correlations(aperture_m, loudness))

    @classmethod
    def merged(cls, cards: "list[RealCard]") -> "RealCard":
        out = cls()
        for c in cards:
            out.pause_closed += c.pause_closed
            out.pause_total += c.pause_total
            out.windows += c.windows
            out.bilabial += c.bilabial
            out.curves += c.curves
            out.clips += c.clips
            out.seconds += c.seconds
            out.no_speech += c.no_speech
        return out

    def result(self) -> dict:
        """Rates (0..1, None where nothing was counted), mean r at lag 0 and the best lag."""
        def rate(num: int, den: int) -> float | None:
            return num / den if den else None

        out: dict = {"clips": self.clips, "minutes": self.seconds / 60,
                     "clips_without_speech": self.no_speech,
                     "silence_closure": rate(int(self.pause_closed.sum()),
                                             int(self.pause_total.sum())),
                     "pause_frames": int(self.pause_total.sum()),
                     "silence_closure_bands": {n: rate(int(c), int(t)) for n, c, t in
                                               zip(BAND_NAMES, self.pause_closed,
                                                   self.pause_total)},
                     "pause_frames_bands": dict(zip(BAND_NAMES, map(int, self.pause_total))),
                     "speech_opening": rate(int(self.windows[0]), int(self.windows[1])),
                     "speech_windows": int(self.windows[1]),
                     "bilabial_closure": rate(int(self.bilabial[0]), int(self.bilabial[1])),
                     "bilabials": int(self.bilabial[1])}
        curves = np.array(self.curves) if self.curves else np.zeros((0, len(LAGS)))
        valid = ~np.isnan(curves).any(axis=1) if len(curves) else np.zeros(0, bool)
        if valid.any():
            mean = curves[valid].mean(axis=0)
            out.update(r_lag0=float(mean[list(LAGS).index(0)]),
                       best_lag=int(LAGS[int(np.argmax(mean))]), r_best=float(mean.max()),
                       r_clips=int(valid.sum()))
        return out


def find_sets(folder: Path) -> dict[str, list[Path]]:
    """{set name: audio files}: each sub-folder holding audio is a set; audio directly in
    `folder` is the set named after it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"real-speech folder not found: {folder}")
    sets: dict[str, list[Path]] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file():
            parent = path.parent
            name = folder.name if parent == folder else str(parent.relative_to(folder))
            sets.setdefault(name, []).append(path)
    if not sets:
        raise UserInputError(f"{folder}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
    return sets


@torch.no_grad()
def evaluate_real(folder: Path, checkpoint: Path, rig: Path | None = None,
                  energy_gain: float = ENERGY_GAIN, max_clips: int = 0,
                  plot_clip: str | None = None) -> tuple[dict, dict | None]:
    """Per set and pooled RealCard results of the model (no gate) and the energy jaw, and the
    curves of one clip for `plot_real_example` (`plot_clip`: a file stem, default the first;
    the example is None when no such clip was scored)."""
    from driver.checkpoint import NEEDS_ITS_RIG
    from driver.motion_source import open_motion

    full = RigSpace(load_rig(rig))
    opened = open_motion(checkpoint, full.data, device="cpu", remedy=NEEDS_ITS_RIG)
    model = opened.model
    full.check_model(model.config, f"checkpoint {opened.folder}")
    model.eval()
    space = RigSpace(speech_rig(full.data, every=full.data.num_verts))   # exact, mouth only
    gap = LipGap.from_rig_data(space.data, width=APERTURE_WIDTH)
    sets = find_sets(folder)
    cards = {s: {m: RealCard() for m in METHODS} for s in sets}
    files = [(s, p) for s, paths in sets.items() for p in paths]
    if max_clips:
        files = files[:max_clips]
    example: dict | None = None
    wanted = plot_clip if plot_clip is not None else (files[0][1].stem if files else None)
    for set_name, path in tqdm(files, desc="eval real", unit="clip"):
        audio = load_audio(path)
        T = n_frames_for(len(audio), MOTION_FPS)
        loudness = frame_energy(audio, T)
        vad = path.with_suffix(".vad.tsv")           # written by `corpus --real-sources`
        segments = read_segments(vad) if vad.is_file() else speech_segments(audio)
        tsv = path.with_suffix(".tsv")
        phones = read_tsv(tsv) if tsv.is_file() else None
        motions = {"model": model.infer(torch.from_numpy(audio)[None], T)[0].numpy(),
                   "energy jaw": space.jaw_motion(energy_gain * loudness, "")}
        apertures = {}
        for name, motion in motions.items():
            verts = space.vertices(torch.as_tensor(motion, dtype=torch.float32)[None], [""])[0]
            apertures[name] = gap.gaps(verts)
            cards[set_name][name].add(apertures[name], segments, loudness, phones)
        if path.stem == wanted:
            example = {"clip": path.stem, "set": set_name, "aperture": apertures,
                       "db": frame_db(loudness), "segments": segments, "phones": phones or []}
    used = {s for s, _ in files}
    table: dict = {"sets": {s: {m: cards[s][m].result() for m in METHODS} for s in sorted(used)},
                   "pooled": {m: RealCard.merged([cards[s][m] for s in used]).result()
                              for m in METHODS}}
    table["_info"] = {"folder": str(folder), "checkpoint": str(checkpoint),
                      "energy_gain": energy_gain, "aperture": "middle fifth of the mouth width",
                      "closed_mm": CLOSED_MM, "open_mm": OPEN_MM, "margin_s": MARGIN_S}
    return table, example


def plot_real_example(example: dict, path: Path) -> None:
    """A real voice's mouth aperture (model and energy jaw) over its loudness, pauses shaded:
    what the table's silence closure and r(aperture, loudness) summarise, on one clip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    db = example["db"]
    t = np.arange(len(db)) / MOTION_FPS
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
    ax1.plot(t, db, color="k", lw=1.0)
    ax1.set_ylabel("loudness (dB re p95)")
    ax1.set_ylim(-70, 10)
    for lo, _ in BANDS[1:]:
        ax1.axhline(lo, color="grey", ls=":", lw=0.8)
    for name, colour, width in (("model", "tab:red", 1.6), ("energy jaw", "tab:blue", 1.0)):
        ax2.plot(t, example["aperture"][name] * 1000, color=colour, lw=width, label=name)
    quiet = pause_frames(example["segments"], len(db), MOTION_FPS)
    for ax in (ax1, ax2):
        ax.fill_between(t, 0, 1, where=quiet, transform=ax.get_xaxis_transform(),
                        color="tab:green", alpha=0.12, lw=0)
    for seg in example["phones"]:
        if seg.phone in ("p", "b", "m"):
            ax2.axvspan(seg.start, seg.end, color="orange", alpha=0.3, lw=0)
    ax2.axhline(CLOSED_MM, color="grey", ls="--", lw=0.8)
    ax2.set_ylabel("lip aperture (mm)")
    ax2.set_xlabel("time (s)")
    ax2.legend(loc="upper right", fontsize=8)
    ax1.set_title(f"real voice {example['clip']} ({example['set']}); green: pauses >= "
                  f"{MARGIN_S * 1000:.0f} ms from speech (silero-vad); dotted: -40/-30 dB bands; "
                  f"dashed: closed < {CLOSED_MM} mm"
                  + ("; orange: p/b/m" if example["phones"] else ""), fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def format_real_table(table: dict) -> str:
    """Markdown: one row per set and method, then the pooled rows."""
    head = ("| set | method | clips | min | silence closure | " + " | ".join(BAND_NAMES)
            + " | speech opening | r(aperture, loudness) | best lag | bilabial closure |")
    lines = [head, "|---|---|" + "---|" * 10]
    rows = [(s, r) for s, r in table["sets"].items()] + [("pooled", table["pooled"])]
    for set_name, methods in rows:
        for method in METHODS:
            r = methods[method]
            bands = " | ".join(_pct(r["silence_closure_bands"][b]) for b in BAND_NAMES)
            lag = f"{r['best_lag']:+d}" if "best_lag" in r else "–"
            corr = f"{r['r_lag0']:.2f}" if "r_lag0" in r else "–"
            bil = (f"{_pct(r['bilabial_closure'])} ({r['bilabials']})"
                   if r["bilabials"] else "–")
            lines.append(f"| {set_name} | {method} | {r['clips']} | {r['minutes']:.1f} | "
                         f"{_pct(r['silence_closure'])} | {bands} | {_pct(r['speech_opening'])}"
                         f" | {corr} | {lag} | {bil} |")
    info = table["_info"]
    lines.append(f"\naperture: {info['aperture']}, closed < {info['closed_mm']} mm, opened > "
                 f"{info['open_mm']} mm; pauses >= {info['margin_s'] * 1000:.0f} ms from "
                 f"silero-vad speech; energy-jaw gain {info['energy_gain']:.3f} rad")
    return "\n".join(lines)
