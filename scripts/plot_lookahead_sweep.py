"""Quality against audio look-ahead (issue 16): draws docs/images/lookahead_sweep.png from the
figures of docs/data/lookahead_sweep.csv (one row per variant and eval split, as measured in
docs/RESULTS.md section 8), each LVE relative to the 82.5 ms variant of the same sweep and
split, against the shipping rule's bounds (LVE within 5 %, bilabial closure within 3 points).

usage: python scripts/plot_lookahead_sweep.py [--table CSV] [--out PNG]"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REFERENCE_MS = 82.5


def read_rows(table: Path) -> list[dict]:
    lines = [line for line in table.read_text().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines))


def main(table: Path, out: Path) -> None:
    series: dict[tuple[str, str], dict[float, tuple[float, float]]] = {}
    for row in read_rows(table):
        key = (row["sweep"], row["split"])
        series.setdefault(key, {})[float(row["lookahead_ms"])] = (float(row["lve"]),
                                                                  float(row["bilabial"]))
    fig, (lve_ax, lip_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for (sweep, split), points in series.items():
        looks = sorted(points)
        ref_lve, ref_lip = points[REFERENCE_MS]
        label = f"{sweep}, {split}"
        lve_ax.plot(looks, [points[ms][0] / ref_lve for ms in looks], "o-", label=label)
        lip_ax.plot(looks, [points[ms][1] - ref_lip for ms in looks], "o-", label=label)
    lve_ax.axhline(1.05, color="grey", ls=":", lw=0.8)
    lve_ax.set_ylabel(f"LVE / LVE at {REFERENCE_MS} ms (same sweep)")
    lip_ax.axhline(-3.0, color="grey", ls=":", lw=0.8)
    lip_ax.set_ylabel(f"bilabial closure − at {REFERENCE_MS} ms (points)")
    for ax in (lve_ax, lip_ax):
        ax.set_xlabel("audio look-ahead (ms)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle("Quality against look-ahead (dotted: the shipping rule's bound)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=Path("docs/data/lookahead_sweep.csv"))
    parser.add_argument("--out", type=Path, default=Path("docs/images/lookahead_sweep.png"))
    args = parser.parse_args()
    main(args.table, args.out)
