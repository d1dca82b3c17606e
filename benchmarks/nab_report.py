"""Where a detector's NAB points go, and the pictures for RESULTS.md.

Reads what `stream-ae bench nab CORPUS --out OUT` wrote and splits each detector's
own alerts (standard profile) into what they cost against the perfect detector:
missed windows (tp + fn each), late detections (tp less the sigmoid's worth), and
false pages (their fp cost), per corpus folder, in normalised points.

    python benchmarks/nab_report.py ../shared/data/nab out/nab [--png benchmarks/results]
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from stream_ae.bench.nab import load_corpus
from stream_ae.bench.nab_scoring import STANDARD, FileRows, row_values
from stream_ae.bench.run_nab import scoreboard


def losses(corpus: Path, out: Path, detector: str) -> dict[str, dict[str, float]]:
    """Per folder: windows, missed, late loss, false pages and their cost (raw points)."""
    by_folder: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for f in load_corpus(corpus):
        folder, name = f.name.split("/", 1)
        with (out / detector / folder / f"{detector}_{name}").open(newline="") as handle:
            alert = np.array([int(r["alert"]) for r in csv.DictReader(handle)])
        rows = FileRows(alert.astype(float), f.windows, f.probation)
        windows = rows.counted_windows()
        value, inside = row_values(len(alert), windows, STANDARD)
        pages = np.flatnonzero(alert[f.probation :]) + f.probation
        got = by_folder[folder]
        got["windows"] += len(windows)
        for k in range(len(windows)):
            hits = pages[inside[pages] == k]
            if len(hits):
                got["late"] += STANDARD.tp - float(value[hits].max())
            else:
                got["missed"] += 1
        false = pages[inside[pages] < 0]
        got["false_pages"] += len(false)
        got["false_cost"] += -float(value[false].sum())
    return {k: dict(v) for k, v in sorted(by_folder.items())}


def normalised(raw: float, windows: float) -> float:
    """Raw points as normalised ones: the span from null to perfect is (tp + fn) x windows."""
    return 100.0 * raw / ((STANDARD.tp + STANDARD.fn) * windows)


def table(report: dict[str, dict[str, float]]) -> str:
    total = sum(v["windows"] for v in report.values())
    lines = [
        "| folder | windows | missed | lost to misses | lost to lateness | false pages "
        "| lost to false pages |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    sums: dict[str, float] = defaultdict(float)
    for folder, v in report.items():
        for key in ("windows", "missed", "late", "false_pages", "false_cost"):
            sums[key] += v.get(key, 0.0)
        lines.append(_row(folder, v, total))
    lines.append(_row("**all**", sums, total))
    return "\n".join(lines)


def _row(name: str, v: dict[str, float], total: float) -> str:
    miss = v.get("missed", 0.0) * (STANDARD.tp + STANDARD.fn)
    return (
        f"| {name} | {v['windows']:.0f} | {v.get('missed', 0):.0f} "
        f"| {normalised(miss, total):.1f} | {normalised(v.get('late', 0.0), total):.1f} "
        f"| {v.get('false_pages', 0):.0f} | {normalised(v.get('false_cost', 0.0), total):.1f} |"
    )


def plot_scores(corpus: Path, out: Path, png: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours = json.loads((out / "scores.json").read_text())
    rows = [(name, float(vals[0]), "published") for name, vals in scoreboard(corpus / "SCORING.md")]
    for s in ours:
        rows.append((f"{s['name']} (best threshold)", s["continuous"]["standard"], "this run"))
        rows.append((f"{s['name']} (own alerts)", s["alerts"]["standard"], "this run"))
    rows = [r for r in rows if r[1] > -20]  # the baselines' alerts far below 0 are in the table
    rows.sort(key=lambda r: r[1])
    colours = [
        "#08519c" if n.startswith("stream-ae") else "#fd8d3c" if src == "this run" else "#bdbdbd"
        for n, _, src in rows
    ]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.2))
    ax.barh([r[0] for r in rows], [r[1] for r in rows], color=colours)
    for y, (_, v, _) in enumerate(rows):
        ax.text(max(v, 0) + 1, y, f"{v:.1f}", va="center", fontsize=7)
    ax.set_xlabel("NAB normalised score, standard profile (0 = never fires, 100 = perfect)")
    ax.set_title("NAB, 58 files: stream-ae and baselines replayed here (colour), published (grey)")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    path = png / "nab_scores.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_losses(report: dict[str, dict[str, float]], png: Path, detector: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    total = sum(v["windows"] for v in report.values())
    folders = list(report)
    parts = {
        "missed windows": [
            normalised(report[f].get("missed", 0) * (STANDARD.tp + STANDARD.fn), total)
            for f in folders
        ],
        "late detections": [normalised(report[f].get("late", 0), total) for f in folders],
        "false pages": [normalised(report[f].get("false_cost", 0), total) for f in folders],
    }
    fig, ax = plt.subplots(figsize=(9, 4))
    left = np.zeros(len(folders))
    for (name, widths), colour in zip(
        parts.items(), ("#d62728", "#fdae6b", "#6baed6"), strict=True
    ):
        ax.barh(folders, widths, left=left, label=name, color=colour)
        left += widths
    ax.set_xlabel("normalised points lost against the perfect detector (standard profile)")
    ax.set_title(f"Where {detector}'s own alerts lose NAB points, by corpus folder")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = png / "nab_losses.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("out", type=Path, help="the --out folder of `stream-ae bench nab`")
    parser.add_argument("--detector", default="stream-ae")
    parser.add_argument("--png", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    report = losses(args.corpus, args.out, args.detector)
    print(f"{args.detector}, own alerts, standard profile: normalised points lost\n")
    print(table(report))
    args.png.mkdir(parents=True, exist_ok=True)
    print(f"\nplot: {plot_scores(args.corpus, args.out, args.png)}")
    print(f"plot: {plot_losses(report, args.png, args.detector)}")


if __name__ == "__main__":
    main()
