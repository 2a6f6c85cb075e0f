"""`python main.py still`: render one frame of an avatar (default or user's) to a PNG.

The quickest end-to-end check of the geometry and pixel path (rig -> binding -> renderer) and
the way to look at a pose or expression without opening the GUI.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from avatar_app.option_checks import check_range, check_view_options
from splat.assets_paths import default_avatar
from splat.errors import UserInputError
from splat.rig import JAW_OPEN_RANGE_RAD, MAX_EXPR_COEFF


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `still` parser; its func renders and writes the PNG."""
    p = subparsers.add_parser(
        "still",
        help="Render one frame of an avatar to a PNG.",
        description="Render one frame of an avatar to a PNG (default: the embedded avatar).",
    )
    p.add_argument("--out", required=True, type=Path, help="PNG file to write")
    p.add_argument("--avatar", type=Path,
                   help="avatar folder (point_cloud.ply [+ flame_param.npz, rig.npz]) or a .ply")
    p.add_argument("--flame", type=Path, help="FLAME model pickle for avatars without their own rig.npz")
    p.add_argument("--teeth", action="store_true", help="use GaussianAvatars' teeth extension of FLAME")
    p.add_argument("--backend", default="auto", choices=["auto", "cpu", "gsplat"],
                   help="renderer (default: auto = gsplat with CUDA, else cpu)")
    p.add_argument("--size", type=parse_size, default=(512, 512), metavar="W[xH]",
                   help="image size in pixels: 512 (square) or 1280x720 (default 512)")
    p.add_argument("--transparent", action="store_true",
                   help="RGBA PNG: alpha is the avatar's coverage (straight, not premultiplied); "
                        "--background is then ignored")
    p.add_argument("--yaw", type=float, default=0.0, help="degrees; positive turns towards the subject's left")
    p.add_argument("--pitch", type=float, default=0.0, help="degrees; positive looks from above")
    p.add_argument("--distance", type=float,
                   help="camera distance in metres (default: framed from the mesh)")
    p.add_argument("--framing", default="face", choices=["face", "head"], help="camera preset (default face)")
    p.add_argument("--expr", nargs="+", action="extend", default=[], metavar="NAME=VAL",
                   help="expression coefficients, e.g. --expr smile_L=1 blink_R=0.5")
    p.add_argument("--jaw", type=float, default=0.0, help="jaw opening in radians (jaw_pose[0])")
    p.add_argument("--background", default="1,1,1", metavar="R,G,B",
                   help="background colour in 0..1 (default white)")
    p.add_argument("--light", metavar="AZ,EL",
                   help="light direction in degrees for relightable avatars (the embedded human "
                        "head), e.g. -30,30 (the default); AZ,EL,R,G,B adds a colour; 'off' shows "
                        "the baked colours")
    p.set_defaults(func=run)


def parse_background(text: str) -> tuple[float, float, float]:
    """'R,G,B' with components in [0, 1]."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(0.0 <= v <= 1.0 for v in values):
        raise UserInputError(f"--background wants three numbers in 0..1 like 1,1,1; got {text!r}")
    return values  # type: ignore[return-value]


def parse_size(text: str) -> tuple[int, int]:
    """'W' or 'WxH' in pixels -> (width, height): argparse's type for `still` and `render`
    (the range is `check_view_options`'s, with the other numeric options)."""
    parts = str(text).lower().split("x")
    try:
        if len(parts) <= 2:
            return int(parts[0]), int(parts[-1])
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"wants W or WxH in pixels like 512 or 1280x720; got {text!r}")


def _describe_names(names: list[str]) -> str:
    """All names, or the first and last few when a rig has very many (FLAME has 100)."""
    if len(names) <= 40:
        return ", ".join(names)
    return ", ".join(names[:5]) + ", ..., " + ", ".join(names[-3:])


def parse_expressions(items: list[str], expr_names: list[str]) -> np.ndarray:
    """NAME=VAL items -> expression coefficient vector in the rig's order."""
    coeffs = np.zeros(len(expr_names), dtype=np.float32)
    index = {name: i for i, name in enumerate(expr_names)}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise UserInputError(f"--expr wants NAME=VALUE, got {item!r}")
        if name not in index:
            raise UserInputError(f"unknown expression {name!r}; this rig has: {_describe_names(expr_names)}")
        try:
            number = float(value)
        except ValueError:
            raise UserInputError(f"--expr {name}: {value!r} is not a number") from None
        coeffs[index[name]] = check_range(f"--expr {name}", number, -MAX_EXPR_COEFF,
                                          MAX_EXPR_COEFF)
    return coeffs


def run(args: argparse.Namespace) -> int:
    """Load, pose, frame, render and write the PNG; bad input ends in a UserInputError."""
    import cv2

    from avatar_app.output_paths import IMAGE_SUFFIXES, check_output_file
    from splat.cameras import orbit_camera
    from splat.pipeline import AvatarPipeline
    from splat.relight import parse_light_option

    width, height = args.size
    check_view_options(width, args.yaw, args.pitch, args.distance, height)
    check_range("--jaw", args.jaw, *JAW_OPEN_RANGE_RAD, "radians")
    background = parse_background(args.background)
    light = parse_light_option(args.light)
    if args.transparent and args.out.suffix.lower() != ".png":
        raise UserInputError(f"--out {args.out}: --transparent writes an RGBA PNG; name the "
                             "file .png (JPEG has no alpha)")
    check_output_file(args.out, IMAGE_SUFFIXES)
    avatar_dir = args.avatar if args.avatar is not None else default_avatar()

    start = time.perf_counter()
    pipeline = AvatarPipeline.open(avatar_dir, args.flame, teeth=True if args.teeth else None,
                                   backend=args.backend)
    if light is not None:
        pipeline.set_light(None if light == "off" else light)
    rig_data = pipeline.rig_data
    params: dict[str, np.ndarray] = {}
    if rig_data is not None:
        params["expr"] = parse_expressions(args.expr, rig_data.expr_names)
        params["jaw_pose"] = np.array([args.jaw, 0.0, 0.0], dtype=np.float32)
    elif args.expr or args.jaw:
        raise UserInputError("--expr and --jaw need a rigged avatar; this is a plain 3DGS scene")

    target, distance = pipeline.framing(args.framing, width, height)
    camera = orbit_camera(args.yaw, args.pitch, args.distance or distance, target, width=width,
                          height=height)
    # Transparent: composite over black (premultiplied colour), then divide by alpha.
    image, alpha = pipeline.render(params, camera, (0.0, 0.0, 0.0) if args.transparent
                                   else background)
    pipeline.check_visible(alpha, params, "the frame")
    if args.transparent:
        from avatar_app.video_out import rgba_straight, to_uint8

        pixels = to_uint8(rgba_straight(image, alpha), 4)[..., [2, 1, 0, 3]]   # BGRA for cv2
    else:
        pixels = (image[..., ::-1] * 255.0 + 0.5).astype(np.uint8)
    if not cv2.imwrite(str(args.out), np.ascontiguousarray(pixels)):
        raise UserInputError(f"could not write {args.out} (use a .png name in a writable folder)")
    print(f"wrote {args.out} ({width}x{height}{' RGBA' if args.transparent else ''}, "
          f"{len(pipeline.avatar)} Gaussians, "
          f"{pipeline.backend}, {time.perf_counter() - start:.2f} s)")
    return 0
