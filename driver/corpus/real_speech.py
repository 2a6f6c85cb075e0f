"""Real recorded human speech from Debian packages: fetch, convert, group, split, describe.

Why: the TTS corpus has no real voice, room or microphone in it. The packages below ship
recordings of people (telephony prompts, ham-radio and codec test speech, words and letters
recorded by KDE translators, Mandarin syllables) under free licences, so they install with the
ordinary client (`apt-get download` + `dpkg-deb -x`, no root needed for either) and the set can
be rebuilt anywhere from its package names. Nothing here downloads from anywhere else.

Each output clip is 16 kHz mono PCM wav. Short recordings of one speaker are joined in their
package order into clips of about `MIN_CLIP_S` (their own leading/trailing room tone becomes
the pauses between them); long ones are cut at their quietest point near `MAX_CLIP_S`.
Splits are by whole speaker (KDE: by language, since one volunteer recorded a language in both
KDE packages), so a test speaker or a test source never appears in training.

Layout of the output folder: `<split>/<set>/<clip>.wav`, `manifest.jsonl` (one line per clip:
source package and version, licence, provenance, speaker, sex and how it is known, language,
duration, member files), and `licences/<package>.copyright` (each package's own copyright file,
which the attribution clauses of CC-BY/CC-BY-SA ask to keep with the audio).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from fnmatch import fnmatch
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from driver.audio import SAMPLE_RATE, AudioError, load_audio
from splat.errors import UserInputError
from splat.user_dirs import cache_dir

MIN_CLIP_S = 6.0          # join short recordings of one speaker up to at least this long
MAX_CLIP_S = 16.0         # cut longer recordings into pieces of about this length
SPLITS = ("train", "val", "test")
# Package members that are not a voice: asterisk's silence files, beeps and tones, the
# screaming monkeys of its "tt-monkeys" prompt, and two codec2 off-air modem recordings
# (david4, vk2tpm_004: steady 1-3 kHz signal, no voicing, no Silero speech).
NOT_SPEECH = ("*/silence/*", "*/beep*", "*-2tone*", "*/tt-monkeys.*", "*/david4.wav",
              "*/vk2tpm_004.wav")

# KDE languages: one split per language across klettres and ktuberling (the same volunteer
# may have recorded a language for both; their estimated sexes show that often they did not,
# so the speaker ids are per package).
KDE_SPLIT = {"de": "test", "en_GB": "test", "nl": "test", "pt_BR": "test", "ru": "test",
             "el": "test", "sl": "test", "cs": "val", "da": "val", "gl": "val"}
# codec2's speech samples: one recording per speaker (call signs / sample names).
CODEC2_VAL = {"cross", "hts2a", "kristoff", "morig", "vk5qi"}
CODEC2_SEX = {"forig": "f", "f2400": "f", "morig": "m", "m2400": "m"}


@dataclass(frozen=True)
class Package:
    """One Debian package that ships recordings, and what its copyright file says of them."""

    name: str
    licence: str
    provenance: str


@dataclass(frozen=True)
class Group:
    """Recordings of one speaker inside a package: a glob, and who/what/where they are."""

    package: str
    pattern: str                  # glob relative to the unpacked package root
    set: str                      # output set (subfolder) name
    speaker: str
    language: str                 # BCP-47-ish tag
    sex: str                      # "f", "m" or "" (estimated from F0 later)
    split: str


PACKAGES = {p.name: p for p in [
    Package("asterisk-core-sounds-en-wav", "CC-BY-SA-3.0",
            "Asterisk core prompts, en-US, recorded by Allison Smith (Digium)"),
    Package("asterisk-core-sounds-es-wav", "CC-BY-SA-3.0",
            "Asterisk core prompts, es-MX, recorded by Allison Smith (Digium)"),
    Package("asterisk-core-sounds-fr-wav", "CC-BY-SA-3.0",
            "Asterisk core prompts, fr-CA, recorded by June Wallack"),
    Package("asterisk-core-sounds-it-wav", "CC-BY-3.0",
            "Asterisk core prompts, it-IT, recorded by Carlo Flora"),
    Package("asterisk-core-sounds-ru-wav", "CC-BY-3.0",
            "Asterisk core prompts, ru-RU, provided by Maxim Topal (ivrvoice.ru)"),
    Package("asterisk-prompt-it-menardi-wav", "CC-BY-SA-3.0-IT",
            "Italian Asterisk prompts by Marco Menardi and Paola Dal Zot"),
    Package("asterisk-prompt-fr-armelle", "BSD-style (Michel Gutierrez 2006)",
            "French Asterisk prompts, voice actor Armelle Desjardins"),
    Package("asterisk-prompt-es-co", "GPL-2",
            "Colombian Spanish Asterisk prompts by Avatar Ltda. / July E. Jimenez"),
    Package("codec2-examples", "LGPL-2.1",
            "codec2 speech test samples (David Rowe; ham-radio and lab recordings)"),
    Package("klettres-data", "GPL-2+", "KLettres letters and syllables recorded by KDE "
                                       "translators (one speaker per language)"),
    Package("ktuberling-data", "GPL-2+", "KTuberling object names recorded by KDE translators"),
    Package("gcin-voice", "GPL-3/LGPL-3 (voice 3), CC-BY-3.0 (voice 5)",
            "gcin Mandarin syllables, voice 3 by Edward Der-Hua Liu, voice 5 by Chu Lo"),
    Package("alsa-utils", "GPL-2", "ALSA speaker-test channel names (one voice)"),
]}


def _asterisk_groups() -> list[Group]:
    a = "usr/share/asterisk/sounds"
    return [
        Group("asterisk-core-sounds-en-wav", f"{a}/en_US_f_Allison/**/*.wav", "asterisk",
              "asterisk-allison", "en-US", "f", "train"),
        Group("asterisk-core-sounds-es-wav", f"{a}/es_MX_f_Allison/**/*.wav", "asterisk",
              "asterisk-allison", "es-MX", "f", "train"),
        Group("asterisk-core-sounds-fr-wav", f"{a}/fr_CA_f_June/**/*.wav", "asterisk",
              "asterisk-june", "fr-CA", "f", "train"),
        Group("asterisk-prompt-it-menardi-wav", f"{a}/it_IT_f_Menardi/**/*.wav", "asterisk",
              "asterisk-menardi", "it-IT", "f", "train"),
        Group("asterisk-prompt-fr-armelle", f"{a}/fr/**/*.gsm", "asterisk", "asterisk-armelle",
              "fr-FR", "f", "train"),
        Group("asterisk-prompt-es-co", f"{a}/es/**/*.gsm", "asterisk", "asterisk-july",
              "es-CO", "f", "train"),
        Group("asterisk-core-sounds-ru-wav", f"{a}/ru_RU_f_IvrvoiceRU/**/*.wav", "asterisk",
              "asterisk-ivrvoice-ru", "ru-RU", "f", "val"),
        Group("asterisk-core-sounds-it-wav", f"{a}/it_IT_m_Carlo/**/*.wav", "asterisk",
              "asterisk-carlo", "it-IT", "m", "test"),
    ]


def _codec2_groups(root: Path) -> list[Group]:
    """One group per speech sample (wav/ without the 57 s `all.wav` compilation, plus the
    raw/ speakers that have no wav twin)."""
    share = root / "codec2-examples" / "usr/share/codec2"
    if not share.is_dir():
        return []
    names = sorted(p.stem for p in (share / "wav").glob("*.wav") if p.stem != "all")
    groups = [Group("codec2-examples", f"usr/share/codec2/wav/{n}.wav", "codec2", f"codec2-{n}",
                    "en", CODEC2_SEX.get(n, ""), "val" if n in CODEC2_VAL else "test")
              for n in names]
    for n in ("cq_ref", "g3plx", "kristoff"):
        groups.append(Group("codec2-examples", f"usr/share/codec2/raw/{n}.raw", "codec2",
                            f"codec2-{n}", "en", "", "val" if n in CODEC2_VAL else "test"))
    groups.append(Group("codec2-examples", "usr/share/codec2/raw/speech_orig_16k.wav", "codec2",
                        "codec2-speech_orig", "en", "", "test"))
    return groups


def _kde_groups(root: Path) -> list[Group]:
    groups = []
    for package, base, short in (("klettres-data", "usr/share/klettres", "klettres"),
                                 ("ktuberling-data", "usr/share/ktuberling/sounds",
                                  "ktuberling")):
        if not (root / package / base).is_dir():
            continue
        for lang_dir in sorted((root / package / base).iterdir()):
            lang = lang_dir.name
            if not lang_dir.is_dir() or "@" in lang:   # sr@latin etc. repeat the sr recordings
                continue
            if not any(lang_dir.rglob("*.ogg")):
                continue
            groups.append(Group(package, f"{base}/{lang}/**/*.ogg", "kde", f"{short}-{lang}",
                                lang.replace("_", "-"), "", KDE_SPLIT.get(lang, "train")))
    return groups


def _other_groups() -> list[Group]:
    return [Group("gcin-voice", "usr/share/gcin-voice/ogg/*/3.ogg", "gcin", "gcin-3", "zh-TW", "",
                  "train"),
            Group("gcin-voice", "usr/share/gcin-voice/ogg/*/5.ogg", "gcin", "gcin-5", "zh-TW", "",
                  "train"),
            Group("alsa-utils", "usr/share/sounds/alsa/[FRS]*.wav", "alsa", "alsa-voice", "en",
                  "", "train")]


def all_groups(root: Path) -> list[Group]:
    """Every speaker group of the unpacked packages under `root` (one folder per package;
    packages not unpacked there contribute no per-file groups)."""
    return _asterisk_groups() + _codec2_groups(root) + _kde_groups(root) + _other_groups()


def default_cache() -> Path:
    """The user's cache folder for downloaded packages (splat.user_dirs:
    $XDG_CACHE_HOME/talking-splat/real-speech on Linux)."""
    return cache_dir("real-speech")


def fetch_packages(cache: Path, names: list[str]) -> dict[str, str]:
    """Download (if not cached) and unpack each Debian package into `cache/<name>/`;
    returns the package versions. Needs `apt-get` (an up-to-date package list) and `dpkg-deb`."""
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise UserInputError(f"real speech comes from Debian packages: '{tool}' not found")
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    versions = {}
    for name in names:
        found = sorted(debs.glob(f"{name}_*.deb"))
        if not found:
            run = subprocess.run(["apt-get", "download", name], cwd=debs, capture_output=True,
                                 text=True)
            found = sorted(debs.glob(f"{name}_*.deb"))
            if run.returncode != 0 or not found:
                raise UserInputError(f"apt-get download {name} failed (run 'apt-get update' "
                                     f"first?): {run.stderr.strip().splitlines()[-1:]}")
        deb = found[-1]
        unpacked = cache / name
        if not (unpacked / ".unpacked").is_file():
            shutil.rmtree(unpacked, ignore_errors=True)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
            (unpacked / ".unpacked").write_text(deb.name)
        versions[name] = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True,
                                        capture_output=True, text=True).stdout.strip()
    return versions


def _read_member(path: Path) -> np.ndarray:
    """A packaged recording as 16 kHz mono float32 (codec2's .raw files are 8 kHz s16le)."""
    if path.suffix == ".raw":
        from driver.audio import to_mono_16k

        return to_mono_16k(np.fromfile(path, "<i2"), 8000, name=str(path))
    return load_audio(path)


def _quietest_cut(audio: np.ndarray, lo: int, hi: int, window: int = 800) -> int:
    """Sample index of the quietest 50 ms window centre in [lo, hi) (where to cut a long take)."""
    seg = audio[lo:hi]
    n = len(seg) // window
    energy = (seg[:n * window].reshape(n, window) ** 2).mean(axis=1)
    return lo + int(np.argmin(energy)) * window + window // 2


def group_clips(members: list[tuple[str, np.ndarray]], min_s: float = MIN_CLIP_S,
                max_s: float = MAX_CLIP_S) -> Iterator[tuple[list[str], np.ndarray]]:
    """Join short recordings (in order) into clips of >= `min_s`; cut those over `max_s` at
    their quietest point between 0.6 and 1.0 x `max_s`. Yields (member names, audio)."""
    pending: list[tuple[str, np.ndarray]] = []

    def joined() -> tuple[list[str], np.ndarray]:
        return [n for n, _ in pending], np.concatenate([a for _, a in pending])

    for name, audio in members:
        while len(audio) > max_s * SAMPLE_RATE:
            cut = _quietest_cut(audio, int(0.6 * max_s * SAMPLE_RATE), int(max_s * SAMPLE_RATE))
            yield [name], audio[:cut]
            audio = audio[cut:]
        pending.append((name, audio))
        if sum(len(a) for _, a in pending) >= min_s * SAMPLE_RATE:
            yield joined()
            pending = []
    if pending:
        yield joined()


def median_f0(audio: np.ndarray) -> float | None:
    """Median F0 (Hz) over voiced 40 ms frames by normalised autocorrelation (60-400 Hz), or
    None without voiced frames. Used only to label a speaker's likely sex when no document
    says it."""
    frame, hop = 640, 320
    n = (len(audio) - frame) // hop
    if n <= 0:
        return None
    idx = np.arange(frame)[None] + hop * np.arange(n)[:, None]
    x = audio[idx] * np.hanning(frame)
    rms = np.sqrt((x**2).mean(axis=1))
    loud = rms > 0.1 * np.percentile(rms, 95)
    lags = np.arange(SAMPLE_RATE // 400, SAMPLE_RATE // 60)
    spec = np.fft.rfft(x[loud], 2 * frame)
    ac = np.fft.irfft(np.abs(spec) ** 2)[:, :frame]
    ac = ac / np.maximum(ac[:, :1], 1e-12)
    best = lags[np.argmax(ac[:, lags], axis=1)]
    voiced = ac[np.arange(len(best)), best] > 0.5
    if not voiced.any():
        return None
    return float(np.median(SAMPLE_RATE / best[voiced]))


def sex_from_f0(f0: float | None) -> str:
    """'f' above 165 Hz median F0, 'm' below, '' when unknown (adult voices overlap little
    there; children's voices would read as 'f')."""
    if f0 is None:
        return ""
    return "f" if f0 > 165.0 else "m"


def build_real_speech(out: Path, cache: Path, min_s: float = MIN_CLIP_S,
                      packages: list[str] | None = None) -> list[dict]:
    """Fetch the packages, write every clip and `manifest.jsonl`; returns the manifest rows.

    `packages` limits the build to some package names (default: all of `PACKAGES`); clips of
    other packages from an earlier build in `out` are kept."""
    names = list(PACKAGES) if packages is None else packages
    unknown = sorted(set(names) - set(PACKAGES))
    if unknown:
        raise UserInputError(f"unknown real-speech package(s) {unknown}; known: "
                             f"{', '.join(PACKAGES)}")
    versions = fetch_packages(cache, names)
    out.mkdir(parents=True, exist_ok=True)
    (out / "licences").mkdir(exist_ok=True)
    for name in names:
        copyright_file = next((cache / name).glob("usr/share/doc/*/copyright"), None)
        if copyright_file is not None:
            shutil.copyfile(copyright_file, out / "licences" / f"{name}.copyright")
    previous = read_manifest(out)
    before = {row["id"]: row["members"] for row in previous}
    rows = [row for row in previous if row["package"] not in names]   # other packages stay
    for group in all_groups(cache):
        if group.package not in names:
            continue
        root = cache / group.package
        files = [p for p in sorted(root.glob(group.pattern))
                 if not any(fnmatch(str(p.relative_to(root)), x) for x in NOT_SPEECH)]
        members = []
        for path in files:
            try:
                members.append((str(path.relative_to(root)), _read_member(path)))
            except AudioError:
                continue      # a recording shorter than one frame: nothing to learn from
        if not members:
            continue
        sex, basis = group.sex, "documented"
        if not sex:
            sex = sex_from_f0(median_f0(np.concatenate([a for _, a in members])))
            basis = "median F0" if sex else "unknown"
        folder = out / group.split / group.set
        folder.mkdir(parents=True, exist_ok=True)
        package = PACKAGES[group.package]
        lang_tag = group.language.split("-")[0].lower()
        for k, (parts, audio) in enumerate(group_clips(members, min_s)):
            clip_id = f"{group.speaker}-{lang_tag}-{k:04d}"
            if before.get(clip_id) != parts:       # new audio: its old timings are wrong
                for stale in (".tsv", ".vad.tsv"):
                    (folder / f"{clip_id}{stale}").unlink(missing_ok=True)
            sf.write(folder / f"{clip_id}.wav", audio, SAMPLE_RATE, subtype="PCM_16")
            rows.append({"id": clip_id, "split": group.split, "set": group.set,
                         "path": f"{group.split}/{group.set}/{clip_id}.wav",
                         "speaker": group.speaker, "sex": sex, "sex_basis": basis,
                         "language": group.language, "duration": len(audio) / SAMPLE_RATE,
                         "package": group.package, "version": versions[group.package],
                         "licence": package.licence, "provenance": package.provenance,
                         "members": parts})
    _remove_orphans(out, {row["id"] for row in rows})
    write_manifest(out, rows)
    return rows


def _remove_orphans(out: Path, ids: set[str]) -> None:
    """Delete clips (and their timings) of an earlier build that this build no longer makes."""
    for split in SPLITS:
        for path in sorted((out / split).glob("*/*")):
            stem = path.name.split(".")[0]
            if stem not in ids:
                path.unlink()


def write_manifest(folder: Path, rows: list[dict]) -> None:
    """`folder/manifest.jsonl`, one JSON object per clip."""
    with open(Path(folder) / "manifest.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_manifest(folder: Path) -> list[dict]:
    """The rows of `folder/manifest.jsonl` (empty when the folder has none)."""
    path = Path(folder) / "manifest.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarise(rows: list[dict]) -> list[dict]:
    """Per split and set: clips, minutes, speakers (f/m/unknown), languages, packages."""
    table: dict[tuple[str, str], dict] = {}
    for row in rows:
        entry = table.setdefault((row["split"], row["set"]), {
            "split": row["split"], "set": row["set"], "clips": 0, "minutes": 0.0,
            "speakers": {}, "languages": set(), "packages": set()})
        entry["clips"] += 1
        entry["minutes"] += row["duration"] / 60
        entry["speakers"][row["speaker"]] = row["sex"] or "?"
        entry["languages"].add(row["language"])
        entry["packages"].add(row["package"])
    order = {s: i for i, s in enumerate(SPLITS)}
    out = []
    for key in sorted(table, key=lambda k: (order[k[0]], k[1])):
        e = table[key]
        sexes = list(e["speakers"].values())
        out.append({**e, "speakers": len(sexes), "female": sexes.count("f"),
                    "male": sexes.count("m"), "languages": sorted(e["languages"]),
                    "packages": sorted(e["packages"])})
    return out

