"""Small immutable records that flow between the detector's parts.

They are plain frozen dataclasses: validation of untrusted input happens at the
edge (connectors), not here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


@dataclass(frozen=True, slots=True)
class Point:
    """One observation of one series.

    >>> Point("pump-7", 1732262400.0, (0.73,))
    Point(series='pump-7', ts=1732262400.0, values=(0.73,))
    """

    series: str
    """Series id; a series keeps a fixed channel set for its whole life."""
    ts: float
    """Event time, epoch seconds (UTC)."""
    values: tuple[float, ...]
    """One value per channel, in the series' channel order."""


@dataclass(frozen=True, slots=True)
class PointColumns:
    """Points of many series as columns: what the hot path carries, not a Point each.

    >>> cols = PointColumns.of([Point("a", 1.0, (0.5,)), Point("b", 2.0, (1.0, 2.0))], 1)
    >>> cols.values.tolist(), cols[1]
    ([[0.5], [nan]], Point(series='b', ts=2.0, values=(1.0, 2.0)))
    """

    series: Sequence[str]
    ts: np.ndarray
    """[points] float64 event time, epoch seconds."""
    values: np.ndarray
    """[points, channels] float64."""
    given: Sequence[tuple[float, ...]] | None = None
    """The values as given, kept only when some row is not `channels` numbers (it reads
    as NaN in `values`): indexing gives back that point as it came, for the caller to
    judge."""

    def __post_init__(self) -> None:
        n = len(self.series)
        if self.ts.shape != (n,) or self.values.ndim != 2 or len(self.values) != n:
            raise ValueError(
                f"columns of {n} series ids need [{n}] times and [{n}, channels] values "
                f"(got {self.ts.shape} and {self.values.shape})"
            )
        # Numbers only: the hot path reads these columns as float64 without a check per
        # point. Rows as they came (text, None, datetimes) go through `from_rows`, which
        # keeps them for the store to refuse one by one, saying why.
        for name, column in (("times", self.ts), ("values", self.values)):
            if column.dtype.kind not in "fiu":
                raise ValueError(
                    f"columns hold {name} as numbers (float64), got {column.dtype}; build "
                    "columns of points as given with PointColumns.from_rows"
                )
        if self.given is not None and len(self.given) != n:
            raise ValueError(f"{n} points but {len(self.given)} rows as given")

    def __len__(self) -> int:
        return len(self.series)

    def __getitem__(self, i: int) -> Point:
        """Point `i`, built on demand (for the rare point judged one at a time)."""
        values = self.given[i] if self.given is not None else tuple(self.values[i].tolist())
        return Point(self.series[i], float(self.ts[i]), values)

    def rows(self, start: int, stop: int) -> PointColumns:
        """Points [start, stop), as columns (views of these where numpy makes them)."""
        given = None if self.given is None else self.given[start:stop]
        return PointColumns(
            self.series[start:stop], self.ts[start:stop], self.values[start:stop], given
        )

    @staticmethod
    def join(first: PointColumns, then: PointColumns) -> PointColumns:
        """The points of `first`, then those of `then`."""
        if not len(first):
            return then
        given = None
        if first.given is not None or then.given is not None:
            given = [first[i].values for i in range(len(first))]
            given += [then[i].values for i in range(len(then))]
        return PointColumns(
            [*first.series, *then.series],
            np.concatenate([first.ts, then.ts]),
            np.concatenate([first.values, then.values]),
            given,
        )

    @staticmethod
    def of(points: Sequence[Point], channels: int) -> PointColumns:
        """The columns of `points` (see `from_rows`)."""
        return PointColumns.from_rows(
            [p.series for p in points], [p.ts for p in points], [p.values for p in points], channels
        )

    @staticmethod
    def from_rows(
        series: Sequence[str],
        ts: Sequence[float],
        rows: Sequence[tuple[float, ...]],
        channels: int,
    ) -> PointColumns:
        """Columns of points given as a series id, a time and a tuple of values each; a
        time that is not a number, or a row without `channels` numbers a float holds
        (another count, a string, an integer too big), reads as NaN, and the rows are
        kept for indexing: whoever takes such a point judges it from the row itself."""
        n = len(series)
        times = _floats_or_nan(ts)
        try:
            given = np.array(rows) if n else np.zeros((0, channels))
        except (ValueError, TypeError):  # ragged: some row has another channel count
            given = np.zeros(0)
        if given.shape == (n, channels) and given.dtype.kind in "biuf":
            return PointColumns(series, times, given.astype(np.float64, copy=False))
        values = np.full((n, channels), np.nan)
        for i, row in enumerate(rows):
            # A library caller's row may be anything (None, a number, a generator).
            numbers = isinstance(row, tuple | list) and len(row) == channels
            if numbers and all(isinstance(v, int | float) for v in row):
                with contextlib.suppress(OverflowError):
                    values[i] = row
        return PointColumns(series, times, values, rows)


def _floats_or_nan(ts: Sequence[object]) -> np.ndarray:
    """[n] float64 `ts`, NaN for any that is not a number a float holds. Not numpy's own
    parse of the whole list: it would read the string '12' as 12.0, which the point by
    point path refuses."""
    try:
        given = np.array(ts) if len(ts) else np.zeros(0)
    except (ValueError, TypeError):  # ragged: some time is itself a sequence
        given = np.zeros(0, dtype=object)
    if given.dtype.kind in "biuf" and given.ndim == 1:
        return given.astype(np.float64, copy=False)
    times = np.full(len(ts), np.nan)
    for i, t in enumerate(ts):
        if isinstance(t, int | float):
            with contextlib.suppress(OverflowError):
                times[i] = t
    return times


class RejectReason(StrEnum):
    """Why a point was not taken into its series' window (bounded: used as a metric label)."""

    NON_FINITE = "non_finite"
    OUT_OF_ORDER = "out_of_order"
    DUPLICATE = "duplicate"
    WRONG_CHANNELS = "wrong_channels"
    CAPACITY = "capacity"
    MALFORMED = "malformed"
    INVALID_SERIES = "invalid_series"
    """The series id is not valid UTF-8, too long, or holds control characters."""
    OUT_OF_RANGE = "out_of_range"
    """A value too large for float32 scaling (or a window that turned non-finite)."""
    EMPTY = "empty"
    """A message that held no point at all (an empty array, say)."""
    TOO_FAR_AHEAD = "too_far_ahead"
    """An event time too far ahead of its series' own clock or of wall time."""
    INTERNAL_ERROR = "internal_error"
    """Scoring the point raised an unexpected error; the dead letter's id names the
    logged traceback."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A point (or raw input) that was refused, with the reason and where it came from."""

    reason: RejectReason
    detail: str
    """A sentence for people: what was wrong and, where it helps, what to do."""
    series: str | None = None
    ts: float | None = None
    source: str = ""
    """Where the input came from: 'file.csv:17', 'topic/partition@offset'."""
    raw: str = ""
    """The raw input, truncated, so nothing is silently lost."""


@dataclass(frozen=True, slots=True)
class WindowBatch:
    """Windows of many series gathered for one scoring call.

    Row i is the window of `series[i]` ending at `end_ts[i]`.
    """

    series: tuple[str, ...]
    end_ts: np.ndarray
    """[batch] float64, event time of each window's last point."""
    ts: np.ndarray
    """[batch, window] float64, event time of every step."""
    values: np.ndarray
    """[batch, window, channels] float32, raw (unnormalised) values."""
    mean: np.ndarray
    """[batch, channels] the series' running mean as of the window's last point."""
    var: np.ndarray
    """[batch, channels] the series' running variance as of the window's last point."""

    def __len__(self) -> int:
        return len(self.series)

    def take(self, rows: np.ndarray) -> WindowBatch:
        """The rows `rows` (int indices), in that order."""
        return WindowBatch(
            tuple(self.series[i] for i in rows.tolist()),
            self.end_ts[rows],
            self.ts[rows],
            self.values[rows],
            self.mean[rows],
            self.var[rows],
        )

    @staticmethod
    def concat(parts: Sequence[WindowBatch], window: int, channels: int) -> WindowBatch:
        """One batch of the rows of `parts`, in order (an empty one of this shape if none)."""
        if not parts:
            none = np.zeros((0, channels))
            return WindowBatch(
                (),
                np.zeros(0),
                np.zeros((0, window)),
                np.zeros((0, window, channels), dtype=np.float32),
                none,
                none,
            )
        return WindowBatch(
            tuple(s for b in parts for s in b.series),
            np.concatenate([b.end_ts for b in parts]),
            np.concatenate([b.ts for b in parts]),
            np.concatenate([b.values for b in parts]),
            np.concatenate([b.mean for b in parts]),
            np.concatenate([b.var for b in parts]),
        )


@dataclass(frozen=True, slots=True)
class ScoreBatch:
    """What a scorer says about a batch of windows: a score is not a decision."""

    scores: np.ndarray
    """[batch] float64, larger is more anomalous."""
    errors: np.ndarray | None = None
    """[batch, window, channels] per-step, per-channel error used to explain an alert, on
    each channel's own error scale (see `stream_ae.core.channels`)."""
    expected: np.ndarray | None = None
    """[batch, window, channels] what the model expected, in the scorer's input units."""
    channel_errors: np.ndarray | None = None
    """[batch, channels] each channel's mean error over the window on its own scale: what
    the score combined, so the largest names the channel that drove it."""
    mse: np.ndarray | None = None
    """[batch] the window's plain mean squared error over every step and channel, before
    any per-channel scale: comparable between two models, whatever their scales."""


class Severity(StrEnum):
    """How far the score went past the threshold (bounded: used as a metric label)."""

    WARNING = "warning"
    MAJOR = "major"
    CRITICAL = "critical"


class AlertState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Contributor:
    """One time step and channel of the alerting window that drove its error."""

    ts: float
    channel: str
    expected: float
    actual: float
    error: float
    """The cell's error on its channel's own error scale."""


@dataclass(frozen=True, slots=True)
class Alert:
    """An anomaly opened or resolved on one series."""

    alert_id: str
    """Deterministic: the same input replayed gives the same id (dedupe on it)."""
    incident_id: str
    """Shared by the open and the resolve message of one incident."""
    series: str
    ts: float
    """Event time of the point that opened or resolved the incident."""
    score: float
    threshold: float
    severity: Severity
    state: AlertState
    model_version: str
    scorer: str
    """Which scorer made the score: the autoencoder or the cold-start online detector."""
    opened_ts: float
    contributors: tuple[Contributor, ...] = field(default=())
    """The cells that drove the error, one per channel in the order of `channel` first."""
    channel: str | None = None
    """The channel whose error, on its own scale, was the largest in the opening window,
    or the stuck one when its run of repeats was rarer than the score: what drove the
    alert. None on a resolve."""
