"""Drift in each series' scores: a sign that the model no longer fits its data.

One river drift detector per series watches the scores of the serving model. A
lasting rise (a level shift the model never saw, a sensor that changed) trips it;
the service then asks for a retrain early and says which series drifted. A drift
is not an alert: spikes are the alert policy's business, drifts the model's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

import numba
import numpy as np

if TYPE_CHECKING:
    from river.drift import ADWIN

DriftKind = Literal["page_hinkley", "adwin"]


class DriftMonitor:
    """`update(series, scores)` returns the series whose scores just drifted.

    >>> monitor = DriftMonitor("page_hinkley")
    >>> calm = monitor.update(["a"] * 500, np.full(500, 0.05))
    >>> shifted = monitor.update(["a"] * 100, np.full(100, 5.0))
    >>> calm, shifted
    ([], ['a'])
    """

    def __init__(self, kind: DriftKind) -> None:
        if kind not in ("page_hinkley", "adwin"):
            raise ValueError(f"drift detector must be 'page_hinkley' or 'adwin' (got {kind!r})")
        self.kind = kind
        self._detectors: dict[str, ADWIN] = {}
        self._rises = PageHinkleyRises() if kind == "page_hinkley" else None

    def _fresh(self) -> ADWIN:
        # Imported here: river.drift pulls in scikit-learn (seconds, and asyncio with
        # it), which `import stream_ae.core` must not.
        from river.drift import ADWIN

        return ADWIN()  # Page-Hinkley runs compiled, in PageHinkleyRises

    def update(self, series: Sequence[str], scores: np.ndarray) -> list[str]:
        if self._rises is not None:
            return self._rises.update(series, scores)
        drifted: list[str] = []
        detectors = self._detectors
        for name, score in zip(series, scores.tolist(), strict=True):
            if score != score:  # NaN: nothing to learn
                continue
            detector = detectors.get(name)
            if detector is None:
                detector = detectors[name] = self._fresh()
            detector.update(score)
            if detector.drift_detected:
                drifted.append(name)
                detectors[name] = self._fresh()  # judge the new regime from scratch
        return list(dict.fromkeys(drifted))

    def forget(self, series: Iterable[str]) -> None:
        """Drop the detectors of series that left (evicted) or whose model changed."""
        names = list(series)
        if self._rises is not None:
            self._rises.forget(names)
        for name in names:
            self._detectors.pop(name, None)

    def reset(self) -> None:
        """A new model serves: its scores are a new stream for every series."""
        if self._rises is not None:
            self._rises = PageHinkleyRises()
        self._detectors.clear()


class PageHinkleyRises:
    """river's `PageHinkley(mode="up")` (only a rise matters: falling errors mean the
    data got easier to explain) for every series at once: its state in arrays
    (a row per series), a batch of scores in one compiled call, the same arithmetic in
    the same order, so the same drifts (`tests/core/test_drift.py` runs both). river's
    detector costs a few microseconds of Python per score, on the service's event loop.
    """

    MIN_INSTANCES, DELTA, THRESHOLD, ALPHA = 30, 0.005, 50.0, 1 - 0.0001
    """river's defaults."""

    def __init__(self) -> None:
        self._row: dict[str, int] = {}
        self._free: list[int] = []
        self._state = np.zeros((0, _FIELDS))

    def update(self, series: Sequence[str], scores: np.ndarray) -> list[str]:
        """The series whose scores drifted (each once, in order); a drifted series starts
        again from scratch, as a fresh river detector would."""
        rows = [self._row.get(name, -1) for name in series]
        if -1 in rows:
            rows = [self._row[name] if name in self._row else self._add(name) for name in series]
        found = _page_hinkley_up(
            np.array(rows, dtype=np.int64),
            np.asarray(scores, dtype=np.float64),
            self._state,
            self.MIN_INSTANCES,
            self.DELTA,
            self.THRESHOLD,
            self.ALPHA,
        )
        return list(dict.fromkeys(series[i] for i in np.flatnonzero(found).tolist()))

    def statistic(self, series: str) -> float:
        """The test statistic of a series (its rise since its lowest running sum; a drift
        when it passes `THRESHOLD`), NaN for a series not seen since it last drifted or
        was forgotten."""
        row = self._row.get(series)
        if row is None or self._state[row, _N] == 0:
            return float("nan")
        return float(self._state[row, _SUM] - self._state[row, _MIN])

    def forget(self, series: Iterable[str]) -> None:
        for name in series:
            row = self._row.pop(name, None)
            if row is not None:
                self._free.append(row)

    def _add(self, name: str) -> int:
        if not self._free:
            grown = max(64, 2 * len(self._state))
            self._free = list(range(grown - 1, len(self._state) - 1, -1))
            self._state = np.concatenate(
                [self._state, np.zeros((grown - len(self._state), _FIELDS))]
            )
        row = self._row[name] = self._free.pop()
        self._state[row] = _FRESH
        return row


_N, _MEAN, _SUM, _MIN = range(4)
_FIELDS = 4
_FRESH = np.array([0.0, 0.0, 0.0, np.inf])
"""A fresh detector: no score seen, its running sum at 0 and its minimum at infinity."""


@numba.njit(cache=True, nogil=True)
def _page_hinkley_up(
    rows: np.ndarray,
    scores: np.ndarray,
    state: np.ndarray,
    min_instances: int,
    delta: float,
    threshold: float,
    alpha: float,
) -> np.ndarray:
    """river's PageHinkley.update (mode up) per score, in order; True where a row drifted
    (its state then starts afresh)."""
    found = np.zeros(len(scores), dtype=np.bool_)
    for i in range(len(scores)):
        x = scores[i]
        if x != x:  # NaN: nothing to learn
            continue
        s = state[rows[i]]
        s[_N] += 1.0
        s[_MEAN] += (1.0 / s[_N]) * (x - s[_MEAN])
        s[_SUM] = alpha * s[_SUM] + (x - s[_MEAN]) - delta
        if s[_SUM] < s[_MIN]:
            s[_MIN] = s[_SUM]
        if s[_N] >= min_instances and s[_SUM] - s[_MIN] > threshold:
            found[i] = True
            s[_N], s[_MEAN], s[_SUM], s[_MIN] = 0.0, 0.0, 0.0, np.inf
    return found
