"""stream-ae from Python: fit a model on arrays or a DataFrame, open a detector on it,
feed it columns, get scores and alerts back.

>>> import numpy as np, tempfile
>>> from stream_ae import StreamDetector, fit_model
>>> from stream_ae.settings import Settings
>>> quick = Settings.model_validate({"model": {"epochs": 2}})
>>> t = np.arange(600.0)
>>> model = fit_model(np.sin(t / 10), ts=t, series="pump", settings=quick,
...                   out=tempfile.mkdtemp())
>>> detector = StreamDetector(model)
>>> t = np.arange(600.0, 800.0)
>>> later = np.sin(t / 10)
>>> later[150] = 9.0                                  # a spike at t = 750
>>> scores = detector.score(later, ts=t, series="pump")
>>> len(scores)                                       # every point from a full window on
169
>>> first = detector.alerts[0]                      # opened a few points after the spike
>>> first.series, first.state.value, 750.0 <= first.ts < 760.0
('pump', 'open', True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_ae import wiring
from stream_ae.connectors.frames import pandas, read_frame
from stream_ae.core.alerting import STATE_NAMES
from stream_ae.core.records import Alert, Point, Rejection
from stream_ae.core.series_ids import SERIES_MAX_CHARS, series_problem
from stream_ae.core.threshold import level_of
from stream_ae.core.windows.point_checks import value_refusal
from stream_ae.errors import InputError
from stream_ae.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Scores", "StreamDetector", "fit_model"]


@dataclass(frozen=True)
class Scores:
    """One row per point whose window was scored, in the order the points were fed."""

    series: np.ndarray
    """[rows] str."""
    ts: np.ndarray
    """[rows] float64 event time, epoch seconds."""
    score: np.ndarray
    """[rows] float64 the model's reconstruction error."""
    threshold: np.ndarray
    """[rows] float64 the series' threshold (NaN while it warms up)."""
    level: np.ndarray
    """[rows] float64 in [0, 1): how unusual the score is for its series (0.5 at the
    threshold), comparable across series."""
    state: np.ndarray
    """[rows] str: "" (no incident), "open", "active" or "resolved"."""

    def __len__(self) -> int:
        return len(self.ts)

    def to_frame(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame (`pip install stream-ae[dataframe]`)."""
        pd = pandas()
        return pd.DataFrame(
            {
                "series": self.series,
                "timestamp": pd.to_datetime(self.ts, unit="s", utc=True),
                "score": self.score,
                "threshold": self.threshold,
                "level": self.level,
                "state": self.state,
            }
        )


def fit_model(
    data: Any,
    *,
    ts: Sequence[float] | np.ndarray | None = None,
    series: str | Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
    settings: Settings | None = None,
    out: str | Path = "models",
) -> Path:
    """Fit a model on `data` taken as normal and publish it as the current version of
    the registry `out`; returns the version's directory.

    `data` is an array [points] or [points, channels], or a pandas DataFrame (see
    `StreamDetector.score` for its time and series). A DataFrame's channels are the
    columns named in `channels`, or else every column of numbers but the time, the
    series and labels (`label`, `anomaly`, ...); a true/false column is a channel only
    when named. Each series' points must be in time order; `ts` defaults to one point
    per second."""
    from stream_ae.lifecycle.dataset import cut_windows
    from stream_ae.runtime.fit_job import fit_windows

    settings = settings or Settings()
    points, names = _points(data, ts, series, channels)
    windows = cut_windows(points, wiring.window_store(settings, len(names)), _refuse)
    lineage = {"source": "arrays", "fitted_by": "stream_ae.fit_model"}
    return fit_windows(settings, windows, names, Path(out), lineage).path


@dataclass
class StreamDetector:
    """A detector serving a published model, fed from Python.

    `score(data)` pushes points through the same windows, thresholds and alert policy
    as `stream-ae run`; alerts accumulate in `alerts` and refused points in `rejected`.
    `learn_one` and `score_one` follow river's anomaly detectors, for one series.
    """

    model: str | Path
    """A model version's directory, or a registry (its current version)."""
    settings: Settings | None = None
    series: str = "series"
    """The series `learn_one` and `score_one` speak of."""
    alerts: list[Alert] = field(default_factory=list, init=False)
    rejected: list[Rejection] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        from stream_ae.lifecycle.registry import resolve_model
        from stream_ae.model.artifact import load_artifact

        artifact = resolve_model(Path(self.model))
        manifest = load_artifact(artifact).manifest
        base = self.settings or Settings()
        window = base.window.model_copy(update={"length": manifest.window})
        self._settings = base.model_copy(update={"window": window})
        self.channels: tuple[str, ...] = tuple(manifest.channel_names)
        self._detector = wiring.detector(self._settings, self.channels, artifact)
        self._clock = 0.0
        problem = series_problem(self.series) if isinstance(self.series, str) else "not text"
        if problem is not None or not self.series:
            raise InputError(
                f"series {self.series!r} cannot name a series ({problem or 'it is empty'}); "
                f"give 1 to {SERIES_MAX_CHARS} printable characters, like series='pump-7'"
            )

    def score(
        self,
        data: Any,
        *,
        ts: Sequence[float] | np.ndarray | None = None,
        series: str | Sequence[str] | None = None,
    ) -> Scores:
        """Feed `data` (each series in time order, after what it was fed before) and
        return the rows that were scored.

        - an array [points] or [points, channels]: `series` names the series (one name,
          or one per point), `ts` gives event times (default: one per second);
        - a DataFrame: a DatetimeIndex, or a `timestamp`, `ts` or `time` column, gives
          the time; a `series` column, or `series`, names the series; the model's
          channels are its columns of those names (other columns are left alone).
        """
        points, names = _points(data, ts, series, self.channels)
        if names != self.channels:
            raise InputError(
                f"the data has channels {list(names)}, the model {list(self.channels)}"
            )
        out = self._detector.process(points)
        self.alerts.extend(out.alerts)
        self.rejected.extend(rejection for _, rejection in out.rejected)
        if out.scored:
            self._clock = max(self._clock, float(np.max([s.ts.max() for s in out.scored])))
        return _scores(out.scored)

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        """Feed one point of `self.series` (channel name -> value); `t` its event time
        (default: one second after the last)."""
        at = self._clock + 1.0 if t is None else t
        # Values and time go in as given: the detector refuses what is not a point, saying
        # why, into `rejected`, as `score` does.
        out = self._detector.process([Point(self.series, at, self._row(x))])
        self.alerts.extend(out.alerts)
        self.rejected.extend(rejection for _, rejection in out.rejected)
        # The default time follows the newest point the store took (a window refused
        # after its point was taken still moves it, or the next would be a duplicate).
        newest = self._detector.store.newest_ts(self.series)
        if newest is not None:
            self._clock = max(self._clock, newest)

    def _row(self, x: Mapping[str, float]) -> tuple[float, ...]:
        """`x`'s values in channel order, as given."""
        if not isinstance(x, Mapping):
            raise InputError(
                f"x must map channel names to values, like "
                f"{dict.fromkeys(self.channels, 0.5)}; got {type(x).__name__}"
            )
        missing = [name for name in self.channels if name not in x]
        if missing:
            raise InputError(
                f"x has no {', '.join(map(repr, missing))}; give one value per channel, "
                f"like {dict.fromkeys(self.channels, 0.5)}"
            )
        return tuple(x[name] for name in self.channels)

    def score_one(self, x: Mapping[str, float]) -> float:
        """How unusual the window that `x` would complete is, in [0, 1) (0.5 at the
        series' threshold), learning nothing; 0 until the series' window and threshold
        are ready."""
        given = self._row(x)
        for name, value in zip(self.channels, given, strict=True):
            refused = value_refusal(value)
            if refused is not None:
                raise InputError(f"x[{name!r}] = {refused[1]}")
        store, lane = self._detector.store, self._detector.lanes[0]
        slot = store.slot(self.series)
        if slot is None:
            return 0.0
        recent = store.latest(slot, store.window - 1)  # what the store's window holds
        if len(recent) < store.window - 1:
            return 0.0
        row = tuple(float(v) for v in given)
        window = np.vstack([recent, np.array([row], dtype=np.float32)])[None]
        slots = np.array([slot], dtype=np.int64)
        # Scaled as the detector would scale it: by the series' running statistics
        # with `x` taken in, for a series the model does not know or scales online.
        mean, var = store.stats_with(slot, row)
        scale = lane.normalizer.scale(slots, mean[None], var[None])
        scaled = scale.apply(window)
        if not np.isfinite(scaled).all():  # as the detector refuses such a window
            raise InputError(
                f"x = {dict(x)} turns the window non-finite once scaled by the series' "
                "statistics; send values in a smaller unit"
            )
        score = lane.scorer.score(scaled).scores.astype(np.float64)
        exponent = lane.threshold.exponent(slots, score)
        return float(np.nan_to_num(level_of(exponent))[0])


def _refuse(point: Point, rejection: Rejection) -> None:
    raise InputError(f"point {point} was refused: {rejection.detail}")


def _scores(scored: list[Any]) -> Scores:
    if not scored:
        empty = np.zeros(0)
        return Scores(np.zeros(0, dtype=str), empty, empty, empty, empty, np.zeros(0, dtype=str))
    names = np.asarray(STATE_NAMES, dtype=object)
    return Scores(
        np.concatenate([np.asarray(s.series, dtype=object) for s in scored]).astype(str),
        np.concatenate([s.ts for s in scored]),
        np.concatenate([s.score for s in scored]),
        np.concatenate([s.threshold for s in scored]),
        np.concatenate([s.level for s in scored]),
        np.concatenate([names[s.state] for s in scored]).astype(str),
    )


def _points(
    data: Any,
    ts: Sequence[float] | np.ndarray | None,
    series: str | Sequence[str] | None,
    channels: Sequence[str] | None,
) -> tuple[list[Point], tuple[str, ...]]:
    """Points from an array or a DataFrame, and their channel names."""
    if type(data).__name__ == "DataFrame":
        data, ts, series, found = read_frame(data, ts, series, channels)
        channels = found
    given = np.asarray(data)
    if given.dtype.kind not in "biuf":  # complex would lose its imaginary part
        raise InputError(
            f"data must be real numbers ([points] or [points, channels]); got {given.dtype}"
        )
    values = given.astype(np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or len(values) == 0:
        raise InputError(
            f"data must be [points] or [points, channels] with at least one point; got "
            f"shape {list(values.shape)}"
        )
    n, width = values.shape
    names = tuple(channels) if channels is not None else _default_channels(width)
    if len(names) != width:
        raise InputError(f"{width} column(s) of data for channels {list(names)}")
    times = np.arange(n, dtype=np.float64) if ts is None else _seconds(ts)
    ids = _ids(series, n)
    if len(times) != n or len(ids) != n:
        raise InputError(
            f"{n} points but {len(times)} times and {len(ids)} series ids; give one each"
        )
    rows = values.tolist()
    return [
        # A missing id (None, NaN) stays missing: the detector refuses its point, saying so.
        Point(None if _missing_id(s) else str(s), t, tuple(v))  # type: ignore[arg-type]
        for s, t, v in zip(ids, times.tolist(), rows, strict=True)
    ], names


def _seconds(ts: Sequence[float] | np.ndarray) -> np.ndarray:
    given = np.asarray(ts)
    if given.dtype.kind not in "biuf":
        raise InputError(
            f"ts must be numbers of seconds since the epoch; got {given.dtype} (a DataFrame's "
            "DatetimeIndex or timestamp column is read for you)"
        )
    return given.astype(np.float64)


def _missing_id(series: object) -> bool:
    return series is None or (isinstance(series, float) and math.isnan(series))


def _ids(series: str | Sequence[str] | None, n: int) -> list[str]:
    if series is None:
        return ["series"] * n
    if isinstance(series, str) and series:
        return [series] * n
    if isinstance(series, str | bytes | bytearray) or not isinstance(series, Sequence | np.ndarray):
        raise InputError(f"series must be a name, or one name per point; got {series!r:.60}")
    return list(series)


def _default_channels(width: int) -> tuple[str, ...]:
    return ("value",) if width == 1 else tuple(f"value_{i}" for i in range(width))
