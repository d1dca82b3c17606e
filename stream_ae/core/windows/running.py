"""Each series' running mean and variance: what its windows are scaled by."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class RunningStats:
    """Per slot, the mean and variance of its values: a running average while the series
    is young (its first 1 / alpha points), then an exponential one.

    Kept point by point, so a window's statistics never depend on how points were
    batched.

    >>> stats = RunningStats(channels=1, alpha=0.5)
    >>> stats.grow(1)
    >>> for v in (1.0, 3.0):
    ...     stats.update(0, (v,))
    >>> stats.values[0].tolist()
    [[2.0], [1.0]]
    """

    def __init__(self, channels: int, alpha: float) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"stats_alpha must be in (0, 1) (got {alpha})")
        self.channels = channels
        self.alpha = alpha
        self.values = np.zeros((0, 2, channels))
        """[slots, 2, channels]: the mean, then the variance."""
        self.n = np.zeros(0, dtype=np.int64)
        """Points behind each slot's statistics."""

    def grow(self, capacity: int) -> None:
        extra = capacity - len(self.n)
        self.values = np.concatenate([self.values, np.zeros((extra, 2, self.channels))])
        self.n = np.concatenate([self.n, np.zeros(extra, dtype=np.int64)])

    def clear(self, slot: int) -> None:
        self.values[slot] = 0.0
        self.n[slot] = 0

    def update(self, slot: int, values: Sequence[float]) -> None:
        n = int(self.n[slot]) + 1
        self.n[slot] = n
        w = max(self.alpha, 1.0 / n)
        stats = self.values[slot]
        delta = np.asarray(values, dtype=np.float64) - stats[0]
        stats[0] += w * delta
        stats[1] = (1.0 - w) * (stats[1] + w * delta * delta)

    def with_one_more(self, slot: int, values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """The mean and variance as they would be after one more point, changing nothing."""
        n = int(self.n[slot]) + 1
        w = max(self.alpha, 1.0 / n)
        mean, var = self.values[slot]
        delta = np.asarray(values, dtype=np.float64) - mean
        return mean + w * delta, (1.0 - w) * (var + w * delta * delta)
