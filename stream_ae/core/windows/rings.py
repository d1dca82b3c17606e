"""The last points of every series: one row of preallocated arrays per slot."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np


class Rings:
    """Per slot a ring of `size` points (values and times) and how many were written.

    A slot's points since `valid_from` make up its current stretch: a gap that resets
    the series starts a new one, and a window never spans two.

    >>> rings = Rings(size=3, channels=1)
    >>> rings.grow(1)
    >>> for t in range(4):
    ...     _ = rings.write(0, float(t), (10.0 * t,))
    >>> rings.latest(0, 5)[:, 0].tolist()
    [10.0, 20.0, 30.0]
    """

    def __init__(self, size: int, channels: int) -> None:
        self.size = size
        self.channels = channels
        self.values = np.zeros((0, size, channels), dtype=np.float32)
        self.ts = np.zeros((0, size))
        self.seq = np.zeros(0, dtype=np.int64)
        """Points written since the slot was assigned."""
        self.valid_from = np.zeros(0, dtype=np.int64)
        """The seq the current stretch started at."""

    def grow(self, capacity: int) -> None:
        extra = capacity - len(self.seq)
        self.values = np.concatenate(
            [self.values, np.zeros((extra, self.size, self.channels), dtype=np.float32)]
        )
        self.ts = np.concatenate([self.ts, np.full((extra, self.size), math.nan)])
        self.seq = np.concatenate([self.seq, np.zeros(extra, dtype=np.int64)])
        self.valid_from = np.concatenate([self.valid_from, np.zeros(extra, dtype=np.int64)])

    def clear(self, slot: int) -> None:
        self.seq[slot] = 0
        self.valid_from[slot] = 0

    def write(self, slot: int, ts: float, values: Sequence[float]) -> int:
        """Append one point; returns the slot's seq after it."""
        seq = int(self.seq[slot])
        pos = seq % self.size
        self.values[slot, pos] = values
        self.ts[slot, pos] = ts
        self.seq[slot] = seq + 1
        return seq + 1

    def replace_last(self, slot: int, values: Sequence[float]) -> None:
        self.values[slot, (int(self.seq[slot]) - 1) % self.size] = values

    def last(self, slot: int) -> np.ndarray:
        """[channels] float64 the slot's newest values."""
        return self.values[slot, (int(self.seq[slot]) - 1) % self.size].astype(np.float64)

    def stretch(self, slot: int) -> int:
        """Points in the slot's current stretch."""
        return int(self.seq[slot]) - int(self.valid_from[slot])

    def restart(self, slot: int) -> None:
        """Start a new stretch at the next point."""
        self.valid_from[slot] = self.seq[slot]

    def latest(self, slot: int, n: int) -> np.ndarray:
        """[k, channels] the slot's newest k <= n points of its current stretch, oldest
        first."""
        seq = int(self.seq[slot])
        k = max(0, min(n, self.stretch(slot), self.size))
        return self.values[slot, (seq - k + np.arange(k)) % self.size].copy()

    def gather(
        self, slots: np.ndarray, ends: np.ndarray, window: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """([rows, window] times, [rows, window, channels] values) of the windows that
        end at seq `ends[i]` of slot `slots[i]`, copied in one compiled loop."""
        return _gather(
            self.ts,
            self.values,
            np.ascontiguousarray(slots, dtype=np.int64),
            np.ascontiguousarray(ends, dtype=np.int64),
            window,
        )


@numba.njit(cache=True, nogil=True)
def _gather(
    ts: np.ndarray, values: np.ndarray, slots: np.ndarray, ends: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    # A loop, not numpy's fancy indexing with a [rows, window] index: that took about
    # 850 ns a window of 32 against 120 here, 15-25% of the detector's own time at
    # hop 1 (benchmarks/detector_alone.py, "scores given").
    # No bounds checks: the store passes only slots it holds windows of.
    rows, size, channels = len(slots), ts.shape[1], values.shape[2]
    out_ts = np.empty((rows, window))
    out_values = np.empty((rows, window, channels), dtype=values.dtype)
    for i in range(rows):
        slot, first = slots[i], ends[i] - window
        for j in range(window):
            at = (first + j) % size
            out_ts[i, j] = ts[slot, at]
            for c in range(channels):
                out_values[i, j, c] = values[slot, at, c]
    return out_ts, out_values
