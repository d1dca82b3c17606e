"""Collects the windows a first model is fitted on, while the detector keeps scoring."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class FitShare:
    """The part of each series a first model is fitted on: its first `points` points,
    its points within `span_s` seconds of its first one, or its points before `until`
    (epoch seconds). Exactly one is set.

    A window belongs to the share when its last point does, so a series' first N
    points make N - W + 1 windows of length W (fewer across gaps).
    """

    points: int | None = None
    span_s: float | None = None
    until: float | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.points, self.span_s, self.until) if v is not None]
        if len(given) != 1:
            raise ValueError("a fit share is a number of points, a span or an end time: one")
        if self.points is not None and self.points < 1:
            raise ValueError(f"points must be at least 1 (got {self.points})")
        if self.span_s is not None and not self.span_s > 0:
            raise ValueError(f"span_s must be > 0 seconds (got {self.span_s})")


class _Progress:
    """How far one series is through its share."""

    __slots__ = ("count", "last", "limit", "passed")

    def __init__(self) -> None:
        self.count = 0
        self.last = -math.inf
        self.limit = math.inf
        """Windows ending at or before this event time are inside the share."""
        self.passed = False


class TrainingCollector:
    """Keeps the windows the first model is fitted on: the first `target` windows the
    detector sees or, given a `share`, each series' windows inside its share.

    It keeps every window, incidents included: before a model exists the only
    judge is the cold-start scorer, and leaving out what it flags removed the
    peaks and troughs of normal cycles, so the first model failed on exactly
    those. Like any cold start, it assumes the first stretch of data is mostly
    normal; a share says which stretch that is.

    With a share it is ready once every series it has seen has completed its share (its
    N-th point, or a point past the time range, arrived), and the detector tells it of
    every point it takes (`see`), since a window cannot say how many points came before
    it.

    >>> c = TrainingCollector(target=2)
    >>> c.offer(("a", "a", "a"), np.zeros((3, 4, 1), np.float32))
    >>> c.ready, c.take()[1].shape
    (True, (2, 4, 1))
    """

    def __init__(self, target: int, share: FitShare | None = None) -> None:
        if target < 1:
            raise ValueError(f"target must be at least 1 window (got {target})")
        self.target = target
        self.share = share
        self._series: list[str] = []
        self._windows: list[np.ndarray] = []
        self._count = 0
        self._taken = False
        self._progress: dict[str, _Progress] = {}

    @property
    def count(self) -> int:
        return self._count

    @property
    def watching(self) -> bool:
        """True while `see` wants the points (a share is set and nothing was taken)."""
        return self.share is not None and not self._taken

    @property
    def ready(self) -> bool:
        """True once the windows are all held and nobody has taken them yet."""
        if self._taken:
            return False
        if self.share is None:
            return self._count >= self.target
        progress = self._progress.values()
        return bool(self._progress) and all(p.passed for p in progress)

    def points_to_go(self) -> int | None:
        """At most how many more points the collection may take before it can be ready,
        or None when that is unknown (a share in time) or it is ready or taken: a
        file job cuts its batches there, so the model judges from the next point."""
        if self._taken or self.ready:
            return None
        if self.share is None:
            return self.target - self._count
        n = self.share.points
        if n is None:
            return None
        behind = [n - p.count for p in self._progress.values() if not p.passed]
        return max(behind, default=n)

    def see(self, series: str, ts: float) -> None:
        """The detector took a point of `series` at event time `ts` (in its order)."""
        share = self.share
        if share is None or self._taken:
            return
        p = self._progress.get(series)
        if p is None:
            p = self._progress[series] = _Progress()
            if share.span_s is not None:
                p.limit = math.nextafter(ts + share.span_s, -math.inf)
            elif share.until is not None:
                p.limit = math.nextafter(share.until, -math.inf)
        if ts <= p.last:
            return  # a duplicate that replaced its point, or time that went back
        p.last = ts
        p.count += 1
        if share.points is not None:
            if p.count == share.points:
                p.limit = ts
            p.passed = p.count >= share.points  # complete: no need to wait for one more
        else:
            p.passed = ts > p.limit

    def offer(
        self, series: Sequence[str], windows: np.ndarray, end_ts: np.ndarray | None = None
    ) -> None:
        """Windows the detector scored, with their last points' event times."""
        if self._taken:
            return
        if self.share is not None:
            if end_ts is None:
                raise ValueError("a collector with a share needs each window's end time")
            limits = np.array([self._limit(name) for name in series], dtype=np.float64)
            keep = np.flatnonzero(np.asarray(end_ts, dtype=np.float64) <= limits)
            self._series.extend(series[i] for i in keep.tolist())
            self._windows.append(windows[keep].copy())
            self._count += len(keep)
            return
        if self._count >= self.target:
            return
        take = min(len(windows), self.target - self._count)
        self._series.extend(series[:take])
        self._windows.append(windows[:take].copy())
        self._count += take

    def _limit(self, series: str) -> float:
        p = self._progress.get(series)
        return math.inf if p is None else p.limit

    def take(self) -> tuple[tuple[str, ...], np.ndarray]:
        """Hand over the windows (once); the collector then stops collecting."""
        self._taken = True
        windows = np.concatenate(self._windows) if self._windows else np.empty((0,))
        series = tuple(self._series)
        self._series, self._windows = [], []
        self._progress = {}
        return series, windows
