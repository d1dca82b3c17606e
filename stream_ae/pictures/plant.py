"""A picture of a simulated run: a few sensors, their true incidents and the alerts.

A sensor of several channels is drawn as one line per channel, each standardised on
its own median and spread, so that coupled channels that move together overlay and a
fault that pulls one away from its partners shows as a gap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from stream_ae.core.records import Alert, AlertState, Point
from stream_ae.errors import StreamAEError
from stream_ae.plant.evaluate import Incident

SeriesPoints = Mapping[str, tuple[np.ndarray, np.ndarray]]
"""Series id -> (event times in epoch seconds [rows], values [rows, channels])."""


def series_arrays(points: Iterable[Point]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Gather points (of any order of series) into `SeriesPoints`, every channel.

    >>> arrays = series_arrays([Point("a", 0.0, (1.0, 3.0)), Point("b", 0.0, (5.0, 6.0)),
    ...                         Point("a", 60.0, (2.0, 4.0))])
    >>> arrays["a"][1].tolist(), arrays["b"][0].tolist()
    ([[1.0, 3.0], [2.0, 4.0]], [0.0])
    """
    ts: dict[str, list[float]] = defaultdict(list)
    values: dict[str, list[tuple[float, ...]]] = defaultdict(list)
    for p in points:
        ts[p.series].append(p.ts)
        values[p.series].append(p.values)
    return {s: (np.asarray(ts[s]), np.asarray(values[s], dtype=np.float64)) for s in ts}


def _standardised(values: np.ndarray) -> np.ndarray:
    centre = np.median(values, axis=0)
    spread = np.subtract(*np.percentile(values, [75, 25], axis=0))
    return (values - centre) / np.where(spread > 0, spread, 1.0)


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
    channels: Sequence[str] = (),
) -> Path:
    """Draw a few sensors to a PNG, one panel each: the values (several channels, named
    by `channels`, standardised), each true incident as a light grey span labelled
    with its kind, each alert as a red line where it opened (and a dashed one where it
    resolved, when that is known)."""
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
        values = values.reshape(len(ts), -1)
        when = [_when(t) for t in ts]
        if values.shape[1] == 1:
            ax.plot(when, values[:, 0], lw=0.7, color="#1f77b4")
            ax.set_ylabel(channels[0] if channels else "value")
        else:
            names = list(channels) or [f"channel {c}" for c in range(values.shape[1])]
            for column, label in zip(_standardised(values).T, names, strict=True):
                ax.plot(when, column, lw=0.6, label=label)
            ax.set_ylabel("standardised")
            ax.legend(loc="lower left", fontsize=7, ncols=len(names))
        mine = [inc for inc in truth if inc.series == name]
        for inc in mine:
            ax.axvspan(_when(inc.start_ts), _when(inc.end_ts), color="0.8", lw=0, zorder=0)
            ax.annotate(
                f"{inc.kind} ({', '.join(inc.channels)})" if inc.channels else inc.kind,
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
    fig.suptitle("grey: true incidents; red: alert opened (dashed: resolved)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
