"""The window store: points of many series in, windows ready for scoring out."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Literal, cast

import numpy as np

from stream_ae.core.records import Rejection, RejectReason, WindowBatch
from stream_ae.core.windows import kernel
from stream_ae.core.windows.gaps import RESET, GapPolicy, Gaps
from stream_ae.core.windows.pending import PendingWindows
from stream_ae.core.windows.phase import count_to_first_window, hop_phase
from stream_ae.core.windows.point_checks import as_float, hashable, point_refusal
from stream_ae.core.windows.rings import Rings
from stream_ae.core.windows.running import RunningStats
from stream_ae.core.windows.slots import SlotTable

OutOfOrderPolicy = Literal["reject", "ignore_time"]
DuplicatePolicy = Literal["reject", "replace"]

_GROW_FROM = 1024


@dataclass(frozen=True, slots=True)
class Gathered:
    """Windows drained from the store, with the slot each came from."""

    slots: np.ndarray
    """[batch] int64 slot of each window's series (stable while the series lives)."""
    batch: WindowBatch
    tags: np.ndarray
    """[batch] int64 the `tag` the caller gave the point that completed each window."""

    def __len__(self) -> int:
        return len(self.slots)

    @staticmethod
    def concat(parts: list[Gathered], window: int, channels: int) -> Gathered:
        """One `Gathered` of the rows of `parts` (at least one), in order."""
        if len(parts) == 1:
            return parts[0]
        return Gathered(
            slots=np.concatenate([p.slots for p in parts]),
            batch=WindowBatch.concat([p.batch for p in parts], window, channels),
            tags=np.concatenate([p.tags for p in parts]),
        )


class WindowStore:
    """Ring buffers of the last points of many series, gathered into windows.

    Each series owns a slot: a row of preallocated arrays, so a push is O(1) and
    windows of many series come out in one vectorised gather. A point that
    completes a window (and is the hop-th since the last one) marks that window
    pending; `drain()` returns every pending window, oldest first. At a hop above 1
    the first window of a series, and of a series that a gap reset, comes `hop_phase`
    points after the one the hop alone would score (unless `stagger` is off), so that
    series which start together do not all score on the same points.

    The ring holds `window + slack` points, so a series may gain up to `slack`
    points before its pending windows must be drained: `needs_drain` says when.

    >>> store = WindowStore(window=3, channels=1)
    >>> for t in range(4):
    ...     store.push("a", float(t), (float(t),))
    >>> store.drain().batch.values[:, :, 0].tolist()
    [[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]]
    """

    def __init__(
        self,
        window: int,
        channels: int,
        *,
        hop: int = 1,
        stagger: bool = True,
        max_series: int = 100_000,
        idle_evict_s: float = 86_400.0,
        max_ahead_s: float = 86_400.0,
        gap_policy: GapPolicy = "reset",
        gap_factor: float = 3.0,
        out_of_order: OutOfOrderPolicy = "reject",
        duplicates: DuplicatePolicy = "reject",
        slack: int | None = None,
        stats_alpha: float = 0.001,
        irregular_after: int = 3,
        on_assign: Callable[[int, str], None] | None = None,
        on_evict: Callable[[str, str], None] | None = None,
        on_irregular: Callable[[str], None] | None = None,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1 point (got {window})")
        if channels < 1:
            raise ValueError(f"channels must be at least 1 (got {channels})")
        if hop < 1:
            raise ValueError(f"hop must be at least 1 (got {hop}); 1 scores every point")
        if not max_ahead_s > 0:
            raise ValueError(f"max_ahead_s must be > 0 seconds (got {max_ahead_s})")
        if max_series < 1:
            raise ValueError(f"max_series must be at least 1 (got {max_series})")
        if out_of_order not in ("reject", "ignore_time"):
            raise ValueError(
                f"out_of_order must be 'reject' or 'ignore_time' (got {out_of_order!r})"
            )
        if duplicates not in ("reject", "replace"):
            raise ValueError(f"duplicates must be 'reject' or 'replace' (got {duplicates!r})")
        self.window = window
        self.channels = channels
        self.hop = hop
        self.stagger = stagger
        """Offset each series' scored windows by its `hop_phase` (False: every series'
        first window is the one that fills it, so hop = window tumbles from its first
        point)."""
        self.max_series = max_series
        self.idle_evict_s = idle_evict_s
        self.max_ahead_s = max_ahead_s
        """A point this far past the caller's wall time (when it gives one; else past the
        newest point taken) is refused. Idle eviction is judged against a clock no one
        series running ahead can move (see `_idle_clock`)."""
        self.out_of_order = out_of_order
        self.duplicates = duplicates
        self.slack = max(window, 32) if slack is None else slack
        if self.slack < 1:
            raise ValueError(f"slack must be at least 1 (got {self.slack})")
        self.on_assign = on_assign
        """Called with (slot, series) when a series takes a slot: slot-aligned state resets."""
        self.on_evict = on_evict
        """Called with (series, reason) when a series is forgotten; reason is 'idle' or
        what the caller of `evict` said."""
        self.on_irregular = on_irregular
        """Called with the series when its gaps stop resetting it (see `Gaps.restarts`)."""
        self.slots = SlotTable()
        self.rings = Rings(window + self.slack, channels)
        self.stats = RunningStats(channels, stats_alpha)
        self.gaps = Gaps(gap_policy, gap_factor, irregular_after)
        self._pending = PendingWindows(channels)
        # Slot-aligned counters of the store's own: points since the last pending window
        # (the hop; from below zero before a series' first, `count_to_first_window`) and
        # since the last drain (the slack).
        self._since_window = np.zeros(0, dtype=np.int64)
        self._since_drain = np.zeros(0, dtype=np.int64)
        self._newest = np.array([-math.inf])
        """[1] the newest point taken (one element, for the compiled loop to move on)."""
        self.needs_drain = False
        """True once some series gained `slack` points since the last drain."""
        self._allocate(min(_GROW_FROM, max_series))

    # -- state -----------------------------------------------------------------

    def _allocate(self, capacity: int) -> None:
        extra = capacity - self.slots.capacity
        for part in (self.rings, self.stats, self.gaps):
            part.grow(capacity)
        self._since_window = np.concatenate([self._since_window, np.zeros(extra, np.int64)])
        self._since_drain = np.concatenate([self._since_drain, np.zeros(extra, np.int64)])
        self.slots.grow(capacity)  # last: its size is the capacity of them all

    @property
    def capacity(self) -> int:
        """Slots allocated so far (grown by doubling up to max_series)."""
        return self.slots.capacity

    @property
    def evictions(self) -> int:
        return self.slots.evictions

    @property
    def freed(self) -> deque[int]:
        return self.slots.freed

    def __len__(self) -> int:
        return len(self.slots)

    def __contains__(self, series: object) -> bool:
        return hashable(series) and series in self.slots.slot_of

    @property
    def pending(self) -> int:
        """Number of windows waiting for `drain()`."""
        return len(self._pending)

    def slot(self, series: str) -> int | None:
        return self.slots.slot_of.get(series)

    def newest_ts(self, series: str) -> float | None:
        """The time of the newest point taken for `series`, None when it is not live."""
        slot = self.slot(series)
        return None if slot is None else float(self.slots.last_ts[slot])

    def series_at(self, slot: int) -> str | None:
        return self.slots.series_of[slot]

    def series_ids(self) -> list[str]:
        return list(self.slots.slot_of)

    def live_slots(self) -> np.ndarray:
        """The slots of every live series, int64."""
        live = self.slots.slot_of
        return np.fromiter(live.values(), dtype=np.int64, count=len(live))

    def slots_of(self, series: Sequence[str]) -> np.ndarray:
        """[points] int64 each series' slot, -1 for one not live."""
        get = self.slots.slot_of.get
        try:
            return np.fromiter(map(get, series, repeat(-1)), np.int64, len(series))
        except TypeError:  # an id that cannot be a key (a list, say): not live, push refuses it
            return np.array([get(n, -1) if hashable(n) else -1 for n in series], np.int64)

    # -- writes ----------------------------------------------------------------

    def push(
        self,
        series: str,
        ts: float,
        values: Sequence[float],
        *,
        tag: int = -1,
        now: float | None = None,
    ) -> Rejection | None:
        """Append one point; returns a Rejection (and stores nothing) when refused.

        `tag` comes back with the window this point completes (`Gathered.tags`); `now`
        is the caller's wall time, if it has one (the store keeps no clock of its own).
        """
        refused = self._refusal(series, ts, values, now)
        if refused is not None:
            return refused
        slot = self.slots.slot_of.get(series)
        if slot is None:
            slot_or_rejection = self._assign(series, ts, now)
            if isinstance(slot_or_rejection, Rejection):
                return slot_or_rejection
            slot = slot_or_rejection
        last = float(self.slots.last_ts[slot])
        if ts <= last and self.out_of_order == "reject":
            if ts == last:
                if self.duplicates == "replace":
                    self.rings.replace_last(slot, values)
                    return None
                return Rejection(
                    RejectReason.DUPLICATE,
                    f"timestamp {ts} repeats the previous point of this series "
                    "(set window.duplicates = 'replace' to keep the newer value)",
                    series,
                    ts,
                )
            return Rejection(
                RejectReason.OUT_OF_ORDER,
                f"timestamp {ts} is older than this series' previous point {last} "
                "(set window.out_of_order = 'ignore_time' to take points in arrival order)",
                series,
                ts,
            )
        if ts > last > -math.inf:
            self._gap(slot, last, ts, values)
        seq = self._write(slot, ts, values)
        if ts > self._newest[0]:
            self._newest[0] = ts
        since = int(self._since_window[slot]) + 1
        if self.rings.stretch(slot) >= self.window and since >= self.hop:
            since = 0
            self._pending.add(slot, seq, self.stats.values[slot], tag)
        self._since_window[slot] = since
        return None

    def take_run(
        self,
        start: int,
        slots: np.ndarray,
        ts: np.ndarray,
        values: np.ndarray,
        now: float | None = None,
    ) -> tuple[int, int]:
        """Take the ordinary points from `start` on, as `push` would one by one (tag: the
        point's index), in one compiled loop: `slots` from `slots_of`, `ts` [points]
        float64, `values` [points, channels] float64.

        Returns (stop, why), why one of `kernel.RAN_OUT` (all taken), `kernel.UNUSUAL`
        (point `stop` is for `push`; the ones before it were taken) or `kernel.DRAIN`
        (`needs_drain`: drain, then resume at `stop`). `values` must have the store's
        channel count: the loop trusts its shape.
        """
        pending = self._pending
        # Room for a window per point first: nothing can fail once the loop has written.
        pending.reserve(len(pending) + len(slots) - start)
        stop, why = self._run(start, slots, ts, values, now)
        if why == kernel.FULL:  # only the loop's own bounds check: the room is reserved
            raise RuntimeError("the pending windows outgrew the room reserved for them")
        if why == kernel.DRAIN:
            self.needs_drain = True
        return stop, why

    def _run(
        self, start: int, slots: np.ndarray, ts: np.ndarray, values: np.ndarray, now: float | None
    ) -> tuple[int, int]:
        rings, stats, pending = self.rings, self.stats, self._pending
        rules = kernel.RunRules(
            self.window, self.hop, self.slack, self.max_ahead_s, stats.alpha, self.gaps.factor
        )
        series = kernel.SeriesState(
            rings.values,
            rings.ts,
            rings.seq,
            rings.valid_from,
            self.slots.last_ts,
            self.gaps.step,
            stats.values,
            stats.n,
            self._since_window,
            self._since_drain,
            self._newest,
        )
        waiting = kernel.PendingState(
            pending.slot, pending.seq, pending.stats, pending.tag, pending.count
        )
        limit = math.nan if now is None else now
        return kernel.take_run(
            start, slots, ts, values, limit, now is not None, rules, series, waiting
        )

    def _refusal(
        self, series: str, ts: float, values: Sequence[float], now: float | None
    ) -> Rejection | None:
        """Why `push` refuses this point whatever the series' state, or None. Changes
        nothing: the eviction predictions ask it too (a refused point takes no slot)."""
        return point_refusal(
            series, ts, values, self.channels, float(self._newest[0]), now, self.max_ahead_s
        )

    def would_evict(
        self, series: str, ts: float, values: Sequence[float], now: float | None = None
    ) -> bool:
        """True when this point would evict a series that has windows pending (see
        `may_evict`): a caller drains them first so that none is dropped, and otherwise
        keeps its batch whole."""
        if not len(self._pending) or not self._full_for(series):
            return False
        victim = self._evicted_by(series, ts, values, now)
        return victim is not None and self._pending.holds(victim)

    def may_evict(
        self, series: str, ts: float, values: Sequence[float], now: float | None = None
    ) -> bool:
        """True when this point (`now` as `push` takes it) would evict another series:
        it is new, the store is full, the idlest series has been idle long enough, and
        the point itself is not refused. A refused newcomer evicts nobody."""
        return self._full_for(series) and self._evicted_by(series, ts, values, now) is not None

    def _evicted_by(
        self, series: str, ts: float, values: Sequence[float], now: float | None
    ) -> int | None:
        at = as_float(ts, decimal=False)
        if at is None or not math.isfinite(at):
            return None  # push refuses the point: it takes no slot
        # Checked last: a point is refused rarely, a full store seldom has an idle victim.
        victim = self._idle_victim(at, now)
        if victim is None:
            return None
        return None if self._refusal(series, ts, values, now) is not None else victim

    def _full_for(self, series: str) -> bool:
        """True when `series` is new and no slot is free or can be added for it."""
        return not (self.slots.free or series in self or self.slots.capacity < self.max_series)

    def _write(self, slot: int, ts: float, values: Sequence[float]) -> int:
        seq = self.rings.write(slot, ts, values)
        self.stats.update(slot, values)
        self.slots.last_ts[slot] = ts
        drained = int(self._since_drain[slot]) + 1
        self._since_drain[slot] = drained
        if drained >= self.slack:
            self.needs_drain = True
        return seq

    def latest(self, slot: int, n: int) -> np.ndarray:
        """[k, channels] the slot's newest k <= n raw points, oldest first, since its
        window last started afresh (a new series, a gap that reset it)."""
        return self.rings.latest(slot, n)

    def stats_with(self, slot: int, values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """The slot's running mean and variance as they would be after one more point of
        `values`, changing nothing: what the window that point would complete is scaled
        by, for a caller that scores without learning."""
        return self.stats.with_one_more(slot, values)

    def _gap(self, slot: int, last: float, ts: float, values: Sequence[float]) -> None:
        missing = self.gaps.after(slot, ts - last, min(self.window, self.slack // 2 + 1))
        if missing == RESET:
            was_irregular = bool(self.gaps.irregular[slot])
            filled = self.rings.stretch(slot) >= self.window
            if self.gaps.restarts(slot, filled):
                self.rings.restart(slot)
                # Its phase again: a gap shared by many series would line them up.
                self._start_count(slot, self.slots.series_of[slot])
            elif not was_irregular and self.on_irregular is not None:
                series = self.slots.series_of[slot]
                if series is not None:
                    self.on_irregular(series)
            return
        if missing == 0:
            return
        step = float(self.gaps.step[slot])
        prev = self.rings.last(slot)
        new = np.asarray(values, dtype=np.float64)
        for k in range(1, missing + 1):
            frac = k / (missing + 1)
            self._write(slot, last + k * step, tuple((prev + frac * (new - prev)).tolist()))

    def _assign(self, series: str, ts: float, now: float | None = None) -> int | Rejection:
        if not self.slots.free:
            capacity = self.slots.capacity
            if capacity < self.max_series:
                self._allocate(min(capacity * 2, self.max_series))
            elif not self._evict_one_idle(ts, now):
                return Rejection(
                    RejectReason.CAPACITY,
                    f"{len(self)} series are live (window.max_series) and none has been idle "
                    f"for {self.idle_evict_s:g} s; raise window.max_series or lower "
                    "window.idle_evict_s",
                    series,
                    ts,
                )
        slot = self.slots.take(series)
        for part in (self.rings, self.stats, self.gaps):
            part.clear(slot)
        self._start_count(slot, series)
        self._since_drain[slot] = 0
        if self.on_assign is not None:
            self.on_assign(slot, series)
        return slot

    def _start_count(self, slot: int, series: str | None) -> None:
        phase = 0
        if self.stagger and self.hop > 1 and series is not None:  # at hop 1 every phase is 0
            phase = hop_phase(series, self.hop)
        self._since_window[slot] = count_to_first_window(self.window, self.hop, phase)

    def _evict_one_idle(self, ts: float, now: float | None) -> bool:
        victim = self._idle_victim(ts, now)
        if victim is None:
            return False
        series = self.slots.series_of[victim]
        if series is not None:
            self.evict(series, reason="idle")
        return True

    def _idle_victim(self, ts: float, now: float | None) -> int | None:
        """The slot a new series (first point at `ts`) would take by eviction: the
        idlest, once idle for `idle_evict_s`; None while none is. The one rule both
        `push` and the predictions the detector asks for (`may_evict`) follow."""
        idlest = self.slots.idlest()
        if self._idle_clock(ts, now) - float(self.slots.last_ts[idlest]) < self.idle_evict_s:
            return None
        return idlest

    def _idle_clock(self, ts: float, now: float | None) -> float:
        """The time a series must be idle against before a new one (first point at `ts`)
        may evict it. Never later than that first point, nor than wall time: a series
        dated ahead cannot push live ones out. Without wall time, never later than the
        second-newest series either (see `event_clock`)."""
        if now is not None:
            return min(ts, now)
        return min(ts, self.event_clock()) if len(self) > 1 else ts

    def event_clock(self) -> float:
        """The event time idle eviction measures against without a wall clock (see
        `SlotTable.event_clock`)."""
        return self.slots.event_clock()

    def evict(self, series: str, reason: str = "requested") -> None:
        """Forget a series and free its slot.

        Its pending windows are dropped: drain before (`Detector` does, and asks
        `would_evict`, or `may_evict` while it holds drained windows, before each first
        point of a series, so no window is lost or judged by a newcomer's state)."""
        slot = self.slots.release(series)
        if slot is None:
            return
        self._pending.drop_slot(slot)
        # Last: the slot is free even if the hook raises.
        if self.on_evict is not None:
            self.on_evict(series, reason)

    def evict_idle(self, now: float | None = None) -> list[str]:
        """Evict every series unseen for `idle_evict_s` (event time, measured against
        `now` or else `event_clock()`); returns their ids."""
        now = self.event_clock() if now is None else now
        evicted = self.slots.idle_since(now, self.idle_evict_s)
        for series in evicted:
            self.evict(series, reason="idle")
        return evicted

    # -- reads -----------------------------------------------------------------

    def drain(self) -> Gathered:
        """Gather every pending window into one `[batch, window, channels]` array."""
        slots, ends, stats, tags = self._pending.take_all()
        self._since_drain[:] = 0
        self.needs_drain = False
        ts, values = self.rings.gather(slots, ends, self.window)
        names = tuple(map(self.slots.series_of.__getitem__, slots.tolist()))
        if None in names:  # a freed slot's window (drained before every eviction: never)
            names = tuple(name or "" for name in names)
        batch = WindowBatch(
            series=cast(tuple[str, ...], names),
            end_ts=ts[:, -1].copy() if len(slots) else np.empty(0),
            ts=ts,
            values=values,
            mean=stats[:, 0, :],
            var=stats[:, 1, :],
        )
        return Gathered(slots=slots, batch=batch, tags=tags)
