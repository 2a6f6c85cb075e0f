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
    stream.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    stream.set_defaults(func=run_stream)

    e2e = what.add_parser("e2e", help="audio sample captured -> frame ready, median and p95")
    e2e.add_argument("--audio", help="speech file fed as a live source (default: the demo clip)")
    e2e.add_argument("--avatar", help="avatar folder (default: the embedded one)")
    e2e.add_argument("--checkpoint", help="regressor checkpoint (default: the embedded one)")
    e2e.add_argument("--backend", choices=["auto", "cpu", "gsplat"], default="auto")
    e2e.add_argument("--size", type=int, default=512)
    e2e.add_argument("--seconds", type=float, default=10.0)
    e2e.set_defaults(func=run_e2e)

    soak = what.add_parser("soak", help="the live path with recording for N minutes: memory "
                                        "growth and A/V drift of the recording")
    soak.add_argument("--minutes", type=float, default=30.0, help="length of the run (default 30)")
    soak.add_argument("--audio", help="speech file, looped (default: the demo clip)")
    soak.add_argument("--avatar", help="avatar folder (default: the embedded one)")
    soak.add_argument("--checkpoint", help="regressor checkpoint (default: the embedded one)")
    soak.add_argument("--backend", choices=["auto", "cpu", "gsplat"], default="auto")
    soak.add_argument("--size", type=int, default=256)
    soak.add_argument("--warmup", type=float,
                      help="seconds excluded from the memory growth (default 60, at most a "
                           "quarter of the run)")
    soak.add_argument("--out", default="soak.mp4", help="the recording (default soak.mp4)")
    soak.set_defaults(func=run_soak)


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


def _check_live_options(args: argparse.Namespace) -> None:
    from avatar_app.option_checks import SIZE_RANGE, check_range

    check_range("--size", args.size, *SIZE_RANGE, "pixels")
    if getattr(args, "seconds", None) is not None:
        check_range("--seconds", args.seconds, 1.0, 24 * 3600.0)


def run_stream(args: argparse.Namespace) -> int:
    from avatar_app.option_checks import check_range
    from driver.bench import FRONT_ENDS, bench_stream

    check_range("--seconds", args.seconds, 0.5, 24 * 3600.0)

    print(_header())
    for front_end in args.front_end or FRONT_ENDS:
        print(bench_stream(front_end, seconds=args.seconds, device=args.device).line())
    return 0


def run_e2e(args: argparse.Namespace) -> int:
    from avatar_app.latency_bench import bench_e2e

    _check_live_options(args)
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


def run_soak(args: argparse.Namespace) -> int:
    from pathlib import Path

    from avatar_app.latency_bench import bench_soak
    from avatar_app.option_checks import check_range
    from avatar_app.output_paths import VIDEO_SUFFIXES, check_output_file

    _check_live_options(args)
    check_range("--minutes", args.minutes, 0.1, 24 * 60.0)
    warmup = min(60.0, args.minutes * 15.0) if args.warmup is None else args.warmup
    check_range("--warmup", warmup, 0.0, args.minutes * 60.0 / 2)
    out = check_output_file(Path(args.out), VIDEO_SUFFIXES)
    print(_header())
    r = bench_soak(out, args.minutes, audio=args.audio, avatar=args.avatar,
                   checkpoint=args.checkpoint, backend=args.backend, size=args.size,
                   warmup_s=warmup)
    print(f"soak {r['seconds'] / 60:.1f} min, {r['backend']} {r['size']}² model={r['model']}: "
          f"RSS {r['rss_start_mb']:.0f} MB at start, {r['rss_after_warmup_mb']:.0f} MB after "
          f"{r['warmup_s']:g} s warm-up, {r['rss_end_mb']:.0f} MB at the end (growth "
          f"{r['rss_growth_mb']:+.1f} MB, peak {r['rss_peak_mb']:.0f} MB); {r['frames_shown']} "
          f"frames shown")
    print(f"recording {r['recording']}: {r['recorded_frames']} frames, video "
          f"{r['video_end_s']:.2f} s, audio {r['audio_end_s']:.2f} s, A/V drift "
          f"{r['drift_ms']:+.1f} ms (silence padded at the end where audio lagged: "
          f"{r['padded_ms']:.0f} ms)")
    return 0
