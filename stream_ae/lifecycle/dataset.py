"""The retraining job's data: windows cut as the detector cuts them, incidents left out,
and the newest windows of each series held out for the comparison.

Pure numpy over the detector's own WindowStore, so training sees the windows
(gaps, hop, running statistics) the service would score.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from stream_ae.core.records import Point, Rejection, WindowBatch
from stream_ae.core.windows import WindowStore

Incidents = dict[str, list[tuple[float, float]]]
"""series -> [(first, last) event time] of the incidents alerted on."""


def cut_windows(
    points: Iterable[Point],
    store: WindowStore,
    on_refused: Callable[[Point, Rejection], None] | None = None,
) -> WindowBatch:
    """Every window the points complete. Points a detector would refuse are skipped,
    each handed to `on_refused` first when one is given."""
    parts = []
    for p in points:
        refused = store.push(p.series, p.ts, p.values)
        if refused is not None:
            if on_refused is not None:
                on_refused(p, refused)
        elif store.needs_drain:
            parts.append(store.drain().batch)
    parts.append(store.drain().batch)
    return WindowBatch.concat([b for b in parts if len(b)], store.window, store.channels)


def incidents(alerts: Iterable[Mapping[str, Any]]) -> Incidents:
    """Incident spans from alert messages: open to resolve, or open onwards if unresolved.

    >>> incidents([{"series": "a", "incident_id": "i", "state": "open", "opened_ts": 5.0,
    ...             "ts": 5.0}, {"series": "a", "incident_id": "i", "state": "resolved",
    ...             "opened_ts": 5.0, "ts": 9.0}])
    {'a': [(5.0, 9.0)]}
    """
    spans: dict[tuple[str, str], tuple[str, float, float]] = {}
    for a in alerts:
        key = (str(a["series"]), str(a["incident_id"]))
        opened = float(a["opened_ts"])
        end = float(a["ts"]) if a["state"] == "resolved" else math.inf
        _, _, known_end = spans.get(key, ("", opened, math.inf))
        spans[key] = (key[0], opened, min(end, known_end))
    out: Incidents = defaultdict(list)
    for series, start, end in spans.values():
        out[series].append((start, end))
    return dict(out)


def _rows_by_series(windows: WindowBatch) -> dict[str, np.ndarray]:
    """Each series' row indices in `windows`, in order."""
    rows: dict[str, list[int]] = defaultdict(list)
    for i, series in enumerate(windows.series):
        rows[series].append(i)
    return {series: np.asarray(r) for series, r in rows.items()}


def overlapping(windows: WindowBatch, spans: Incidents) -> np.ndarray:
    """[rows] True where a window overlaps a span of its own series."""
    hit = np.zeros(len(windows), dtype=bool)
    for series, rows in _rows_by_series(windows).items():
        for start, end in spans.get(series, []):
            overlap = (windows.end_ts[rows] >= start) & (windows.ts[rows, 0] <= end)
            hit[rows[overlap]] = True
    return hit


def without_incidents(windows: WindowBatch, spans: Incidents) -> tuple[WindowBatch, int]:
    """The windows that overlap no incident of their series, and how many were left out."""
    hit = overlapping(windows, spans)
    return windows.take(np.flatnonzero(~hit)), int(hit.sum())


def merged(*spans: Incidents) -> Incidents:
    """One span table holding every span of `spans`."""
    out: Incidents = defaultdict(list)
    for table in spans:
        for series, pairs in table.items():
            out[series].extend(pairs)
    return dict(out)


def split_holdout(windows: WindowBatch, fraction: float) -> tuple[WindowBatch, WindowBatch]:
    """(train, holdout): the newest `fraction` of each series' windows is held out."""
    holdout = np.zeros(len(windows), dtype=bool)
    for rows in _rows_by_series(windows).values():
        newest = rows[np.argsort(windows.end_ts[rows], kind="stable")]
        n = round(len(rows) * fraction)
        if n:
            holdout[newest[-n:]] = True
    return windows.take(np.flatnonzero(~holdout)), windows.take(np.flatnonzero(holdout))


def after_training(windows: WindowBatch, train: WindowBatch) -> WindowBatch:
    """The windows that end after their series' last training window (a series with no
    training window contributes all of its windows)."""
    last: dict[str, float] = {}
    for series, end in zip(train.series, train.end_ts.tolist(), strict=True):
        last[series] = max(end, last.get(series, end))
    keep = [
        i
        for i, (series, end) in enumerate(zip(windows.series, windows.end_ts.tolist(), strict=True))
        if end > last.get(series, -np.inf)
    ]
    return windows.take(np.asarray(keep, dtype=np.int64))
