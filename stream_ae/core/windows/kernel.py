"""The compiled loop that takes a run of ordinary points into the rings in one call.

Points of a micro-batch arrive interleaved across series, and each series' gap step and
running statistics are recurrences: point k of a series needs point k-1's result. In
numpy that is one round of array calls per point of the busiest series, so a single
series at hop 1 pays a handful of numpy calls per point, more than the Python loop it
replaces. Compiled (numba), the loop does the arithmetic of `WindowStore.push` in the
same order, so the windows and their statistics are bit-identical, at a few tens of
nanoseconds a point (`benchmarks/speed.py --detector-only`).

The loop takes only the ordinary case and stops at anything else (a new series, a
value or time to refuse, a point not after its series' last one, a gap), handing that
one point to `WindowStore.push` and resuming after it.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

RAN_OUT = 0
"""Every point of the run was taken."""
UNUSUAL = 1
"""The point at `stop` needs `WindowStore.push`; the points before it were taken."""
DRAIN = 2
"""The point before `stop` filled some series' slack: drain before going on."""
FULL = 3
"""The buffer of pending windows is full (the caller reserves room first, so this only
guards the buffer's bounds)."""

_F32_MAX = float(np.finfo(np.float32).max)


class RunRules(NamedTuple):
    """The store's settings the loop applies (see `WindowStore`)."""

    window: int
    hop: int
    slack: int
    max_ahead_s: float
    stats_alpha: float
    gap_factor: float


class SeriesState(NamedTuple):
    """Per-slot arrays the loop moves on in place: the rings, the running statistics,
    the gap step, the points since the last window and drain; and the newest time taken
    ([1])."""

    ring_values: np.ndarray
    ring_ts: np.ndarray
    seq: np.ndarray
    valid_from: np.ndarray
    last_ts: np.ndarray
    step: np.ndarray
    stats: np.ndarray
    stats_n: np.ndarray
    since_window: np.ndarray
    since_drain: np.ndarray
    newest: np.ndarray


class PendingState(NamedTuple):
    """`PendingWindows`' columns; `used` [1] is its `count`, the rows in use."""

    slot: np.ndarray
    seq: np.ndarray
    stats: np.ndarray
    tag: np.ndarray
    used: np.ndarray


@numba.njit(cache=True, nogil=True)
def take_run(
    start: int,
    slots: np.ndarray,
    ts: np.ndarray,
    values: np.ndarray,
    limit: float,
    wall: bool,
    rules: RunRules,
    series: SeriesState,
    pending: PendingState,
) -> tuple[int, int]:
    """Take points `start`, `start + 1`, ... (slot, time, [channels] float64 values) until
    one is unusual or the run ends; returns (stop, why) with why one of the codes above.

    `limit` is wall time when `wall`, else unused: the newest point taken (`newest[0]`,
    kept up to date here) is the reference for max_ahead_s.
    """
    window, hop, slack, max_ahead_s, stats_alpha, gap_factor = rules
    ring_values, ring_ts, seq, valid_from, last_ts, step = series[:6]
    stats, stats_n, since_window, since_drain, newest = series[6:]
    pending_slot, pending_seq, pending_stats, pending_tag, pending_count = pending
    ring = ring_ts.shape[1]
    channels = values.shape[1]
    capacity = pending_slot.shape[0]
    for i in range(start, len(slots)):
        slot = slots[i]
        if slot < 0:
            return i, UNUSUAL
        for c in range(channels):
            v = values[i, c]
            if not -_F32_MAX <= v <= _F32_MAX:  # NaN fails it too
                return i, UNUSUAL
        t = ts[i]
        if not np.isfinite(t):
            return i, UNUSUAL
        if t > (limit if wall else newest[0]) + max_ahead_s:
            return i, UNUSUAL
        last = last_ts[slot]
        if t <= last:
            return i, UNUSUAL
        new_step = step[slot]
        if last > -np.inf:
            dt = t - last
            if np.isnan(new_step):
                new_step = dt
            elif dt <= gap_factor * new_step:
                new_step = 0.95 * new_step + 0.05 * dt
            else:
                return i, UNUSUAL
        if pending_count[0] == capacity:
            return i, FULL
        step[slot] = new_step
        # WindowStore._write and _update_stats, in their order.
        s = seq[slot]
        pos = s % ring
        for c in range(channels):
            ring_values[slot, pos, c] = values[i, c]
        n = stats_n[slot] + 1
        stats_n[slot] = n
        w = max(stats_alpha, 1.0 / n)
        for c in range(channels):
            delta = values[i, c] - stats[slot, 0, c]
            stats[slot, 0, c] += w * delta
            stats[slot, 1, c] = (1.0 - w) * (stats[slot, 1, c] + w * delta * delta)
        ring_ts[slot, pos] = t
        s += 1
        seq[slot] = s
        last_ts[slot] = t
        drained = since_drain[slot] + 1
        since_drain[slot] = drained
        if t > newest[0]:
            newest[0] = t
        since = since_window[slot] + 1
        if s - valid_from[slot] >= window and since >= hop:
            since = 0
            k = pending_count[0]
            pending_slot[k] = slot
            pending_seq[k] = s
            pending_stats[k] = stats[slot]
            pending_tag[k] = i
            pending_count[0] = k + 1
        since_window[slot] = since
        if drained >= slack:
            return i + 1, DRAIN
    return len(slots), RAN_OUT
