"""The scored-points CSV that `stream-ae detect` writes, and the one reader of it.

Columns: series, timestamp (ISO 8601 UTC), one per channel, score, threshold,
level, alert_state, scorer. Plots and the replay benchmarks read it back with `read_scored`.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stream_ae.connectors.timestamps import format_ts, parse_ts
from stream_ae.connectors.writers import LineWriter
from stream_ae.core.alerting import ACTIVE, OPENED, STATE_NAMES
from stream_ae.core.records import Point
from stream_ae.errors import InputError

FIXED = ("series", "timestamp", "score", "threshold", "level", "alert_state", "scorer")
"""The columns besides the channels; level is the score graded in [0, 1] (0.5 at the
threshold, comparable across series); alert_state is one of the policy's STATE_NAMES
(none, opened here, still open: every row of an open incident says so, resolved here)."""
_OPTIONAL = ("level",)
"""Columns a file written before they existed may lack."""
_OPEN_STATES = (STATE_NAMES[OPENED], STATE_NAMES[ACTIVE])


class ScoredCsvWriter(LineWriter):
    """Every scored point as a CSV row, for plots and benchmark scoring.

    Columns: series, timestamp (ISO 8601 UTC), one per channel, score, threshold,
    level, alert_state, scorer. A point without a score yet has empty score,
    threshold and level.
    """

    def __init__(self, path: Path, channels: Sequence[str]) -> None:
        clash = sorted(set(channels) & set(FIXED))
        if clash or len(set(channels)) != len(channels) or not channels:
            raise ValueError(
                f"Channel names {list(channels)} must be distinct, at least one, "
                f"and none of {', '.join(FIXED)}; rename {clash or 'the repeats'}."
            )
        super().__init__(path)
        self.channels = tuple(channels)
        self._csv = csv.writer(self._file, lineterminator="\n")
        self._csv.writerow([*FIXED[:2], *self.channels, *FIXED[2:]])

    def write(
        self,
        point: Point,
        score: float | None,
        threshold: float | None,
        alert_state: str = "",
        scorer: str = "",
        level: float | None = None,
    ) -> None:
        if alert_state not in STATE_NAMES:
            raise ValueError(f"alert_state {alert_state!r} must be one of {STATE_NAMES}.")
        if len(point.values) != len(self.channels):
            raise ValueError(
                f"The point has {len(point.values)} values but this file has "
                f"channels {list(self.channels)}."
            )
        self._csv.writerow(
            [
                point.series,
                format_ts(point.ts),
                *point.values,
                "" if score is None else score,
                "" if threshold is None else threshold,
                "" if level is None else round(level, 6),
                alert_state,
                scorer,
            ]
        )


@dataclass(frozen=True)
class ScoredSeries:
    """One series' rows of a scored CSV, in file order."""

    ts: np.ndarray
    """[rows] epoch seconds."""
    values: np.ndarray
    """[rows, channels]."""
    score: np.ndarray
    """[rows] reconstruction error; NaN where the point had no score yet."""
    threshold: np.ndarray
    """[rows] the series' threshold at that row; NaN where there was none."""
    level: np.ndarray
    """[rows] the score graded in [0, 1]; NaN where there was none (or in a file
    written before the column existed)."""
    state: tuple[str, ...]
    """[rows] one of the policy's STATE_NAMES."""

    @property
    def in_incident(self) -> np.ndarray:
        """[rows] True where an incident was open (opened here or still open)."""
        return np.isin(np.array(self.state, dtype=object), _OPEN_STATES)


def read_scored(path: Path) -> tuple[tuple[str, ...], dict[str, ScoredSeries]]:
    """(channels, rows by series) of a file `ScoredCsvWriter` wrote."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = tuple(reader.fieldnames or ())
            channels = tuple(c for c in fields if c not in FIXED)
            if not channels or not set(FIXED) - set(_OPTIONAL) <= set(fields):
                raise InputError(
                    f"{path} is not a scored CSV (columns {', '.join(fields) or 'none'}); "
                    "give the scored.csv that `stream-ae detect` wrote."
                )
            rows: dict[str, list[dict[str, str]]] = {}
            for row in reader:
                rows.setdefault(row["series"], []).append(row)
    except OSError as exc:
        raise InputError(f"Cannot read scored points from {path}: {exc}.") from None

    def column(rows: list[dict[str, str]], name: str) -> np.ndarray:
        return np.array([float(r[name]) if r.get(name) else np.nan for r in rows])

    return channels, {
        series: ScoredSeries(
            ts=np.array([parse_ts(r["timestamp"]) for r in got]),
            values=np.array([[float(r[c]) for c in channels] for r in got]),
            score=column(got, "score"),
            threshold=column(got, "threshold"),
            level=column(got, "level"),
            state=tuple(r["alert_state"] for r in got),
        )
        for series, got in rows.items()
    }
