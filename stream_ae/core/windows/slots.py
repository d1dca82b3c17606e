"""Which series owns which row of the store's arrays, and which is the idlest."""

from __future__ import annotations

import math
from collections import deque

import numpy as np


class SlotTable:
    """Series ids to slots (rows of slot-aligned arrays), with the time each series was
    last seen, free slots reused newest-freed first.

    >>> table = SlotTable()
    >>> table.grow(2)
    >>> table.take("a"), table.take("b")
    (0, 1)
    >>> table.release("a"), table.take("c")
    (0, 0)
    """

    def __init__(self) -> None:
        self.slot_of: dict[str, int] = {}
        self.series_of: list[str | None] = []
        self.free: list[int] = []
        self.last_ts = np.zeros(0)
        """Each slot's newest point's time; +inf for a free slot, -inf before any."""
        self.evictions = 0
        """Series released so far: a caller that looked slots up ahead sees from it
        whether one of them was freed."""
        self.freed: deque[int] = deque(maxlen=8)
        """The slots the last few releases freed, newest last."""

    @property
    def capacity(self) -> int:
        return len(self.series_of)

    def grow(self, capacity: int) -> None:
        old = self.capacity
        # Free slots read as infinitely recent so the idlest is never a free one.
        self.last_ts = np.concatenate([self.last_ts, np.full(capacity - old, math.inf)])
        self.series_of.extend([None] * (capacity - old))
        self.free.extend(range(capacity - 1, old - 1, -1))

    def __len__(self) -> int:
        return len(self.slot_of)

    def take(self, series: str) -> int:
        """A free slot for `series` (the caller made sure there is one)."""
        slot = self.free.pop()
        self.slot_of[series] = slot
        self.series_of[slot] = series
        self.last_ts[slot] = -math.inf
        return slot

    def release(self, series: str) -> int | None:
        """Free the slot of `series`; returns it (None if the series was not live)."""
        slot = self.slot_of.pop(series, None)
        if slot is None:
            return None
        self.series_of[slot] = None
        self.last_ts[slot] = math.inf
        self.free.append(slot)
        self.freed.append(slot)
        self.evictions += 1
        return slot

    def idlest(self) -> int:
        return int(np.argmin(self.last_ts))

    def event_clock(self) -> float:
        """The second-newest last point among live series (the newest when only two are
        live; -inf when none): one series walking ahead in steps under max_ahead_s moves
        the newest point taken, not this clock."""
        last = self.last_ts[self.last_ts < math.inf]
        if len(last) < 3:
            return float(last.max()) if len(last) else -math.inf
        return float(np.partition(last, len(last) - 2)[len(last) - 2])

    def idle_since(self, now: float, idle_s: float) -> list[str]:
        """The series last seen `idle_s` or more before `now`."""
        idle = np.flatnonzero(now - self.last_ts >= idle_s)
        return [s for s in (self.series_of[i] for i in idle) if s is not None]
