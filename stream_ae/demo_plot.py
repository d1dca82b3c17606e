"""A picture of a simulated run: a few sensors, their true incidents and the alerts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from stream_ae.core.records import Alert, AlertState, Point
from stream_ae.errors import StreamAEError
from stream_ae.evaluate import Incident

SeriesPoints = Mapping[str, tuple[np.ndarray, np.ndarray]]
"""Series id -> (event times in epoch seconds, values), both 1-D and of equal length."""


def series_arrays(points: Iterable[Point]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Gather points (of any order of series) into `SeriesPoints`, first channel only.

    >>> arrays = series_arrays([Point("a", 0.0, (1.0,)), Point("b", 0.0, (5.0,)),
    ...                         Point("a", 60.0, (2.0,))])
    >>> arrays["a"][1].tolist(), arrays["b"][0].tolist()
    ([1.0, 2.0], [0.0])
    """
    ts: dict[str, list[float]] = defaultdict(list)
    values: dict[str, list[float]] = defaultdict(list)
    for p in points:
        ts[p.series].append(p.ts)
        values[p.series].append(p.values[0])
    return {s: (np.asarray(ts[s]), np.asarray(values[s])) for s in ts}


def pick_sensors(names: Iterable[str], truth: Sequence[Incident], count: int) -> list[str]:
    """Up to `count` series: those with incidents first, chosen so the panels show as
    many different kinds as they can, then the busiest; quiet series fill the rest.

    >>> truth = [Incident("a", "spike", 0, 1), Incident("a", "spike", 5, 6),
    ...          Incident("b", "spike", 0, 1), Incident("c", "flat", 0, 9)]
    >>> pick_sensors(["a", "b", "c", "d"], truth, 3)
    ['a', 'c', 'b']
    """
    kinds: dict[str, list[str]] = defaultdict(list)
    for inc in truth:
        kinds[inc.series].append(inc.kind)
    pool = sorted(n for n in names if n in kinds)
    chosen: list[str] = []
    shown: set[str] = set()
    while pool and len(chosen) < count:
        # max keeps the first of equals, and the pool is in name order: deterministic.
        best = max(pool, key=lambda n: (len(set(kinds[n]) - shown), len(kinds[n])))
        chosen.append(best)
        shown.update(kinds[best])
        pool.remove(best)
    quiet = sorted(n for n in names if n not in kinds)
    return chosen + quiet[: count - len(chosen)]


def _when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def plot_sensors(
    series_points: SeriesPoints,
    alerts: Sequence[Alert],
    truth: Sequence[Incident],
    out: Path,
    sensors: int = 4,
) -> Path:
    """Draw a few sensors to a PNG, one panel each: the values, each true incident as
    a light grey span labelled with its kind, each alert as a red line where it opened
    (and a dashed one where it resolved, when that is known)."""
    if sensors < 1:
        raise ValueError(f"sensors must be at least 1 (got {sensors}).")
    names = pick_sensors(series_points, truth, sensors)
    if not names:
        raise ValueError("There are no series to plot; pass at least one series' points.")
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise StreamAEError(
            "plot_sensors needs matplotlib: pip install 'stream-ae[plots]'"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    resolved = {a.incident_id: a.ts for a in alerts if a.state == AlertState.RESOLVED}
    fig, axes = plt.subplots(len(names), 1, figsize=(13, 2.8 * len(names)), squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        ts, values = series_points[name]
        ax.plot([_when(t) for t in ts], values, lw=0.7, color="#1f77b4")
        mine = [inc for inc in truth if inc.series == name]
        for inc in mine:
            ax.axvspan(_when(inc.start_ts), _when(inc.end_ts), color="0.8", lw=0, zorder=0)
            ax.annotate(
                inc.kind,
                (_when(inc.start_ts), 1.0),
                xycoords=("data", "axes fraction"),
                va="top",
                fontsize=8,
                color="0.35",
            )
        opens = [a for a in alerts if a.series == name and a.state == AlertState.OPEN]
        for a in opens:
            ax.axvline(_when(a.ts), color="#d62728", lw=1.0)
            if a.incident_id in resolved:
                ax.axvline(_when(resolved[a.incident_id]), color="#d62728", lw=0.8, ls="--")
        kinds = ", ".join(sorted({inc.kind for inc in mine})) or "none"
        ax.set_title(
            f"{name} — incidents: {len(mine)} ({kinds}); alerts opened: {len(opens)}",
            loc="left",
            fontsize=10,
        )
        ax.set_ylabel("value")
    fig.suptitle("grey: true incidents; red: alert opened (dashed: resolved)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
