"""`python main.py eval`: score a checkpoint against two baselines on a held-out split."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from avatar_app.commands.train import add_data_arguments, data_fields
from splat.assets_paths import DEFAULT_LIPREADER, DEFAULT_MODEL
from splat.errors import UserInputError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "eval", help="Evaluate a checkpoint on held-out data (LVE, FDD, LSE-D/C, closures).",
        description="Print one table comparing the model with a static face and an "
                    "audio-energy jaw on a split of the corpus or of VOCASET: LVE, lip max-L2, "
                    "FDD, LSE-D, LSE-C, AV offset (SyncNet3D), bilabial and silence closure "
                    "rates (where phone labels exist).")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_MODEL,
                        help="checkpoint folder, or a training run folder (its model/); "
                             "default: the embedded assets/default_model")
    parser.add_argument("--split", choices=("train", "val", "test"), default="test")
    add_data_arguments(parser)
    parser.add_argument("--syncnet", type=Path, default=None,
                        help="SyncNet3D folder (default: the one inside the checkpoint folder, "
                             "else the one the run trained with)")
    parser.add_argument("--max-clips", type=int, default=0, help="evaluate a subset (0 = all)")
    parser.add_argument("--lipreader", type=Path, nargs="?", const=DEFAULT_LIPREADER,
                        default=None, metavar="DIR",
                        help="also PER / VER: the lip reader's phone and viseme error rates on "
                             "mouth renders of every method (slow: ~4 renders per frame); "
                             "without DIR the embedded assets/lipreader")
    parser.add_argument("--lipread-clips", type=int, default=0,
                        help="with --lipreader: read this many of the evaluated clips, evenly "
                             "spread (0 = all)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    parser.add_argument("--plot", type=Path, default=None,
                        help="PNG of predicted vs ground-truth jaw and lip gap on the first "
                             "clip (with --real: lip aperture over loudness, pauses shaded)")
    parser.add_argument("--plot-clip", default=None,
                        help="utterance id (with --real: file name without suffix) to plot "
                             "(default: first)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--real", type=Path, default=None, metavar="DIR",
                        help="instead: score real recordings without motion ground truth (each "
                             "sub-folder of audio files is a set; optional phone .tsv beside "
                             "them): silence closure by pause loudness, speech opening, "
                             "r(aperture, loudness), best lag, bilabial closure, for the model "
                             "(no gate) and the energy-jaw baseline")
    parser.add_argument("--avatar", action="append", default=None, metavar="NAME|DIR",
                        help="instead: bilabial and silence closure of the model's (and the "
                             "ground truth's) motion shown on this avatar, mapped the way the "
                             "app maps it, measured on its own lips, beside the default head; "
                             "an embedded head (procedural, human) or an avatar folder "
                             "(repeatable)")
    parser.add_argument("--energy-gain", type=float, default=None,
                        help="with --real: energy-jaw gain in rad (default: refit on --corpus "
                             "if given, else the synthetic corpus's fit, 0.129)")
    parser.set_defaults(func=run)


def run_real(args: argparse.Namespace) -> int:
    """`eval --real DIR`: the real-speech table (and --json)."""
    from driver.real_speech_eval import (ENERGY_GAIN, evaluate_real, format_real_table,
                                         plot_real_example)

    gain = args.energy_gain
    if gain is None and args.corpus is not None:
        from driver.evaluate import fit_energy_gain
        from driver.training_data import open_data

        gain = fit_energy_gain(open_data(**data_fields(args)))
    table, example = evaluate_real(args.real, args.checkpoint, args.rig,
                                   ENERGY_GAIN if gain is None else gain, args.max_clips,
                                   args.plot_clip)
    print(format_real_table(table))
    if args.json:
        args.json.write_text(json.dumps(table, indent=2, default=float))
    if args.plot:
        if example is None:
            raise UserInputError(f"--plot-clip {args.plot_clip}: no such clip among those scored")
        plot_real_example(example, args.plot)
        print(f"plot: {args.plot}")
    return 0


def run_avatars(args: argparse.Namespace) -> int:
    """`eval --avatar NAME|DIR`: the closure table on each avatar's mesh (and --json)."""
    from driver.avatar_eval import evaluate_avatars, format_avatar_table
    from driver.training_data import open_data

    table = evaluate_avatars(args.checkpoint, open_data(**data_fields(args)), args.avatar,
                             args.split, args.max_clips)
    print(format_avatar_table(table))
    if args.json:
        args.json.write_text(json.dumps(table, indent=2, default=float))
    return 0


def run(args: argparse.Namespace) -> int:
    import torch

    from avatar_app.output_paths import check_output_file
    from driver.evaluate import evaluate, format_table, plot_example
    from driver.training_data import open_data

    if args.json:
        check_output_file(args.json, {".json": "JSON"}, option="--json")
    if args.plot:
        check_output_file(args.plot, {".png": "PNG", ".pdf": "PDF", ".svg": "SVG"}, option="--plot")

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.real is not None and args.avatar:
        raise UserInputError("--real and --avatar are two different evaluations; pass one")
    if args.real is not None:
        return run_real(args)
    if args.avatar:
        return run_avatars(args)
    table, example = evaluate(args.checkpoint, open_data(**data_fields(args)), args.split,
                              args.syncnet, args.max_clips, args.plot_clip, args.lipreader,
                              args.lipread_clips)
    print(format_table(table))
    if args.json:
        args.json.write_text(json.dumps(table, indent=2, default=float))
    if args.plot:
        plot_example(example, args.plot)
        print(f"plot: {args.plot}")
    return 0
