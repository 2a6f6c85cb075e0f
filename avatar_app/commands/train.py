"""`python main.py train --what syncnet|regressor`: the Learn2Talk training pipeline.

Data: the project's corpus (`--corpus`, rig parameters decoded by `--rig`) or VOCASET on FLAME
(`--vocaset DIR --flame FLAME.pkl [--flame-masks FLAME_masks.pkl]`, vertex offsets).
Several GPUs (or CPU processes): `torchrun --nproc_per_node N main.py train --what regressor
...` (each rank samples its own crops; DistributedDataParallel averages gradients; rank 0
validates/saves).
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--corpus/--rig or --vocaset/--flame/--flame-masks (shared with `eval`)."""
    data = parser.add_argument_group("data (one of --corpus or --vocaset)")
    data.add_argument("--corpus", type=Path, default=None,
                      help="the project's corpus folder (default: data/corpus)")
    data.add_argument("--rig", type=Path, default=None,
                      help="rig .npz/.pkl decoding the corpus (default: "
                           "assets/default_avatar/rig.npz)")
    data.add_argument("--vocaset", type=Path, default=None,
                      help="VOCASET in FaceFormer's layout (vertices_npy/, wav/, templates.pkl): "
                           "trains a vertex-output model for FLAME")
    data.add_argument("--flame", type=Path, default=None,
                      help="with --vocaset: the FLAME model (generic_model.pkl) it is "
                           "registered to")
    data.add_argument("--flame-masks", type=Path, default=None,
                      help="with --vocaset: FLAME_masks.pkl (default: the one beside --flame)")


def data_fields(args: argparse.Namespace) -> dict:
    """The DataConfig fields of parsed `add_data_arguments` flags."""
    return {"corpus": args.corpus, "rig": args.rig, "vocaset": args.vocaset, "flame": args.flame,
            "flame_masks": args.flame_masks}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train", help="Train SyncNet3D or the Learn2Talk regressor.",
        description="Train the SyncNet3D lip-sync expert on ground-truth motion, or the "
                    "Learn2Talk regressor (log-mel front end) with vertex reconstruction, "
                    "velocity, lip-contact and sync losses, on the project's corpus (through "
                    "the differentiable rig) or on VOCASET (FLAME vertex offsets). Several "
                    "processes: run under torchrun.")
    parser.add_argument("--what", choices=("syncnet", "regressor"), required=True)
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    add_data_arguments(parser)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-clips", type=int, default=0,
                        help="use only this many training clips (0 = all)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0 = torch's default)")
    reg = parser.add_argument_group("regressor")
    reg.add_argument("--syncnet", type=Path, default=None, help="frozen SyncNet3D folder")
    reg.add_argument("--minutes", type=float, default=0.0, help="wall-clock budget (0 = none)")
    reg.add_argument("--crop-frames", type=int, default=90)
    reg.add_argument("--d-model", type=int, default=128)
    reg.add_argument("--sync-weight", type=float, default=0.03)
    reg.add_argument("--sync-start", type=int, default=1000, help="step the sync loss starts")
    reg.add_argument("--sync-full", type=int, default=2000, help="step it reaches its weight")
    reg.add_argument("--vel-weight", type=float, default=5.0)
    reg.add_argument("--lip-weight", type=float, default=3.0,
                     help="extra reconstruction weight on the lip vertices")
    reg.add_argument("--contact-weight", type=float, default=1.0,
                     help="weight of the lip-contact term (closures where the truth has them)")
    reg.add_argument("--lipread-weight", type=float, default=0.0,
                     help="lip-reading distillation weight (not implemented yet: keep 0)")
    reg.add_argument("--sampling-max", type=float, default=0.5,
                     help="final share of decoder inputs taken from its own predictions")
    reg.add_argument("--sampling-ramp", type=int, default=3000,
                     help="steps over which that share rises from 0")
    reg.add_argument("--sampling-passes", type=int, default=2,
                     help="no-grad passes feeding the decoder its own predictions")
    reg.add_argument("--warp", type=float, default=1.0,
                     help="max vocal-tract-length warp of training audio (1 = off; 1.25 raises "
                          "formants up to 25 %% to imitate unseen, e.g. female, voices)")
    reg.add_argument("--ema", type=float, default=0.999,
                     help="decay of the exponential moving average of the weights that is "
                          "saved, validated and exported (0 = the raw weights)")
    reg.add_argument("--val-every", type=int, default=250)
    reg.add_argument("--val-clips", type=int, default=12)
    reg.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    reg.add_argument("--resume", action="store_true", help="continue the run in --out")
    reg.add_argument("--init", type=Path, default=None,
                     help="fine-tune: start from this exported checkpoint's weights (fresh optimizer "
                          "and clock), e.g. assets/default_model")
    reg.add_argument("--export", type=Path, default=None,
                     help="copy the final model (+ the SyncNet3D) here, e.g. assets/default_model")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    import torch

    from avatar_app.output_paths import check_output_folder
    from driver.train import RegressorTrainConfig, SyncNetConfig, train_regressor, train_syncnet

    check_output_folder(args.out)

    if args.threads:
        torch.set_num_threads(args.threads)
    given = {k: v for k, v in (("steps", args.steps), ("batch", args.batch), ("lr", args.lr))
             if v is not None}
    if args.what == "syncnet":
        metrics = train_syncnet(SyncNetConfig(out=args.out, **data_fields(args), seed=args.seed,
                                              max_clips=args.max_clips, **given))
    else:
        metrics = train_regressor(RegressorTrainConfig(
            out=args.out, **data_fields(args), syncnet=args.syncnet,
            minutes=args.minutes, crop_frames=args.crop_frames, d_model=args.d_model,
            sync_weight=args.sync_weight, sync_start=args.sync_start, sync_full=args.sync_full,
            vel_weight=args.vel_weight, lip_weight=args.lip_weight,
            contact_weight=args.contact_weight, warp=args.warp, ema=args.ema,
            lipread_weight=args.lipread_weight,
            sampling_max=args.sampling_max, sampling_ramp=args.sampling_ramp,
            sampling_passes=args.sampling_passes, val_every=args.val_every, val_clips=args.val_clips,
            device=args.device, resume=args.resume, init=args.init, export=args.export, seed=args.seed,
            max_clips=args.max_clips, **given))
    if metrics:      # under torchrun only rank 0 has them
        print(json.dumps(metrics))
    return 0
