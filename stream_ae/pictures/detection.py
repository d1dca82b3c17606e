"""Pictures of a detection run: each series with its alerts, and score against threshold."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from stream_ae.connectors.scored import read_scored
from stream_ae.errors import StreamAEError

MAX_SERIES = 4


def _incidents(alerts: Path) -> dict[str, list[tuple[float, float | None, str]]]:
    spans: dict[str, dict[str, list[Any]]] = defaultdict(dict)
    if alerts.is_file():
        for line in alerts.read_text().splitlines():
            a = json.loads(line)
            entry = spans[a["series"]].setdefault(a["incident_id"], [a["ts"], None, "warning"])
            if a["state"] == "open":
                entry[0], entry[2] = a["ts"], a["severity"]
            else:
                entry[1] = a["ts"]
    return {
        s: [(float(v[0]), None if v[1] is None else float(v[1]), str(v[2])) for v in inc.values()]
        for s, inc in spans.items()
    }


def plot_detection(scored_csv: Path, alerts_jsonl: Path, out: Path, title: str = "") -> Path:
    """Draw up to four series (those with the most alerts first) to a PNG."""
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise StreamAEError("--plot needs matplotlib: pip install 'stream-ae[plots]'") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    channels, data = read_scored(scored_csv)
    incidents = _incidents(alerts_jsonl)
    ranked = sorted(data, key=lambda s: (-len(incidents.get(s, [])), s))[:MAX_SERIES]
    if not ranked:
        raise ValueError(f"{scored_csv} has no scored rows to plot")
    fig, axes = plt.subplots(
        2 * len(ranked),
        1,
        figsize=(13, 4.2 * len(ranked)),
        sharex=False,
        gridspec_kw={"height_ratios": [3, 1.4] * len(ranked)},
        squeeze=False,
    )
    colours = {"warning": "#f2b233", "major": "#e8702a", "critical": "#d62728"}
    for k, series in enumerate(ranked):
        col = data[series]
        ax, axs = axes[2 * k, 0], axes[2 * k + 1, 0]
        t = [datetime.fromtimestamp(x, UTC) for x in col.ts.tolist()]
        for c, channel in enumerate(channels):
            ax.plot(t, col.values[:, c], lw=0.8, label=channel)
        opened: Counter[str] = Counter()
        for start, end, severity in incidents.get(series, []):
            a = datetime.fromtimestamp(start, UTC)
            b = datetime.fromtimestamp(end, UTC) if end is not None else t[-1]
            ax.axvspan(a, b, color=colours.get(severity, "red"), alpha=0.25, lw=0)
            ax.axvline(a, color=colours.get(severity, "red"), lw=1.0)
            opened[severity] += 1
        legend = ", ".join(f"{n} {s}" for s, n in sorted(opened.items())) or "no alerts"
        ax.set_title(f"{series} — alerts: {legend}", loc="left", fontsize=10)
        ax.set_ylabel("value")
        if len(channels) > 1:
            ax.legend(loc="upper left", fontsize=8)
        score, threshold = col.score, col.threshold
        axs.plot(t, score, lw=0.7, color="#1f77b4", label="score")
        axs.plot(t, threshold, lw=1.0, color="#d62728", label="threshold")
        if np.nanmin(score, initial=np.inf) > 0:
            axs.set_yscale("log")
        axs.set_ylabel("score")
        axs.legend(loc="upper left", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
