"""Collects the windows a first model is fitted on, while the detector keeps scoring."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class TrainingCollector:
    """Keeps the first `target` raw windows the detector sees, for the first fit.

    It keeps every window, incidents included: before a model exists the only
    judge is the cold-start scorer, and leaving out what it flags removed the
    peaks and troughs of normal cycles, so the first model failed on exactly
    those. Like any cold start, it assumes the first stretch of data is mostly
    normal.

    >>> c = TrainingCollector(target=2)
    >>> c.offer(("a", "a", "a"), np.zeros((3, 4, 1), np.float32))
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

    def offer(self, series: Sequence[str], windows: np.ndarray) -> None:
        if self._taken or self._count >= self.target:
            return
        take = min(len(windows), self.target - self._count)
        self._series.extend(series[:take])
        self._windows.append(windows[:take].copy())
        self._count += take

    def take(self) -> tuple[tuple[str, ...], np.ndarray]:
        """Hand over the windows (once); the collector then stops collecting."""
        self._taken = True
        windows = np.concatenate(self._windows) if self._windows else np.empty((0,))
        series = tuple(self._series)
        self._series, self._windows = [], []
        return series, windows
