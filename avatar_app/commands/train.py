"""`python main.py train --what syncnet|regressor`: the Learn2Talk training pipeline.

Data: the project's corpus (`--corpus`, rig parameters decoded by `--rig`) or VOCASET on FLAME
(`--vocaset DIR --flame FLAME.pkl [--flame-masks FLAME_masks.pkl]`, vertex offsets).
Several GPUs (or CPU processes): `torchrun --nproc_per_node N main.py train --what regressor
...` (each rank samples its own crops; DistributedDataParallel averages gradients; rank 0
validates/saves).
"""
from __future__ import annotations

import argparse

from avatar_app.config_flags import add_config_arguments, config_values, option_names


def _data_options() -> list[str]:
    from driver.train_config import DataConfig

    return option_names(DataConfig, exclude=("out",))


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--corpus/--rig or --vocaset/--flame/--flame-masks (shared with `eval`)."""
    from driver.train_config import DataConfig

    add_config_arguments(parser.add_argument_group("data (one of --corpus or --vocaset)"),
                         {"data": DataConfig}, _data_options())


def data_fields(args: argparse.Namespace) -> dict:
    """The DataConfig fields of parsed `add_data_arguments` flags."""
    return {name: getattr(args, name) for name in _data_options()}


def _configs() -> dict[str, type]:
    """`--what` -> the config its flags fill (each flag is a field declared there)."""
    from driver.lipreading.config import LipReaderConfig
    from driver.train_config import RegressorTrainConfig, SyncNetConfig

    return {"syncnet": SyncNetConfig, "regressor": RegressorTrainConfig,
            "lipreader": LipReaderConfig}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train", help="Train SyncNet3D, the lip reader or the Learn2Talk regressor.",
        description="Train the SyncNet3D lip-sync expert on ground-truth motion, or the "
                    "Learn2Talk regressor (log-mel front end) with vertex reconstruction, "
                    "velocity, lip-contact and sync losses, on the project's corpus (through "
                    "the differentiable rig) or on VOCASET (FLAME vertex offsets); or the "
                    "visual lip reader (CTC on phones and visemes) on rendered mouth crops of "
                    "the corpus's ground truth. Several processes: run under torchrun.")
    configs = _configs()
    parser.add_argument("--what", choices=tuple(configs), required=True,
                        help="the model to train")
    add_config_arguments(parser, configs, ["out"])
    add_data_arguments(parser)
    taken = {"out", *_data_options()}
    flags = {what: option_names(config, exclude=taken) for what, config in configs.items()}
    everywhere = [name for names in flags.values() for name in names]
    shared = [name for name in dict.fromkeys(everywhere) if everywhere.count(name) > 1]
    add_config_arguments(parser, configs, shared)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0 = torch's default)")
    for what, names in flags.items():
        own = [name for name in names if name not in shared]
        if own:
            add_config_arguments(parser.add_argument_group(what), configs, own)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    import torch

    from avatar_app.output_paths import check_output_folder
    from driver.lipreading.train import train_lipreader
    from driver.train import train_regressor, train_syncnet

    check_output_folder(args.out)

    if args.threads:
        torch.set_num_threads(args.threads)
    config = _configs()[args.what]
    cfg = config(**config_values(config, args))
    trainers = {"syncnet": train_syncnet, "regressor": train_regressor,
                "lipreader": train_lipreader}
    metrics = trainers[args.what](cfg)
    if metrics:      # under torchrun only rank 0 has them
        print(json.dumps(metrics))
    return 0
