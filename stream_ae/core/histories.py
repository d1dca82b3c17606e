"""Each series' last scores, and the largest of them in order, for its rolling quantiles.

A series' history is a row of a shared pool: a ring of its last `size` scores in
arrival order, and the ring positions of its `keep` largest scores in the order of
their scores. Only high quantiles are asked (the threshold's and its SHOULDER's), so
a quantile is two reads among the largest and one interpolation; `keep` is the
fewest largest scores the lowest quantile asked can need. A new score takes the
oldest one's place in the ring; it joins the largest when it beats the least of
them; and when the oldest leaves from among them, the largest of the rest of the
ring takes its place (a scan of the ring, as often as a score that is among the
largest grows old: `keep / size` of pushes for steady scores, every push only when
the scores fall steadily).

Scores are kept as float32, the precision the model computes its errors in: a
threshold moves by at most 6e-8 of itself against float64, and a history of 2,000
scores takes 8 KiB instead of 20. The interpolation is river's `RollingQuantile`'s
fed the same float32 scores, bit for bit (`tests/core/test_histories.py`).

The loops allocate nothing (the callers hand them scratch and output arrays), so they
are compiled without reference counting (`core.compiled`): `core.verdicts` calls them
per row.

Rows are made when a series takes a slot, and copied when a threshold keeps the
history of before a new level (`RollingThreshold`'s return_after): a copy is just
another row of the pool, so compiled code can save and restore one without
allocating, once the caller `reserve`d free rows.
"""

from __future__ import annotations

import math

import numpy as np

from stream_ae.core.compiled import jit_no_alloc

FLOAT32_MAX = float(np.finfo(np.float32).max)


def largest_needed(size: int, lowest_quantile: float) -> int:
    """How many of a full history's largest scores river's interpolation reads at
    `lowest_quantile` (and at every higher quantile, and in every shorter history)."""
    return size - math.floor(lowest_quantile * (size - 1))


class ScoreHistories:
    """Rolling histories of at most `size` scores for slots, in a pool of rows,
    answering quantiles from `lowest_quantile` up."""

    def __init__(self, size: int, lowest_quantile: float) -> None:
        if size < 2:
            raise ValueError(f"a history holds at least 2 scores (got {size})")
        if not 0 <= lowest_quantile <= 1:
            raise ValueError(f"lowest_quantile must be within [0, 1] (got {lowest_quantile})")
        self.size = size
        self.lowest_quantile = lowest_quantile
        self.keep = largest_needed(size, lowest_quantile)
        self._rank_type = np.int16 if size <= np.iinfo(np.int16).max else np.int32
        self.ring = np.zeros((0, size), dtype=np.float32)
        """[rows, size] each row's scores, in arrival order from `cursor` on once full."""
        self.ranked = np.zeros((0, self.keep), dtype=self._rank_type)
        """[rows, keep] ring positions of each row's largest scores, smallest first
        (the first min(fill, keep) of them)."""
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
        # the rows reserved ahead cost address space, not memory, as long as only the
        # rows in use are copied over (a free row is cleared or copied into before
        # it is read).
        in_use = np.ones((have, 1), dtype=bool)
        in_use[self.free[: self.free_count[0]]] = False
        ring = np.zeros((grown, self.size), dtype=np.float32)
        ranked = np.zeros((grown, self.keep), dtype=self._rank_type)
        np.copyto(ring[:have], self.ring, where=in_use)  # no copy of the rows in between
        np.copyto(ranked[:have], self.ranked, where=in_use)
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
        listed = np.zeros(self.size, dtype=np.bool_)
        push_all(self.ring, self.ranked, self.fill, self.cursor, rows, scores, listed)

    def quantile(self, slots: np.ndarray, q: float) -> np.ndarray:
        """Each slot's q-quantile (NaN for an empty history)."""
        if not self.lowest_quantile <= q <= 1:
            raise ValueError(
                f"these histories keep the scores for quantiles from {self.lowest_quantile} "
                f"up (asked {q}); make them with lowest_quantile <= {q}"
            )
        rows = self.row_of[slots]
        out = np.empty(len(rows))
        quantile_all(self.ring, self.ranked, self.fill, rows, q, out)
        return out

    def values(self, slot: int) -> np.ndarray:
        """A slot's scores in arrival order (for tests and inspection)."""
        row = int(self.row_of[slot])
        n, at = int(self.fill[row]), int(self.cursor[row])
        ring = self.ring[row]
        return np.concatenate([ring[at:n], ring[:at]]) if n == self.size else ring[:n].copy()


@jit_no_alloc()
def push(
    ring: np.ndarray,
    ranked: np.ndarray,
    fill: np.ndarray,
    cursor: np.ndarray,
    row: int,
    score: float,
    listed: np.ndarray,
) -> None:
    """One score into one row: the oldest leaves once the row is full. `listed` is
    scratch for `_leave`: `size` False values, left so (allocating it per leave cost
    as much as the scan)."""
    size, keep = ring.shape[1], ranked.shape[1]
    n = fill[row]
    at = cursor[row]
    top = min(n, keep)
    if n == size and ring[row, at] >= ring[row, ranked[row, 0]]:
        top = _leave(ring, ranked, row, at, top, listed)
    # A finite score past float32's range is kept as its largest, not as infinity.
    ring[row, at] = min(score, FLOAT32_MAX) if score != np.inf else score
    if top < keep:
        _join(ring, ranked, row, at, top, False)
    elif ring[row, at] > ring[row, ranked[row, 0]]:
        _join(ring, ranked, row, at, top, True)
    fill[row] = min(n + 1, size)
    cursor[row] = at + 1 if at + 1 < size else 0


@jit_no_alloc()
def _leave(
    ring: np.ndarray, ranked: np.ndarray, row: int, at: int, top: int, listed: np.ndarray
) -> int:
    """Ring position `at` is about to be overwritten: if it is among the largest, the
    largest score elsewhere in the ring takes its place. Returns how many largest
    there are now (the scores tied with the least of them may not include `at`)."""
    k = 0
    while k < top and ranked[row, k] != at:
        k += 1
    if k == top:
        return top
    for j in range(k, top - 1):
        ranked[row, j] = ranked[row, j + 1]
    top -= 1
    listed[at] = True
    for j in range(top):
        listed[ranked[row, j]] = True
    best = -1
    for p in range(ring.shape[1]):
        if not listed[p] and (best < 0 or ring[row, p] > ring[row, best]):
            best = p
    listed[at] = False
    for j in range(top):
        listed[ranked[row, j]] = False
    if best < 0:  # keep == size: every other score is listed already
        return top
    _join(ring, ranked, row, best, top, False)
    return top + 1


@jit_no_alloc()
def _join(ring: np.ndarray, ranked: np.ndarray, row: int, p: int, top: int, full: bool) -> None:
    """Ring position `p` joins the `top` largest, in score order; when `full`, the
    least of them leaves to make room."""
    score = ring[row, p]
    lo, hi = 0, top
    while lo < hi:  # after the scores equal to it
        mid = (lo + hi) // 2
        if ring[row, ranked[row, mid]] <= score:
            lo = mid + 1
        else:
            hi = mid
    if full:
        for j in range(lo - 1):
            ranked[row, j] = ranked[row, j + 1]
        ranked[row, lo - 1] = p
    else:
        for j in range(top, lo, -1):
            ranked[row, j] = ranked[row, j - 1]
        ranked[row, lo] = p


@jit_no_alloc()
def quantile(ring: np.ndarray, ranked: np.ndarray, fill: np.ndarray, row: int, q: float) -> float:
    """river's `RollingQuantile.get`: linear interpolation between the two ranks
    around q (n - 1), read among the largest scores."""
    n = fill[row]
    if n == 0:
        return np.nan
    last = min(n, ranked.shape[1]) - 1  # the largest score's place in `ranked`
    index = q * (n - 1)
    lower = int(np.floor(index))
    higher = min(lower + 1, n - 1)
    # float64 before subtracting, as river does with the same scores.
    low = np.float64(ring[row, ranked[row, last - (n - 1 - lower)]])
    high = np.float64(ring[row, ranked[row, last - (n - 1 - higher)]])
    return low + (high - low) * (index - lower)


@jit_no_alloc()
def copy_row(
    ring: np.ndarray, ranked: np.ndarray, fill: np.ndarray, cursor: np.ndarray, src: int, dst: int
) -> None:
    n = fill[src]
    for p in range(n):  # loops, not slices: a slice copy allocates
        ring[dst, p] = ring[src, p]
    for j in range(min(n, ranked.shape[1])):
        ranked[dst, j] = ranked[src, j]
    fill[dst] = n
    cursor[dst] = cursor[src]


@jit_no_alloc()
def release(free: np.ndarray, free_count: np.ndarray, row: int) -> None:
    free[free_count[0]] = row
    free_count[0] += 1


@jit_no_alloc()
def take(free: np.ndarray, free_count: np.ndarray) -> int:
    """A free row (the caller reserved enough)."""
    free_count[0] -= 1
    return free[free_count[0]]


@jit_no_alloc()
def push_all(
    ring: np.ndarray,
    ranked: np.ndarray,
    fill: np.ndarray,
    cursor: np.ndarray,
    rows: np.ndarray,
    scores: np.ndarray,
    listed: np.ndarray,
) -> None:
    for i in range(len(rows)):
        push(ring, ranked, fill, cursor, rows[i], scores[i], listed)


@jit_no_alloc()
def quantile_all(
    ring: np.ndarray,
    ranked: np.ndarray,
    fill: np.ndarray,
    rows: np.ndarray,
    q: float,
    out: np.ndarray,
) -> None:
    for i in range(len(rows)):
        out[i] = quantile(ring, ranked, fill, rows[i], q)
