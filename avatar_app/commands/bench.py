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

    capture = what.add_parser("capture", help="the microphone's input buffering (PortAudio "
                                              "latency, capture lag, burst size)")
    capture.add_argument("--device", help="input device name or index (default: the default one)")
    capture.add_argument("--latency", default="low",
                         help="PortAudio suggested latency: low (default), high or seconds")
    capture.add_argument("--block-ms", type=float, default=10.0, help="callback block (default 10)")
    capture.add_argument("--seconds", type=float, default=5.0)
    capture.set_defaults(func=run_capture)

    av = what.add_parser("av", help="A/V offset of recordings (render and the window's Record): "
                                    "a tone burst and a jaw step at the same instant")
    av.add_argument("--avatar", help="avatar folder (default: the embedded one)")
    av.add_argument("--backend", choices=["auto", "cpu", "gsplat"], default="auto")
    av.add_argument("--size", type=int, default=256)
    av.add_argument("--delay-ms", type=float, action="append",
                    help="the window's display delay for the live recording (default 0 and 300)")
    av.add_argument("--render-fps", type=float, default=60.0,
                    help="cap the live renderer (below 30 it plays a slow machine whose "
                         "skipped frames the recording fills in; default 60)")
    av.add_argument("--out", default="av_clips", help="folder for the clips (default av_clips)")
    av.set_defaults(func=run_av)

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
    if r["stages_ms"] is not None:
        from avatar_app.latency_stages import LatencyBreakdown

        print(f"stages (median ms; model look-ahead {r['lookahead_ms']:.1f} ms): "
              f"{LatencyBreakdown.format(r['stages_ms'])}")
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


def run_capture(args: argparse.Namespace) -> int:
    from avatar_app.latency_bench import bench_capture
    from avatar_app.option_checks import check_range
    from splat.errors import UserInputError

    check_range("--block-ms", args.block_ms, 1.0, 100.0)
    check_range("--seconds", args.seconds, 1.0, 3600.0)
    latency: str | float = args.latency
    if latency not in ("low", "high"):
        try:
            latency = check_range("--latency", float(latency), 0.0, 2.0, "s")
        except ValueError:
            raise UserInputError(f"--latency must be low, high or seconds, got {latency!r}") from None
    device = int(args.device) if args.device and args.device.isdigit() else args.device
    r = bench_capture(device, latency, args.block_ms, args.seconds)
    print(_header())
    adc = f"{r['adc_delay_ms']:.1f} ms" if r["adc_delay_ms"] is not None else "not reported"
    print(f"capture '{r['device']}' latency={r['latency']} block {r['block_ms']:g} ms: stream "
          f"latency {r['stream_latency_ms']:.1f} ms, ADC->callback {adc}; capture lag median "
          f"{r['capture_median_ms']:.1f} ms, p95 {r['capture_p95_ms']:.1f} ms; audio per read "
          f"median {r['chunk_median_ms']:.1f} ms, max {r['chunk_max_ms']:.1f} ms "
          f"({r['chunks']} reads)")
    return 0


def run_av(args: argparse.Namespace) -> int:
    from pathlib import Path

    from avatar_app.av_sync import live_av, offline_av
    from avatar_app.option_checks import check_range
    from avatar_app.output_paths import check_output_folder

    _check_live_options(args)
    delays = args.delay_ms or [0.0, 300.0]
    for d in delays:
        check_range("--delay-ms", d, 0.0, 500.0)
    check_range("--render-fps", args.render_fps, 1.0, 240.0)
    out = check_output_folder(Path(args.out), "--out")
    out.mkdir(parents=True, exist_ok=True)
    print(_header())
    avatar = Path(args.avatar) if args.avatar else None
    r = offline_av(out / "render.mp4", args.size, backend=args.backend, avatar=avatar)
    print(f"av render {args.size}²: burst heard at {r.audio_onset:.4f} s, mouth opens at "
          f"{r.video_onset:.4f} s: offset {r.offset * 1000:+.1f} ms ({r.frames:+.2f} frames)")
    for d in delays:
        live = live_av(out / f"record_delay{d:g}.mp4", args.size, delay_s=d / 1000.0,
                       backend=args.backend, avatar=args.avatar, max_fps=args.render_fps)
        r = live.result
        fill = f", {live.filled} filled in after" if live.filled else ""
        fill += f" ({live.fill_error})" if live.fill_error else ""
        if live.live_result is not None:
            fill += f" (as recorded live: offset {live.live_result.offset * 1000:+.1f} ms)"
        print(f"av record {args.size}² display delay {d:g} ms, renderer ≤ {args.render_fps:g} "
              f"fps: burst heard at {r.audio_onset:.4f} s, mouth opens at {r.video_onset:.4f} s:"
              f" offset {r.offset * 1000:+.1f} ms ({r.frames:+.2f} frames); {live.frames} frames "
              f"recorded live{fill}, {live.shown} shown")
    return 0
