"""Collects the windows a first model is fitted on, while the detector keeps scoring."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class TrainingCollector:
    """Keeps up to `target` raw windows that were judged normal.

    Windows inside an incident (or above the threshold) are left out so that a
    model is not taught that an anomaly is normal.

    >>> c = TrainingCollector(target=2)
    >>> c.offer(("a", "a", "a"), np.zeros((3, 4, 1), np.float32), keep=np.array([1, 0, 1], bool))
    >>> c.ready, c.take()[1].shape
    (True, (2, 4, 1))
    """

    def __init__(self, target: int) -> None:
        if target < 1:
            raise ValueError(f"target must be at least 1 window (got {target})")
        self.target = target
        self._series: list[str] = []
        self._windows: list[np.ndarray] = []
        self._count = 0
        self._taken = False

    @property
    def count(self) -> int:
        return self._count

    @property
    def ready(self) -> bool:
        """True once `target` windows are held and nobody has taken them yet."""
        return self._count >= self.target and not self._taken

    def offer(self, series: Sequence[str], windows: np.ndarray, keep: np.ndarray) -> None:
        if self._taken or self._count >= self.target:
            return
        rows = np.flatnonzero(keep)[: self.target - self._count]
        if len(rows) == 0:
            return
        self._series.extend(series[i] for i in rows.tolist())
        self._windows.append(windows[rows].copy())
        self._count += len(rows)

    def take(self) -> tuple[tuple[str, ...], np.ndarray]:
        """Hand over the windows (once); the collector then stops collecting."""
        self._taken = True
        windows = np.concatenate(self._windows) if self._windows else np.empty((0,))
        series = tuple(self._series)
        self._series, self._windows = [], []
        return series, windows
