"""`python main.py corpus`: build the synthetic audio-visual corpus (or refresh its motion)."""
from __future__ import annotations

import argparse
from pathlib import Path

from splat.errors import UserInputError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "corpus", help="Build the synthetic audio-visual training corpus.",
        description="Synthesise phonetically rich sentences with every installed TTS voice "
                    "(exact phone timings), degrade them like a microphone, and turn the phones "
                    "into 30 fps rig-parameter motion with the articulatory model. Reruns skip "
                    "finished utterances.")
    parser.add_argument("--out", type=Path, default=Path("data/corpus"), help="corpus folder")
    parser.add_argument("--per-voice", type=int, default=110,
                        help="training utterances per training voice")
    parser.add_argument("--val-per-voice", type=int, default=6,
                        help="validation utterances per training voice (separate sentences)")
    parser.add_argument("--test-per-voice", type=int, default=30,
                        help="utterances per held-out test voice")
    parser.add_argument("--rounds", type=int, default=6,
                        help="shards interleaving all voices (an early stop stays balanced)")
    parser.add_argument("--voices", nargs="*", default=None,
                        help="only these voice ids (e.g. flite-rms espeak-en-us); default: all "
                             "(with --hold-out-voices: the voices to hold out)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-motion", action="store_true",
                        help="audio and phones only; write motion later with --motion-only")
    parser.add_argument("--motion-only", action="store_true",
                        help="(re)compute motion/*.npy from the stored phones and stop")
    parser.add_argument("--aligned", type=Path, default=None,
                        help="import an external folder of name.wav + name.tsv (start end "
                             "phone) into the corpus as voice 'external' instead of synthesising")
    parser.add_argument("--aligned-split", choices=("train", "val", "test"), default="test",
                        help="split for --aligned utterances")
    parser.add_argument("--aligned-partial", action="store_true",
                        help="with --aligned: skip wavs without a .tsv (real-speech sets have "
                             "phones for English clips only)")
    parser.add_argument("--aligned-pauses", action="store_true",
                        help="with --aligned --aligned-split train: import wavs without a .tsv "
                             "but with a name.vad.tsv as pause-only utterances (rest targets "
                             "in pauses >= 100 ms from speech, no target in speech)")
    parser.add_argument("--acoustics", choices=("standard", "robust"), default="standard",
                        help="training/validation audio: 'standard' microphone degradations, "
                             "or 'robust' (long rooms, breaths, background noise, AGC, codecs, "
                             "longer pauses); the test split is the same under both")
    parser.add_argument("--degrade-test", type=Path, default=None, metavar="CORPUS",
                        help="write a copy of CORPUS to --out whose test voices are re-rendered "
                             "(see --degrade, --rt60), for `eval --corpus OUT --split test`")
    parser.add_argument("--degrade", choices=("reverb", "robust"), default="reverb",
                        help="for --degrade-test: a room of --rt60 with its whole tail, or "
                             "the robust acoustics chain")
    parser.add_argument("--rt60", type=float, default=2.0,
                        help="for --degrade-test --degrade reverb: reverberation time (s)")
    parser.add_argument("--drr", type=float, default=0.0,
                        help="for --degrade-test --degrade reverb: direct-to-reverberant ratio "
                             "(dB; 0 is a laptop about half a metre away in a live room)")
    parser.add_argument("--hold-out-voices", type=Path, default=None, metavar="CORPUS",
                        help="write a copy of CORPUS to --out whose validation split is the "
                             "--voices (all their utterances; they leave training), for "
                             "choosing checkpoints on voices a run never heard")
    parser.add_argument("--real-sources", type=Path, default=None, metavar="OUT",
                        help="instead: fetch real recorded speech from Debian packages into "
                             "OUT/<split>/<set>/ (16 kHz wav, silero-vad .vad.tsv, recognised "
                             "English phones .tsv, manifest.jsonl, licences/) and stop")
    parser.add_argument("--real-cache", type=Path, default=None,
                        help="where --real-sources keeps downloaded packages (default: "
                             "$XDG_CACHE_HOME/talking-splat/real-speech)")
    parser.add_argument("--real-packages", nargs="*", default=None,
                        help="with --real-sources: only these Debian packages")
    parser.add_argument("--list-voices", action="store_true", help="print the voices and stop")
    parser.set_defaults(func=run)


def run_real_sources(args: argparse.Namespace) -> int:
    """Build the real-speech folder: clips, timings, manifest, and a summary table."""
    from driver.corpus.real_align import write_timings
    from driver.corpus.real_speech import build_real_speech, default_cache, summarise, \
        write_manifest

    out = args.real_sources
    rows = build_real_speech(out, args.real_cache or default_cache(),
                             packages=args.real_packages)
    counts = write_timings(out, rows)
    write_manifest(out, rows)
    print("| split | set | clips | minutes | speakers (f/m) | languages |")
    print("|---|---|---|---|---|---|")
    for e in summarise(rows):
        print(f"| {e['split']} | {e['set']} | {e['clips']} | {e['minutes']:.1f} | "
              f"{e['speakers']} ({e['female']}/{e['male']}) | {', '.join(e['languages'])} |")
    print(f"{len(rows)} clips in {out}; speech/pause segmentation for {counts['vad']}, "
          f"recognised phones for {counts['phones']}")
    return 0


def run(args: argparse.Namespace) -> int:
    from avatar_app.output_paths import check_output_folder

    check_output_folder(args.out)
    if args.real_sources is not None:
        return run_real_sources(args)
    from driver.corpus.build import generate, make_plan
    from driver.corpus.splits import split_of_voice
    from driver.corpus.tts import available_voices

    if args.degrade_test is not None:
        from driver.corpus.degrade import degrade_split

        count = degrade_split(args.degrade_test, args.out, args.degrade, args.rt60,
                              args.drr)
        print(f"re-rendered {count} test utterances ({args.degrade}) into {args.out}")
        return 0
    if args.hold_out_voices is not None:
        from driver.corpus.holdout import hold_out_voices

        counts = hold_out_voices(args.hold_out_voices, args.out, list(args.voices or []))
        print(f"{args.out}: " + ", ".join(f"{n} {split}" for split, n in counts.items())
              + f" utterances (val = {' '.join(args.voices or [])} only)")
        return 0
    voices = available_voices()
    if args.list_voices:
        for voice in voices:
            print(f"{voice.id}\t{split_of_voice(voice.id)}")
        return 0
    if args.aligned_pauses and args.aligned is None:
        raise UserInputError("--aligned-pauses goes with --aligned DIR")
    if args.aligned is not None:
        from driver.corpus.external import import_aligned_folder

        summary = import_aligned_folder(args.aligned, args.out, args.aligned_split,
                                        skip_unaligned=args.aligned_partial,
                                        pauses=args.aligned_pauses)
        print(summary.line(args.out))
    elif not args.motion_only:
        if args.voices:
            unknown = set(args.voices) - {v.id for v in voices}
            if unknown:
                raise UserInputError(f"unknown voice ids {sorted(unknown)}; see --list-voices")
            voices = [v for v in voices if v.id in args.voices]
        if not voices:
            raise UserInputError("no TTS voices found (install flite, espeak-ng or festival)")
        plan = make_plan(voices, args.per_voice, args.val_per_voice, args.test_per_voice,
                         args.rounds, args.seed)
        made = generate(args.out, plan, acoustics=args.acoustics)
        print(f"synthesised {made} utterances into {args.out}")
    if not args.skip_motion:
        from driver.corpus.motion_files import write_motion

        count = write_motion(args.out)
        print(f"wrote motion for {count} utterances")
    return 0
