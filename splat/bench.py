"""`bench render`: frames per second of the full frame, rig -> binding -> render -> host image.

Measures what the live app pays per frame (not the renderer alone): each frame gets new rig
parameters (a talking-like jaw and expression sweep) so nothing is reused between frames, and the
time is split by stage so a slow figure says where to look.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from splat.avatar import GaussianAvatar
from splat.assets_paths import default_avatar
from splat.cameras import orbit_camera
from splat.errors import UserInputError
from splat.mesh_ops import triangle_areas
from splat.rig import RigData


@dataclass
class RenderBenchRow:
    """One backend at one image size."""

    backend: str
    size: int
    gaussians: int
    fps: float
    median_ms: float
    p95_ms: float
    stages_ms: dict[str, float] = field(default_factory=dict)  # mean per frame


def synthetic_avatar(rig: RigData, n: int, seed: int = 0) -> GaussianAvatar:
    """`n` Gaussians spread over the rig's rest surface (by area), bound to its triangles.

    A load generator for figures at Gaussian counts the default avatar does not have (e.g. the
    100k of a typical GaussianAvatars capture): sizes follow the surface spacing so the image
    coverage and overlap are head-like; colours and SH (degree 3) are random.
    """
    from splat.binding import world_to_local

    rng = np.random.default_rng(seed)
    verts = rig.v_template.astype(np.float64)
    tri = verts[rig.faces]
    areas = triangle_areas(verts, rig.faces)
    faces = rng.choice(len(areas), size=n, p=areas / areas.sum())
    bary = rng.dirichlet(np.ones(3), size=n)
    means = np.einsum("nk,nkc->nc", bary, tri[faces])
    spacing = math.sqrt(areas.sum() / n)
    scales = np.stack([rng.uniform(0.5, 1.5, n) * spacing, rng.uniform(0.5, 1.5, n) * spacing,
                       np.full(n, 0.2 * spacing)], axis=1)
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    xyz, quats, log_scales = world_to_local(
        t(means), t(rng.normal(size=(n, 4))), t(scales), torch.as_tensor(faces), t(verts),
        torch.as_tensor(rig.faces),
    )
    sh = rng.normal(scale=0.1, size=(n, 16, 3)).astype(np.float32)
    sh[:, 0] = rng.uniform(-1.0, 1.0, (n, 3))
    return GaussianAvatar(
        xyz=xyz.numpy(), log_scales=log_scales.numpy(), quats=quats.numpy(),
        opacity_logits=rng.uniform(-1.0, 4.0, n).astype(np.float32), sh=sh,
        binding=faces.astype(np.int64),
    )


def _frame_params(rig: RigData, i: int) -> dict[str, np.ndarray]:
    """Different parameters every frame: jaw and expressions sweeping like speech at 30 fps."""
    phase = 2.0 * math.pi * i / 30.0
    expr = 0.5 + 0.5 * np.sin(phase * 3.0 + np.arange(rig.n_expr, dtype=np.float32))
    return {
        "jaw_pose": np.array([0.12 + 0.1 * math.sin(phase * 4.0), 0.0, 0.0], np.float32),
        "expr": (0.3 * expr).astype(np.float32),
        "rotation": np.array([0.0, 0.05 * math.sin(phase), 0.0], np.float32),
    }


def bench_render(
    backends: list[str] | None = None,
    sizes: tuple[int, ...] = (256, 512, 1024),
    avatar: str | Path | None = None,
    n_frames: int = 30,
    gaussians: int | None = None,
    flame: str | Path | None = None,
) -> list[RenderBenchRow]:
    """Time the full frame per backend and size.

    `avatar` is an avatar folder (default: the embedded one); `gaussians` replaces its Gaussians
    with that many synthetic ones bound to the same rig.
    """
    from splat.pipeline import AvatarPipeline
    from splat.render import available_backends

    if n_frames < 1:
        raise UserInputError(f"--frames must be at least 1, got {n_frames}")
    if any(size < 16 or size > 8192 for size in sizes):
        raise UserInputError(f"sizes must be between 16 and 8192 pixels, got {list(sizes)}")
    if gaussians is not None and gaussians < 1:
        raise UserInputError(f"--gaussians must be positive, got {gaussians}")
    backends = backends or available_backends()
    opened = AvatarPipeline.open(default_avatar() if avatar is None else avatar, flame,
                                 backend=backends[0])
    rig = opened.rig_data
    if rig is None:
        raise UserInputError("bench render needs a rigged avatar (the frame includes rig and binding)")
    loaded = opened.avatar if gaussians is None else synthetic_avatar(rig, gaussians)
    rows = []
    for i, backend in enumerate(backends):
        pipeline = opened if i == 0 and gaussians is None else AvatarPipeline(loaded, rig, backend=backend)
        target, distance = pipeline.framing("face")
        variants = {pipeline.backend: pipeline.render}
        if pipeline.backend == "gsplat":
            # 1.5.3 cannot take backgrounds in packed mode; the backend composites them itself
            # there. Both layouts are timed side by side so the faster one can be the default.
            variants["gsplat-packed"] = lambda params, camera, timings: _packed_gsplat_frame(
                pipeline, params, camera, timings)
        for size in sizes:
            camera = orbit_camera(0.0, 0.0, distance, target, width=size)
            for name, frame in variants.items():
                rows.append(_time_frames(name, frame, rig, camera, n_frames, len(loaded)))
    return rows


def _packed_gsplat_frame(pipeline, params, camera, timings: dict[str, float]) -> None:
    from splat.render.gsplat_backend import render_gsplat

    t0 = time.perf_counter()
    with torch.no_grad():
        gaussians = pipeline.gaussians(params)
    t1 = time.perf_counter()
    render_gsplat(gaussians, camera, (1.0, 1.0, 1.0), packed=True)
    timings["rig+bind"] = timings.get("rig+bind", 0.0) + t1 - t0
    timings["render"] = timings.get("render", 0.0) + time.perf_counter() - t1


def _time_frames(name: str, frame, rig: RigData, camera, n_frames: int, n_gaussians: int) -> RenderBenchRow:
    """Median/p95 of `frame(params, camera, timings=...)` over fresh parameters each frame."""
    for i in range(2):  # warm-up: compiled kernels, allocator, caches
        frame(_frame_params(rig, i), camera, timings={})
    times, stages = [], {}
    for i in range(n_frames):
        start = time.perf_counter()
        frame(_frame_params(rig, i), camera, timings=stages)
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1e3
    return RenderBenchRow(
        backend=name, size=camera.width, gaussians=n_gaussians,
        fps=1e3 / float(np.mean(ms)), median_ms=float(np.median(ms)),
        p95_ms=float(np.percentile(ms, 95)),
        stages_ms={k: v * 1e3 / n_frames for k, v in stages.items()},
    )


def format_render_table(rows: list[RenderBenchRow]) -> str:
    """A plain-text table: one line per backend and size, with the stage breakdown."""
    lines = [f"{'backend':13} {'size':>6} {'gaussians':>9} {'fps':>7} {'median ms':>10} {'p95 ms':>8}"
             "  where the time goes (mean ms)"]
    for r in rows:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r.stages_ms.items())
        lines.append(f"{r.backend:13} {r.size:>5}² {r.gaussians:>9} {r.fps:>7.1f} {r.median_ms:>10.1f} "
                     f"{r.p95_ms:>8.1f}  {stages}")
    return "\n".join(lines)
