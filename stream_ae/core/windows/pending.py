"""Windows completed but not yet drained, in the order their last points arrived."""

from __future__ import annotations

import numpy as np


class PendingWindows:
    """A growable column buffer of (slot, end sequence number, statistics, tag) rows.

    A window is only its slot and the sequence number of its last point until drained:
    the ring still holds its points (see `WindowStore.slack`). The statistics are the
    series' running mean and variance as of that point, copied, since later points move
    them.

    >>> pending = PendingWindows(channels=1, capacity=2)
    >>> for slot in (4, 7, 4):
    ...     pending.add(slot, seq=10, stats=np.zeros((2, 1)), tag=slot)
    >>> pending.slot[: len(pending)].tolist()
    [4, 7, 4]
    >>> pending.drop_slot(4)
    >>> pending.slot[: len(pending)].tolist(), pending.tag[: len(pending)].tolist()
    ([7], [7])
    """

    def __init__(self, channels: int, capacity: int = 1024) -> None:
        self.channels = channels
        self.slot = np.zeros(capacity, dtype=np.int64)
        self.seq = np.zeros(capacity, dtype=np.int64)
        self.stats = np.zeros((capacity, 2, channels), dtype=np.float64)
        self.tag = np.zeros(capacity, dtype=np.int64)
        self.count = np.zeros(1, dtype=np.int64)
        """[1]: a one-element array, so that compiled code can move it on in place."""

    def __len__(self) -> int:
        return int(self.count[0])

    def reserve(self, rows: int) -> None:
        """Make room for `rows` rows in all, doubling the capacity as often as needed."""
        while len(self.slot) < rows:
            self.grow()

    def grow(self) -> None:
        """Double the capacity, keeping the rows."""
        extra = len(self.slot)
        self.slot = np.concatenate([self.slot, np.zeros(extra, dtype=np.int64)])
        self.seq = np.concatenate([self.seq, np.zeros(extra, dtype=np.int64)])
        self.stats = np.concatenate([self.stats, np.zeros((extra, 2, self.channels))])
        self.tag = np.concatenate([self.tag, np.zeros(extra, dtype=np.int64)])

    def add(self, slot: int, seq: int, stats: np.ndarray, tag: int) -> None:
        k = len(self)
        if k == len(self.slot):
            self.grow()
        self.slot[k], self.seq[k], self.stats[k], self.tag[k] = slot, seq, stats, tag
        self.count[0] = k + 1

    def holds(self, slot: int) -> bool:
        return bool((self.slot[: len(self)] == slot).any())

    def drop_slot(self, slot: int) -> None:
        """Forget the rows of `slot` (its series was evicted), keeping the others' order."""
        n = len(self)
        keep = np.flatnonzero(self.slot[:n] != slot)
        for column in (self.slot, self.seq, self.stats, self.tag):
            column[: len(keep)] = column[keep]
        self.count[0] = len(keep)

    def take_all(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(slots, end sequence numbers, [rows, 2, channels] statistics, tags), copied;
        the buffer is left empty."""
        n = len(self)
        slot, seq, stats, tag = (c[:n].copy() for c in (self.slot, self.seq, self.stats, self.tag))
        self.count[0] = 0
        return slot, seq, stats, tag
