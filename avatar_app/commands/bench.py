"""`python main.py bench render|stream|e2e`: the performance figures behind docs/BENCHMARKS.md.

Figures come from here rather than from timed tests, so CI stays deterministic and the numbers
are taken deliberately, on an otherwise idle machine, with their conditions printed beside them.
"""
from __future__ import annotations

import argparse
import datetime
import platform


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="Measure render, regressor and end-to-end performance.",
                            description="Performance figures; paste the output into docs/BENCHMARKS.md.")
    what = parser.add_subparsers(dest="what", metavar="what", required=True)

    render = what.add_parser("render", help="full frame: rig -> binding -> render -> host image")
    render.add_argument("--backend", action="append", choices=["cpu", "gsplat"],
                        help="backend(s) to time (default: every available one)")
    render.add_argument("--size", type=int, action="append", help="square sizes (default 256, 512, 1024)")
    render.add_argument("--avatar", help="avatar folder (default: the embedded one)")
    render.add_argument("--flame", help="FLAME pickle for an avatar without its own rig.npz")
    render.add_argument("--gaussians", type=int, help="replace the avatar's Gaussians by N synthetic ones")
    render.add_argument("--frames", type=int, default=30, help="timed frames per size")
    render.set_defaults(func=run_render)

    stream = what.add_parser("stream", help="streaming regressor cost per 33 ms hop")
    stream.add_argument("--front-end", action="append", choices=["logmel", "wav2vec2"],
                        help="front end(s) to time (default: both)")
    stream.add_argument("--seconds", type=float, default=10.0, help="audio streamed per front end")
    stream.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    stream.set_defaults(func=run_stream)

    e2e = what.add_parser("e2e", help="audio sample captured -> frame ready, median and p95")
    e2e.add_argument("--audio", help="speech file fed as a live source (default: the demo clip)")
    e2e.add_argument("--avatar", help="avatar folder (default: the embedded one)")
    e2e.add_argument("--checkpoint", help="regressor checkpoint (default: the embedded one)")
    e2e.add_argument("--backend", choices=["auto", "cpu", "gsplat"], default="auto")
    e2e.add_argument("--size", type=int, default=512)
    e2e.add_argument("--seconds", type=float, default=10.0)
    e2e.set_defaults(func=run_e2e)


def _header() -> str:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"# {datetime.date.today()} · {platform.processor() or platform.machine()} · "
            f"{torch.get_num_threads()} torch threads · {device} · torch {torch.__version__}")


def run_render(args: argparse.Namespace) -> int:
    from splat.bench import bench_render, format_render_table

    rows = bench_render(backends=args.backend, sizes=tuple(args.size or (256, 512, 1024)),
                        avatar=args.avatar, n_frames=args.frames, gaussians=args.gaussians,
                        flame=args.flame)
    print(_header())
    print(format_render_table(rows))
    return 0


def run_stream(args: argparse.Namespace) -> int:
    from driver.bench import FRONT_ENDS, bench_stream

    print(_header())
    for front_end in args.front_end or FRONT_ENDS:
        print(bench_stream(front_end, seconds=args.seconds, device=args.device).line())
    return 0


def run_e2e(args: argparse.Namespace) -> int:
    from avatar_app.latency_bench import bench_e2e

    r = bench_e2e(audio=args.audio, avatar=args.avatar, checkpoint=args.checkpoint,
                  backend=args.backend, size=args.size, seconds=args.seconds)
    print(_header())
    if r["latency_median_ms"] is None:
        print(f"no frame showed audio within {args.seconds:g} s: no latency measured")
        return 1
    print(f"e2e {r['backend']} {r['size']}² model={r['model']}: audio captured -> frame ready "
          f"median {r['latency_median_ms']:.0f} ms, p95 {r['latency_p95_ms']:.0f} ms "
          f"({r['latency_samples']} frames); render {r['render_fps']:.1f} fps; "
          f"inference {r['infer_ms_per_frame']:.1f} ms/frame")
    return 0
