"""Quality against audio look-ahead (issue 16's sweep): reads the `eval --json` files that
runs/sweep/eval_variant.sh wrote for each variant and draws docs/images/lookahead_sweep.png.

usage: python scripts/plot_lookahead_sweep.py runs/sweep 2.5 22.5 32.5 62.5 82.5
(variant tags are `la_<ms>`; the 82.5 ms variant is the reference of the shipping rule)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(folder: Path, ms: str, kind: str) -> dict:
    return json.loads((folder / f"la_{ms}.{kind}.json").read_text())


def main(folder: Path, looks: list[str], out: Path) -> None:
    xs = [float(ms) for ms in looks]
    rows = {ms: {k: load(folder, ms, k) for k in ("val", "test", "reverb", "realtest")}
            for ms in looks}
    ref = rows[looks[-1]]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for split, style in (("val", "o--"), ("test", "o-")):
        lve = [rows[ms][split]["model"]["lve"] / ref[split]["model"]["lve"] for ms in looks]
        axes[0].plot(xs, lve, style, label=f"synthetic {split}")
    axes[0].axhline(1.05, color="grey", ls=":", lw=0.8)
    axes[0].set_ylabel("LVE / LVE at 82.5 ms")
    closures = [("test", "bilabial_closure", "bilabial, synthetic test"),
                ("reverb", "bilabial_closure", "bilabial, 2 s reverb"),
                ("test", "silence_closure", "silence, synthetic test"),
                ("reverb", "silence_closure", "silence, 2 s reverb")]
    for split, key, label in closures:
        axes[1].plot(xs, [100 * rows[ms][split]["model"][key] for ms in looks], "o-", label=label)
    axes[1].set_ylabel("closure (%)")
    pooled = [rows[ms]["realtest"]["pooled"]["model"] for ms in looks]
    axes[2].plot(xs, [100 * p["silence_closure"] for p in pooled], "o-", label="silence closure")
    axes[2].plot(xs, [100 * p["silence_closure_bands"]["> -30 dB"] for p in pooled], "o-",
                 label="loudest pauses")
    axes[2].plot(xs, [100 * p["speech_opening"] for p in pooled], "o-", label="speech opening")
    axes[2].plot(xs, [100 * p["r_lag0"] for p in pooled], "o-", label="100 r(aperture, loudness)")
    axes[2].set_ylabel("real speech, held-out (%)")
    for ax in axes:
        ax.set_xlabel("audio look-ahead (ms)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle("Quality against look-ahead (same recipe, data and steps per variant)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:], Path("docs/images/lookahead_sweep.png"))
