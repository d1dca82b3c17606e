"""Each series' last scores, kept sorted, for its rolling quantiles.

A series' history is a row of a shared pool: a ring of its last `size` scores in
arrival order, and the ring's positions in the order of their scores. A new score
takes the oldest one's place in the ring and its position moves to the score's rank,
so a quantile is two reads and one interpolation, whichever quantile is asked (the
threshold and its shoulder share one history). The interpolation is river's
`RollingQuantile`'s, bit for bit (`tests/core/test_histories.py` checks it against
river), at a third less memory than river's two sorted windows of the same scores.

Rows are made when a series takes a slot, and copied when a threshold keeps the
history of before a new level (`RollingThreshold`'s return_after): a copy is just
another row of the pool, so compiled code can save and restore one without
allocating, once the caller `reserve`d free rows.
"""

from __future__ import annotations

import numba
import numpy as np


class ScoreHistories:
    """Rolling histories of at most `size` scores for slots, in a pool of rows."""

    def __init__(self, size: int) -> None:
        if size < 2:
            raise ValueError(f"a history holds at least 2 scores (got {size})")
        self.size = size
        self._rank_type = np.int16 if size <= np.iinfo(np.int16).max else np.int32
        self.ring = np.zeros((0, size))
        """[rows, size] each row's scores, in arrival order from `cursor` on once full."""
        self.ranked = np.zeros((0, size), dtype=self._rank_type)
        """[rows, size] each row's ring positions, in the order of their scores."""
        self.fill = np.zeros(0, dtype=np.int64)
        self.cursor = np.zeros(0, dtype=np.int64)
        """Per row the ring position the next score takes (the oldest, once full)."""
        self.row_of = np.zeros(0, dtype=np.int64)
        """Per slot its row (-1: none made)."""
        self.free = np.zeros(0, dtype=np.int64)
        """A stack of the rows no slot uses: its first `free_count[0]` entries."""
        self.free_count = np.zeros(1, dtype=np.int64)

    @property
    def rows_used(self) -> int:
        return len(self.fill) - int(self.free_count[0])

    def made(self, slots: np.ndarray) -> np.ndarray:
        """Whether each slot has a history (was cleared since it was allocated)."""
        if len(slots) and int(slots.max()) < len(self.row_of):
            return self.row_of[slots] >= 0
        known = slots < len(self.row_of)
        out = np.zeros(len(slots), dtype=bool)
        out[known] = self.row_of[slots[known]] >= 0
        return out

    def clear(self, slot: int) -> None:
        """Give `slot` an empty history."""
        if slot >= len(self.row_of):
            size = max(slot + 1, 2 * len(self.row_of), 64)
            self.row_of = np.concatenate(
                [self.row_of, np.full(size - len(self.row_of), -1, np.int64)]
            )
        row = int(self.row_of[slot])
        if row < 0:
            row = self.take_free()
            self.row_of[slot] = row
        self.fill[row] = 0
        self.cursor[row] = 0

    def reserve(self, rows: int) -> None:
        """Keep at least `rows` free rows, so that compiled code may copy histories."""
        if self.free_count[0] >= rows:
            return
        have = len(self.fill)
        grown = max(have + rows - int(self.free_count[0]), 2 * have, 64)
        # np.zeros of a large pool takes its pages from the system only once written:
        # the rows reserved ahead cost address space, not memory.
        ring = np.zeros((grown, self.size))
        ranked = np.zeros((grown, self.size), dtype=self._rank_type)
        ring[:have], ranked[:have] = self.ring, self.ranked
        self.ring, self.ranked = ring, ranked
        self.fill = np.concatenate([self.fill, np.zeros(grown - have, np.int64)])
        self.cursor = np.concatenate([self.cursor, np.zeros(grown - have, np.int64)])
        # Room for every row: a row is on the stack at most once, however rows are
        # taken and given back in compiled code.
        count = int(self.free_count[0])
        free = np.zeros(grown, dtype=np.int64)
        free[:count] = self.free[:count]
        free[count : count + grown - have] = np.arange(grown - 1, have - 1, -1)
        self.free = free
        self.free_count[0] = count + grown - have

    def take_free(self) -> int:
        self.reserve(1)
        self.free_count[0] -= 1
        return int(self.free[self.free_count[0]])

    def release(self, row: int) -> None:
        """Give a row back to the pool (a copy no longer needed)."""
        release(self.free, self.free_count, row)

    def copy(self, slot: int) -> int:
        """A new row holding `slot`'s history as it is now."""
        row = self.take_free()
        copy_row(self.ring, self.ranked, self.fill, self.cursor, int(self.row_of[slot]), row)
        return row

    def swap_in(self, slot: int, row: int) -> None:
        """`slot`'s history becomes the copy in `row`; its own row goes back to the pool."""
        self.release(int(self.row_of[slot]))
        self.row_of[slot] = row

    def push(self, slots: np.ndarray, scores: np.ndarray) -> None:
        """Each score into its slot's history, in order (slots may repeat)."""
        rows = self.row_of[slots]
        push_all(self.ring, self.ranked, self.fill, self.cursor, rows, scores)

    def quantile(self, slots: np.ndarray, q: float) -> np.ndarray:
        """Each slot's q-quantile (NaN for an empty history)."""
        rows = self.row_of[slots]
        return quantile_all(self.ring, self.ranked, self.fill, rows, q)

    def values(self, slot: int) -> np.ndarray:
        """A slot's scores in arrival order (for tests and inspection)."""
        row = int(self.row_of[slot])
        n, at = int(self.fill[row]), int(self.cursor[row])
        ring = self.ring[row]
        return np.concatenate([ring[at:n], ring[:at]]) if n == self.size else ring[:n].copy()


@numba.njit(cache=True, nogil=True)
def push(
    ring: np.ndarray,
    ranked: np.ndarray,
    fill: np.ndarray,
    cursor: np.ndarray,
    row: int,
    score: float,
) -> None:
    """One score into one row: the oldest leaves once the row is full."""
    size = ring.shape[1]
    n = fill[row]
    at = cursor[row]
    if n == size:
        old = ring[row, at]
        k = _position(ring, ranked, row, n, old, False)
        while ranked[row, k] != at:  # among equal scores, find the oldest's position
            k += 1
        for j in range(k, n - 1):
            ranked[row, j] = ranked[row, j + 1]
        n -= 1
    ring[row, at] = score
    k = _position(ring, ranked, row, n, score, True)
    for j in range(n, k, -1):
        ranked[row, j] = ranked[row, j - 1]
    ranked[row, k] = at
    fill[row] = n + 1
    cursor[row] = at + 1 if at + 1 < size else 0


@numba.njit(cache=True, nogil=True)
def quantile(ring: np.ndarray, ranked: np.ndarray, fill: np.ndarray, row: int, q: float) -> float:
    """river's `RollingQuantile.get`: linear interpolation between the two ranks
    around q (n - 1)."""
    n = fill[row]
    if n == 0:
        return np.nan
    index = q * (n - 1)
    lower = int(np.floor(index))
    higher = min(lower + 1, n - 1)
    low = ring[row, ranked[row, lower]]
    high = ring[row, ranked[row, higher]]
    return low + (high - low) * (index - lower)


@numba.njit(cache=True, nogil=True)
def copy_row(
    ring: np.ndarray, ranked: np.ndarray, fill: np.ndarray, cursor: np.ndarray, src: int, dst: int
) -> None:
    n = fill[src]
    ring[dst, :n] = ring[src, :n]
    ranked[dst, :n] = ranked[src, :n]
    fill[dst] = n
    cursor[dst] = cursor[src]


@numba.njit(cache=True, nogil=True)
def release(free: np.ndarray, free_count: np.ndarray, row: int) -> None:
    free[free_count[0]] = row
    free_count[0] += 1


@numba.njit(cache=True, nogil=True)
def take(free: np.ndarray, free_count: np.ndarray) -> int:
    """A free row (the caller reserved enough)."""
    free_count[0] -= 1
    return free[free_count[0]]


@numba.njit(cache=True, nogil=True)
def push_all(
    ring: np.ndarray,
    ranked: np.ndarray,
    fill: np.ndarray,
    cursor: np.ndarray,
    rows: np.ndarray,
    scores: np.ndarray,
) -> None:
    for i in range(len(rows)):
        push(ring, ranked, fill, cursor, rows[i], scores[i])


@numba.njit(cache=True, nogil=True)
def quantile_all(
    ring: np.ndarray, ranked: np.ndarray, fill: np.ndarray, rows: np.ndarray, q: float
) -> np.ndarray:
    out = np.empty(len(rows))
    for i in range(len(rows)):
        out[i] = quantile(ring, ranked, fill, rows[i], q)
    return out


@numba.njit(cache=True, nogil=True)
def _position(
    ring: np.ndarray, ranked: np.ndarray, row: int, n: int, score: float, after_equal: bool
) -> int:
    """Where `score` ranks among the row's first n ranked scores: before the scores equal
    to it, or (`after_equal`) after them."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        here = ring[row, ranked[row, mid]]
        if here < score or (after_equal and here == score):
            lo = mid + 1
        else:
            hi = mid
    return lo
