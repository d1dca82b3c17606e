"""Per-series sliding windows kept in preallocated numpy ring buffers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from stream_ae.core.records import Rejection, RejectReason, WindowBatch

GapPolicy = Literal["reset", "impute"]
OutOfOrderPolicy = Literal["reject", "ignore_time"]
DuplicatePolicy = Literal["reject", "replace"]

_GROW_FROM = 1024
_F32_MAX = float(np.finfo(np.float32).max)
"""Windows are float32: a larger value would turn infinite in the ring."""


@dataclass(frozen=True, slots=True)
class Gathered:
    """Windows drained from the store, with the slot each came from."""

    slots: np.ndarray
    """[batch] int64 slot of each window's series (stable while the series lives)."""
    batch: WindowBatch
    tags: np.ndarray
    """[batch] int64 the `tag` the caller gave the point that completed each window."""


class WindowStore:
    """Ring buffers of the last points of many series, gathered into windows.

    Each series owns a slot: a row of preallocated arrays, so a push is O(1) and
    windows of many series come out in one vectorised gather. A point that
    completes a window (and is the hop-th since the last one) marks that window
    pending; `drain()` returns every pending window, oldest first.

    The ring holds `window + slack` points, so a series may gain up to `slack`
    points before its pending windows must be drained: `needs_drain` says when.

    >>> store = WindowStore(window=3, channels=1)
    >>> for t in range(4):
    ...     store.push("a", float(t), (float(t),))
    >>> store.drain().batch.values[:, :, 0].tolist()
    [[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]]
    """

    # Slot-aligned arrays, grown together by `_allocate`.
    _values: np.ndarray  # [slots, ring, channels] float32
    _ts: np.ndarray  # [slots, ring] float64
    _seq: np.ndarray  # points written since the slot was assigned
    _valid_from: np.ndarray  # seq after the last gap reset
    _since_window: np.ndarray  # real points since the last pending window (hop)
    _since_drain: np.ndarray
    _last_ts: np.ndarray
    _step: np.ndarray  # slow average of the series' step between points
    _stats: np.ndarray  # [slots, 2, channels] running mean and variance of the values
    _stats_n: np.ndarray  # points behind the running statistics
    _short_resets: np.ndarray  # gap resets in a row that came before the window filled
    _irregular: np.ndarray  # bool: gaps no longer reset this series (see irregular_after)

    def __init__(
        self,
        window: int,
        channels: int,
        *,
        hop: int = 1,
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
        if gap_factor <= 1.0:
            raise ValueError(f"gap_factor must be > 1 (got {gap_factor})")
        if gap_policy not in ("reset", "impute"):
            raise ValueError(f"gap_policy must be 'reset' or 'impute' (got {gap_policy!r})")
        if out_of_order not in ("reject", "ignore_time"):
            raise ValueError(
                f"out_of_order must be 'reject' or 'ignore_time' (got {out_of_order!r})"
            )
        if not 0.0 < stats_alpha < 1.0:
            raise ValueError(f"stats_alpha must be in (0, 1) (got {stats_alpha})")
        if irregular_after < 0:
            raise ValueError(f"irregular_after must be >= 0 (got {irregular_after})")
        if duplicates not in ("reject", "replace"):
            raise ValueError(f"duplicates must be 'reject' or 'replace' (got {duplicates!r})")
        self.window = window
        self.channels = channels
        self.hop = hop
        self.max_series = max_series
        self.idle_evict_s = idle_evict_s
        self.max_ahead_s = max_ahead_s
        """A point this far past the caller's wall time (when it gives one; else past the
        newest point taken) is refused. Idle eviction is judged against a clock no one
        series running ahead can move (see `_evict_one_idle`)."""
        self.gap_policy = gap_policy
        self.gap_factor = gap_factor
        self.out_of_order = out_of_order
        self.duplicates = duplicates
        self.stats_alpha = stats_alpha
        self.irregular_after = irregular_after
        """After this many gap resets in a row that each came before the series' window
        filled, the series is taken as sampled irregularly: its gaps stop resetting it
        (0: never). A series with outages fills its window between them and keeps
        resetting; one whose usual steps vary would otherwise never be scored."""
        self.slack = max(window, 32) if slack is None else slack
        if self.slack < 1:
            raise ValueError(f"slack must be at least 1 (got {self.slack})")
        self.ring = window + self.slack
        self.on_assign = on_assign
        """Called with (slot, series) when a series takes a slot: slot-aligned state resets."""
        self.on_evict = on_evict
        """Called with (series, reason) when a series is forgotten; reason is 'idle' or
        what the caller of `evict` said."""
        self.on_irregular = on_irregular
        """Called with the series when its gaps stop resetting it (see irregular_after)."""
        self._slot_of: dict[str, int] = {}
        self._series_of: list[str | None] = []
        self._free: list[int] = []
        self._pending_slots: list[int] = []
        self._pending_seq: list[int] = []
        self._pending_stats: list[np.ndarray] = []
        self._pending_tags: list[int] = []
        self._newest_ts = -math.inf
        self.needs_drain = False
        """True once some series gained `slack` points since the last drain."""
        self._allocate(min(_GROW_FROM, max_series))

    # -- state -----------------------------------------------------------------

    def _allocate(self, capacity: int) -> None:
        old = len(self._series_of)
        grow = capacity - old

        def extend(name: str, shape: tuple[int, ...], fill: float, dtype: type) -> None:
            fresh: np.ndarray = np.full((grow, *shape), fill, dtype=dtype)
            setattr(self, name, fresh if old == 0 else np.concatenate([getattr(self, name), fresh]))

        extend("_values", (self.ring, self.channels), 0.0, np.float32)
        extend("_ts", (self.ring,), math.nan, np.float64)
        extend("_seq", (), 0, np.int64)
        extend("_valid_from", (), 0, np.int64)
        extend("_since_window", (), 0, np.int64)
        extend("_since_drain", (), 0, np.int64)
        # Free slots read as infinitely recent so idle eviction never picks them.
        extend("_last_ts", (), math.inf, np.float64)
        extend("_step", (), math.nan, np.float64)
        extend("_stats", (2, self.channels), 0.0, np.float64)
        extend("_stats_n", (), 0, np.int64)
        extend("_short_resets", (), 0, np.int64)
        extend("_irregular", (), False, np.bool_)
        self._series_of.extend([None] * grow)
        self._free.extend(range(capacity - 1, old - 1, -1))

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, series: object) -> bool:
        return series in self._slot_of

    @property
    def pending(self) -> int:
        """Number of windows waiting for `drain()`."""
        return len(self._pending_slots)

    def slot(self, series: str) -> int | None:
        return self._slot_of.get(series)

    def series_at(self, slot: int) -> str | None:
        return self._series_of[slot]

    def series_ids(self) -> list[str]:
        return list(self._slot_of)

    def live_slots(self) -> np.ndarray:
        """The slots of every live series, int64."""
        return np.fromiter(self._slot_of.values(), dtype=np.int64, count=len(self._slot_of))

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
        if len(values) != self.channels:
            return Rejection(
                RejectReason.WRONG_CHANNELS,
                f"expected {self.channels} value(s) per point, got {len(values)}",
                series,
                ts,
            )
        for v in values:
            if not -_F32_MAX <= v <= _F32_MAX:  # one test for the usual case; NaN fails it
                if not math.isfinite(v):
                    return Rejection(
                        RejectReason.NON_FINITE, f"value {v} is not a finite number", series, ts
                    )
                return Rejection(
                    RejectReason.OUT_OF_RANGE,
                    f"value {v:g} is beyond what float32 windows hold (about 3.4e38); "
                    "send it in a smaller unit",
                    series,
                    ts,
                )
        if not math.isfinite(ts):
            return Rejection(RejectReason.NON_FINITE, f"timestamp {ts} is not finite", series, ts)
        if ts > (self._newest_ts if now is None else now) + self.max_ahead_s:
            ahead = self._too_far_ahead(series, ts, now)
            if ahead is not None:
                return ahead
        slot = self._slot_of.get(series)
        if slot is None:
            slot_or_rejection = self._assign(series, ts, now)
            if isinstance(slot_or_rejection, Rejection):
                return slot_or_rejection
            slot = slot_or_rejection
        last = float(self._last_ts[slot])
        if ts <= last and self.out_of_order == "reject":
            if ts == last:
                if self.duplicates == "replace":
                    pos = (int(self._seq[slot]) - 1) % self.ring
                    self._values[slot, pos] = values
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
            self._handle_gap(slot, last, ts, values)
        self._write(slot, ts, values)
        if ts > self._newest_ts:
            self._newest_ts = ts
        since = int(self._since_window[slot]) + 1
        seq = int(self._seq[slot])
        if seq - int(self._valid_from[slot]) >= self.window and since >= self.hop:
            since = 0
            self._pending_slots.append(slot)
            self._pending_seq.append(seq)
            self._pending_stats.append(self._stats[slot].copy())
            self._pending_tags.append(tag)
        self._since_window[slot] = since
        return None

    def _too_far_ahead(self, series: str, ts: float, now: float | None) -> Rejection | None:
        # With a wall clock the limit is wall time alone: were it the newest point taken,
        # a chain of points each a little under max_ahead_s apart would walk it ahead.
        reference = self._newest_ts if now is None else now
        if reference == -math.inf:
            return None
        against = "the newest point taken" if now is None else "wall time"
        return Rejection(
            RejectReason.TOO_FAR_AHEAD,
            f"timestamp {ts:.3f} is {ts - reference:,.0f} s ahead of {against} "
            f"({reference:.3f}), more than window.max_ahead_s ({self.max_ahead_s:g} s); "
            "check the sender's clock, or raise window.max_ahead_s",
            series,
            ts,
        )

    def would_evict(self, series: str) -> bool:
        """True when a first point of `series` may evict a series that has windows
        pending (the store is full and the idlest one has some): a caller drains them
        first so that none is dropped, and otherwise keeps its batch whole."""
        if (
            not self._pending_slots
            or self._free
            or series in self._slot_of
            or len(self._series_of) < self.max_series
        ):
            return False
        return int(np.argmin(self._last_ts)) in self._pending_slots

    def _write(self, slot: int, ts: float, values: Sequence[float]) -> None:
        seq = int(self._seq[slot])
        pos = seq % self.ring
        self._values[slot, pos] = values
        self._update_stats(slot, values)
        self._ts[slot, pos] = ts
        self._seq[slot] = seq + 1
        self._last_ts[slot] = ts
        drained = int(self._since_drain[slot]) + 1
        self._since_drain[slot] = drained
        if drained >= self.slack:
            self.needs_drain = True

    def latest(self, slot: int, n: int) -> np.ndarray:
        """[k, channels] the slot's newest k <= n raw points, oldest first, since its
        window last started afresh (a new series, a gap that reset it)."""
        seq, start = int(self._seq[slot]), int(self._valid_from[slot])
        k = max(0, min(n, seq - start, self.ring))
        return self._values[slot, (seq - k + np.arange(k)) % self.ring].copy()

    def stats_with(self, slot: int, values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """The slot's running mean and variance as they would be after one more point of
        `values`, changing nothing: what the window that point would complete is scaled
        by, for a caller that scores without learning."""
        n = int(self._stats_n[slot]) + 1
        w = max(self.stats_alpha, 1.0 / n)
        mean, var = self._stats[slot]
        delta = np.asarray(values, dtype=np.float64) - mean
        return mean + w * delta, (1.0 - w) * (var + w * delta * delta)

    def _update_stats(self, slot: int, values: Sequence[float]) -> None:
        # A running mean while the series is young, then an exponential average. Kept
        # point by point, so a window's statistics never depend on how points were batched.
        n = int(self._stats_n[slot]) + 1
        self._stats_n[slot] = n
        w = max(self.stats_alpha, 1.0 / n)
        stats = self._stats[slot]
        delta = np.asarray(values, dtype=np.float64) - stats[0]
        stats[0] += w * delta
        stats[1] = (1.0 - w) * (stats[1] + w * delta * delta)

    def _handle_gap(self, slot: int, last: float, ts: float, values: Sequence[float]) -> None:
        dt = ts - last
        step = float(self._step[slot])
        if math.isnan(step):
            self._step[slot] = dt
            return
        if dt <= self.gap_factor * step:
            # A slow average: a few irregular steps must not move the notion of "usual".
            self._step[slot] = 0.95 * step + 0.05 * dt
            return
        missing = round(dt / step) - 1
        if self.gap_policy == "reset" or missing >= self.window or missing > self.slack // 2:
            self._reset_at_gap(slot)
            return
        prev = self._values[slot, (int(self._seq[slot]) - 1) % self.ring].astype(np.float64)
        new = np.asarray(values, dtype=np.float64)
        for k in range(1, missing + 1):
            frac = k / (missing + 1)
            self._write(slot, last + k * step, tuple((prev + frac * (new - prev)).tolist()))

    def _reset_at_gap(self, slot: int) -> None:
        if self._irregular[slot]:
            return
        filled = int(self._seq[slot]) - int(self._valid_from[slot]) >= self.window
        short = 0 if filled else int(self._short_resets[slot]) + 1
        self._short_resets[slot] = short
        if self.irregular_after and short >= self.irregular_after:
            self._irregular[slot] = True
            series = self._series_of[slot]
            if self.on_irregular is not None and series is not None:
                self.on_irregular(series)
            return
        self._valid_from[slot] = self._seq[slot]

    def _assign(self, series: str, ts: float, now: float | None = None) -> int | Rejection:
        if not self._free:
            capacity = len(self._series_of)
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
        slot = self._free.pop()
        self._slot_of[series] = slot
        self._series_of[slot] = series
        self._seq[slot] = 0
        self._valid_from[slot] = 0
        self._since_window[slot] = 0
        self._since_drain[slot] = 0
        self._last_ts[slot] = -math.inf
        self._step[slot] = math.nan
        self._stats[slot] = 0.0
        self._stats_n[slot] = 0
        self._short_resets[slot] = 0
        self._irregular[slot] = False
        if self.on_assign is not None:
            self.on_assign(slot, series)
        return slot

    def _evict_one_idle(self, ts: float, now: float | None) -> bool:
        oldest = int(np.argmin(self._last_ts))
        if self._idle_clock(ts, now) - float(self._last_ts[oldest]) < self.idle_evict_s:
            return False
        victim = self._series_of[oldest]
        if victim is not None:
            self.evict(victim, reason="idle")
        return True

    def _idle_clock(self, ts: float, now: float | None) -> float:
        """The time a series must be idle against before a new one (first point at `ts`)
        may evict it. Never later than that first point, nor than wall time: a series
        dated ahead cannot push live ones out. Without wall time, never later than the
        second-newest series either (see `event_clock`)."""
        if now is not None:
            return min(ts, now)
        return min(ts, self.event_clock()) if len(self) > 1 else ts

    def event_clock(self) -> float:
        """The event time idle eviction measures against without a wall clock: the
        second-newest last point among live series (the newest when only two are
        live; -inf when none). One series walking ahead in steps under max_ahead_s
        moves the newest point taken, not this clock."""
        last = self._last_ts[self._last_ts < math.inf]
        if len(last) < 3:
            return float(last.max()) if len(last) else -math.inf
        return float(np.partition(last, len(last) - 2)[len(last) - 2])

    def evict(self, series: str, reason: str = "requested") -> None:
        """Forget a series and free its slot.

        Its pending windows are dropped: drain before (`Detector` does, and asks
        `would_evict` before each first point of a series, so no window is lost)."""
        slot = self._slot_of.pop(series, None)
        if slot is None:
            return
        self._series_of[slot] = None
        self._last_ts[slot] = math.inf  # never picked as the idlest while free
        self._free.append(slot)
        if slot in self._pending_slots:
            keep = [i for i, s in enumerate(self._pending_slots) if s != slot]
            self._pending_slots = [self._pending_slots[i] for i in keep]
            self._pending_seq = [self._pending_seq[i] for i in keep]
            self._pending_stats = [self._pending_stats[i] for i in keep]
            self._pending_tags = [self._pending_tags[i] for i in keep]
        # Last: the slot is free even if the hook raises.
        if self.on_evict is not None:
            self.on_evict(series, reason)

    def evict_idle(self, now: float | None = None) -> list[str]:
        """Evict every series unseen for `idle_evict_s` (event time, measured against
        `now` or else `event_clock()`); returns their ids."""
        now = self.event_clock() if now is None else now
        idle = np.flatnonzero(now - self._last_ts >= self.idle_evict_s)
        evicted = [s for s in (self._series_of[i] for i in idle) if s is not None]
        for series in evicted:
            self.evict(series, reason="idle")
        return evicted

    # -- reads -----------------------------------------------------------------

    def drain(self) -> Gathered:
        """Gather every pending window into one `[batch, window, channels]` array."""
        slots = np.asarray(self._pending_slots, dtype=np.int64)
        ends = np.asarray(self._pending_seq, dtype=np.int64)
        stats = (
            np.stack(self._pending_stats)
            if self._pending_stats
            else np.zeros((0, 2, self.channels))
        )
        tags = np.asarray(self._pending_tags, dtype=np.int64)
        self._pending_slots, self._pending_seq, self._pending_stats = [], [], []
        self._pending_tags = []
        self._since_drain[:] = 0
        self.needs_drain = False
        steps = (ends[:, None] - self.window + np.arange(self.window)) % self.ring
        rows = slots[:, None]
        ts = self._ts[rows, steps]
        batch = WindowBatch(
            series=tuple(self._series_of[s] or "" for s in slots.tolist()),
            end_ts=ts[:, -1].copy() if len(slots) else np.empty(0),
            ts=ts,
            values=self._values[rows, steps],
            mean=stats[:, 0, :],
            var=stats[:, 1, :],
        )
        return Gathered(slots=slots, batch=batch, tags=tags)
