"""README's docs/images/human_vs_default.png: the default head (top row) and the human head
(bottom row), front / three-quarter / profile / a smile with the jaw open, each 384² from a 512²
render on the CPU under each avatar's default light.

    python scripts/human_vs_default.py [--out docs/images/human_vs_default.png]

Both heads are framed with the same "face" preset `still` uses; the smile is each rig's own
names for it (the default rig's smile_L/R, ARKit's mouthSmileLeft/Right) at the same jaw.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from splat.assets_paths import DEFAULT_AVATAR, HUMAN_AVATAR  # noqa: E402

RENDER, TILE = 512, 384
VIEWS = (("front", 0.0), ("three_quarter", 35.0), ("profile", 90.0), ("smile", 0.0))
SMILE_JAW_RAD = 0.15
SMILES = {DEFAULT_AVATAR: {"smile_L": 1.0, "smile_R": 1.0},
          HUMAN_AVATAR: {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.8}}


def head_row(folder: Path) -> np.ndarray:
    """The four views of one head side by side (H, 4W, 3) uint8 RGB."""
    import cv2

    from splat.cameras import orbit_camera
    from splat.pipeline import AvatarPipeline

    pipeline = AvatarPipeline.open(folder, None, backend="cpu")
    names = list(pipeline.rig_data.expr_names)
    target, distance = pipeline.framing("face", RENDER, RENDER)
    tiles = []
    for view, yaw in VIEWS:
        expr = np.zeros(len(names), np.float32)
        jaw = 0.0
        if view == "smile":
            for name, value in SMILES[folder].items():
                expr[names.index(name)] = value
            jaw = SMILE_JAW_RAD
        camera = orbit_camera(yaw, 0.0, distance, target, width=RENDER, height=RENDER)
        image, _ = pipeline.render({"expr": expr, "jaw_pose": np.array([jaw, 0.0, 0.0], np.float32)},
                                   camera, (1.0, 1.0, 1.0))
        pixels = (np.asarray(image) * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
        tiles.append(cv2.resize(pixels, (TILE, TILE), interpolation=cv2.INTER_AREA))
    return np.hstack(tiles)


def main() -> int:
    import cv2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/human_vs_default.png"))
    args = parser.parse_args()
    grid = np.vstack([head_row(DEFAULT_AVATAR), head_row(HUMAN_AVATAR)])
    if not cv2.imwrite(str(args.out), np.ascontiguousarray(grid[..., ::-1])):
        raise SystemExit(f"error: could not write {args.out}")
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
