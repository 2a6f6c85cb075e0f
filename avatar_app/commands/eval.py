"""`python main.py eval`: score a checkpoint against two baselines on a held-out split."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from avatar_app.commands.train import add_data_arguments, data_fields


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "eval", help="Evaluate a checkpoint on held-out data (LVE, FDD, LSE-D/C, closures).",
        description="Print one table comparing the model with a static face and an "
                    "audio-energy jaw on a split of the corpus or of VOCASET: LVE, lip max-L2, "
                    "FDD, LSE-D, LSE-C, AV offset (SyncNet3D), bilabial and silence closure "
                    "rates (where phone labels exist).")
    parser.add_argument("--checkpoint", type=Path, default=Path("assets/default_model"),
                        help="checkpoint folder, or a training run folder (its model/)")
    parser.add_argument("--split", choices=("train", "val", "test"), default="test")
    add_data_arguments(parser)
    parser.add_argument("--syncnet", type=Path, default=None,
                        help="SyncNet3D folder (default: the one inside the checkpoint folder, "
                             "else the one the run trained with)")
    parser.add_argument("--max-clips", type=int, default=0, help="evaluate a subset (0 = all)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    parser.add_argument("--plot", type=Path, default=None,
                        help="PNG of predicted vs ground-truth jaw and lip gap on the first clip")
    parser.add_argument("--plot-clip", default=None, help="utterance id to plot (default: first)")
    parser.add_argument("--threads", type=int, default=0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from driver.evaluate import evaluate, format_table, plot_example
    from driver.training_data import open_data

    if args.threads:
        torch.set_num_threads(args.threads)
    table, example = evaluate(args.checkpoint, open_data(**data_fields(args)), args.split,
                              args.syncnet, args.max_clips, args.plot_clip)
    print(format_table(table))
    if args.json:
        args.json.write_text(json.dumps(table, indent=2, default=float))
    if args.plot:
        plot_example(example, args.plot)
        print(f"plot: {args.plot}")
    return 0
