"""`python main.py assets`: regenerate the embedded default assets and their manifest.

Every file under assets/ is produced by a generator in the repo. assets/MANIFEST.json records,
per generator, its files and their sha256, so a test (or `--check`) can regenerate everything
into a temporary folder and prove the committed bytes are what the code makes. Other generators
(the default regressor checkpoint, the demo clip) add themselves to GENERATORS; `--only` runs a
subset and keeps the other sections of the manifest as they are.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from avatar_app.output_paths import check_output_folder
from splat.assets_paths import ASSETS_DIR, DEFAULT_AVATAR, DEMO_CLIP, HUMAN_AVATAR
from splat.errors import UserInputError

MANIFEST_NAME = "MANIFEST.json"
MANIFEST_VERSION = 1


def _default_avatar(out: Path, seed: int) -> list[Path]:
    from splat.procedural.generate import generate_default_avatar

    return generate_default_avatar(out / DEFAULT_AVATAR.relative_to(ASSETS_DIR), seed)


def _human_avatar(out: Path, seed: int) -> list[Path]:
    from splat.human.generate import generate_human_avatar

    return generate_human_avatar(out / HUMAN_AVATAR.relative_to(ASSETS_DIR), seed)


def _demo_speech(out: Path, seed: int) -> list[Path]:
    from driver.demo_clip import write_demo_clip

    return [write_demo_clip(out / DEMO_CLIP.relative_to(ASSETS_DIR))]


# generator name -> function(assets folder, seed) -> files written (inside that folder).
GENERATORS: dict[str, Callable[[Path, int], list[Path]]] = {
    "default_avatar": _default_avatar,
    "demo_speech": _demo_speech,
    "human_avatar": _human_avatar,
}
# generator name -> provenance recorded beside its files (what third-party data it is made from).
def _human_provenance() -> dict:
    from splat.human.source import provenance

    return provenance()


PROVENANCE: dict[str, Callable[[], dict]] = {"human_avatar": _human_provenance}
DEFAULT_SEED = 7


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(assets_dir: Path) -> dict:
    """The manifest as a dict (an empty one when the file does not exist yet)."""
    path = assets_dir / MANIFEST_NAME
    if not path.is_file():
        return {"version": MANIFEST_VERSION, "generators": {}}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path} is not valid JSON ({exc})") from None


def run_generator(name: str, assets_dir: Path, seed: int) -> dict:
    """Run one generator into assets_dir; returns its manifest section."""
    files = GENERATORS[name](assets_dir, seed)
    section = {
        "seed": seed,
        "files": {p.relative_to(assets_dir).as_posix(): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
                  for p in sorted(files)},
    }
    if name in PROVENANCE:
        section["provenance"] = PROVENANCE[name]()
    return section


def write_manifest(assets_dir: Path, sections: dict[str, dict]) -> None:
    """Merge generator sections into the manifest (other generators' sections are kept)."""
    manifest = read_manifest(assets_dir)
    manifest["version"] = MANIFEST_VERSION
    manifest.setdefault("generators", {}).update(sections)
    manifest["generators"] = dict(sorted(manifest["generators"].items()))
    (assets_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


# relative and absolute: 0.1 mm in positions, 1e-4 in colours and rotations. Far below anything
# visible, far above the ulp-level differences that CPU generations give (see below).
CROSS_CPU_TOLERANCE = 1e-4


def _arrays(path: Path) -> dict[str, "np.ndarray"] | None:
    """The numbers a .ply (per element and property) or .npz holds; None for other files."""
    import numpy as np

    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    if path.suffix == ".ply":
        from plyfile import PlyData

        ply = PlyData.read(str(path))
        out = {f"{el.name}.{name}": el.data[name] for el in ply.elements
               for name in el.data.dtype.names}
        out["comments"] = np.array(ply.comments + ply.obj_info)
        return out
    return None


def same_up_to_rounding(fresh: Path, committed: Path) -> bool:
    """Whether two generated files hold the same numbers, floats up to cross-CPU rounding.

    Regeneration is byte-identical on one machine, but torch's and NumPy's vectorised float32
    kernels differ by an ulp between CPU generations (AVX2 against AVX-512): the default head's
    scales and rotations then come out 1e-7 apart, and the human head's chain of fits (rig,
    sampling, hair combing) carries that to ~4e-5 in colours and 5 µm in positions. That is the
    same asset, not a changed one; a changed generator moves the numbers far more.
    """
    import numpy as np

    a, b = _arrays(fresh), _arrays(committed)
    if a is None or b is None or a.keys() != b.keys():
        return False
    for key, x in a.items():
        y = b[key]
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if np.issubdtype(x.dtype, np.floating):
            if not np.allclose(x, y, rtol=CROSS_CPU_TOLERANCE, atol=CROSS_CPU_TOLERANCE,
                               equal_nan=True):
                return False
        elif not np.array_equal(x, y):
            return False
    return True


def check_against_manifest(assets_dir: Path, names: list[str]) -> list[str]:
    """Regenerate `names` into a temporary folder; mismatch descriptions (empty when equal)."""
    manifest = read_manifest(assets_dir)
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            recorded = manifest.get("generators", {}).get(name)
            if recorded is None:
                problems.append(f"{name}: not in {MANIFEST_NAME}")
                continue
            fresh = run_generator(name, Path(tmp), int(recorded.get("seed", DEFAULT_SEED)))
            for rel, info in recorded["files"].items():
                got = fresh["files"].get(rel)
                committed = assets_dir / rel
                if got is None or (got["sha256"] != info["sha256"] and not (
                        committed.is_file() and same_up_to_rounding(Path(tmp) / rel, committed))):
                    problems.append(f"{rel}: regenerated bytes differ from the manifest")
                if not committed.is_file() or sha256_file(committed) != info["sha256"]:
                    problems.append(f"{rel}: committed file differs from the manifest")
    return problems


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `assets` parser."""
    p = subparsers.add_parser(
        "assets", help="Regenerate the embedded default assets in assets/.",
        description="Regenerate the embedded default assets (procedural head rig and avatar, ...) "
                    "deterministically and record their sha256 in assets/MANIFEST.json.")
    p.add_argument("--seed", type=int, default=None, help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--out", type=Path, default=ASSETS_DIR, help="assets folder (default: the repo's assets/)")
    p.add_argument("--only", nargs="+", choices=sorted(GENERATORS), default=None,
                   help="run only these generators (default: all)")
    p.add_argument("--check", action="store_true",
                   help="regenerate into a temporary folder and compare with the manifest")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    names = args.only or sorted(GENERATORS)
    if args.check:
        problems = check_against_manifest(args.out, names)
        for line in problems:
            print(f"mismatch: {line}")
        if problems:
            raise UserInputError(f"{len(problems)} asset file(s) do not match; run python main.py assets")
        print(f"assets match {args.out / MANIFEST_NAME} ({', '.join(names)})")
        return 0
    check_output_folder(args.out)
    sections = {}
    for name in names:
        start = time.perf_counter()
        seed = DEFAULT_SEED if args.seed is None else args.seed
        sections[name] = run_generator(name, args.out, seed)
        files = sections[name]["files"]
        size = sum(f["bytes"] for f in files.values())
        print(f"{name}: {len(files)} files, {size / 1e6:.1f} MB, seed {seed}, "
              f"{time.perf_counter() - start:.1f} s")
    write_manifest(args.out, sections)
    print(f"wrote {args.out / MANIFEST_NAME}")
    return 0
