"""The detector: windows -> scorer -> threshold -> alert policy, pure and synchronous."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from stream_ae.core.alert_writing import AlertWriter, JudgedBatch
from stream_ae.core.alerting import AlertPolicy
from stream_ae.core.deciding import Decider
from stream_ae.core.judging import Judge, in_turns
from stream_ae.core.normalize import Normalizer, Scale
from stream_ae.core.output import Output, Scored
from stream_ae.core.records import (
    Point,
    PointColumns,
    Rejection,
    RejectReason,
    ScoreBatch,
    WindowBatch,
)
from stream_ae.core.scoring import Scorer
from stream_ae.core.stillness import StuckChannels
from stream_ae.core.threshold import RollingThreshold
from stream_ae.core.training import TrainingCollector
from stream_ae.core.windows import Gathered, WindowStore, kernel
from stream_ae.core.windows.point_checks import as_float

GATHER_UP_TO, GATHER_BYTES = 4096, 32 << 20
"""Windows copied out of the rings and kept to be scored together, at most, and the
most bytes they may take: a series whose points come in bulk fills its ring's slack
every `slack` points, and the model costs more per window in small batches (a series at
hop 8 would be scored four windows at a time). A window costs 8 + 4 x channels bytes a
step (its times and values) and 16 x channels more (its statistics); window 32, one
channel: 400 bytes, 4,096 of them 1.6 MiB."""


@dataclass(slots=True)
class Lane:
    """A scorer with the normalisation and thresholds that belong to its scores."""

    scorer: Scorer
    normalizer: Normalizer
    threshold: RollingThreshold
    shadow_windows: int = 0
    """Windows scored while waiting in shadow beside the serving lane."""
    fit_scores: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Per series, the scorer's scores on the windows it was fitted on (time order):
    a series named here starts its threshold from them and is judged at once."""
    fit_runs: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Per series, the runs of repeats in the windows the scorer was fitted on
    (`run_profile`): a series named here has its stuck channels judged at once."""


class Detector:
    """Scores points of many series and decides which are anomalous.

    `process(points)` pushes the points into their series' windows, scores every
    window that became ready in micro-batches, judges each score against its
    series' own threshold (in time order per series), and returns scored rows,
    opened/resolved alerts and refused points. It holds no I/O and no clock.

    A second lane (`install`) scores in shadow beside the serving one, so its
    thresholds warm up on its own scores; each series switches to it once warm,
    and it becomes the only lane once every live series has switched.
    """

    def __init__(
        self,
        store: WindowStore,
        lane: Lane,
        policy: AlertPolicy,
        *,
        channel_names: Sequence[str],
        top_contributors: int = 3,
        collector: TrainingCollector | None = None,
        severity_ratios: tuple[float, float] = (1.5, 3.0),
        judged_on: str = "tail",
        stuck: StuckChannels | None = None,
    ) -> None:
        judge = Judge(policy, judged_on, stuck)
        if stuck is not None and (stuck.channels, stuck.longest + 1, stuck.hop) != (
            store.channels,
            store.window,
            store.hop,
        ):
            raise ValueError(
                "stuck channels are judged on the store's windows: the channels, window "
                f"and hop {store.channels}, {store.window}, {store.hop} (got "
                f"{stuck.channels}, {stuck.longest + 1}, {stuck.hop})"
            )
        if len(channel_names) != store.channels:
            raise ValueError(
                f"{len(channel_names)} channel names for a store of {store.channels} channel(s)"
            )
        if lane.scorer.window != store.window or lane.scorer.channels != store.channels:
            raise ValueError(
                f"scorer expects windows of {lane.scorer.window} x {lane.scorer.channels}, "
                f"the store makes {store.window} x {store.channels}"
            )
        self.store = store
        self.lanes: list[Lane] = [lane]
        self.policy = policy
        self.channel_names = tuple(channel_names)
        self.decisions = Decider(
            judge, AlertWriter(self.channel_names, top_contributors, severity_ratios)
        )
        self.collector = collector
        self.stuck = stuck
        """Runs of repeats per channel, judged beside the model's score: a stuck sensor
        reconstructs well."""
        store.on_assign = self._assign
        self._in_flight: set[int] = set()
        """Tags of windows drained but not yet scored or refused (see `abandon`)."""
        self._gathered: list[Gathered] = []
        """Windows drained because a ring's slack filled, waiting to be scored with the
        ones after them (see `GATHER_UP_TO`). Always empty between `process` calls, and
        scored before any series may be evicted: a slot's state must judge only its own
        series' windows, and evictions from outside come between calls."""
        self._gathered_windows = 0
        per_window = store.window * (8 + 4 * store.channels) + 16 * store.channels
        self.gather_up_to = max(1, min(GATHER_UP_TO, GATHER_BYTES // per_window))
        """Windows gathered at most before they are scored."""
        self.compiled = True
        """Ordinary points go through the store's compiled loop (`WindowStore.take_run`)
        and a batch's scores are judged in one compiled call (`Decider`); False takes every
        point by `WindowStore.push` and judges turn by turn: the references the compiled
        paths must match."""

    @property
    def serving(self) -> Scorer:
        return self.lanes[0].scorer

    @property
    def in_shadow(self) -> Scorer | None:
        return self.lanes[1].scorer if len(self.lanes) > 1 else None

    def warming_up(self) -> int:
        """How many live series the serving lane cannot judge yet (threshold warming up)."""
        lane = self.lanes[0]
        counts = lane.threshold.count(self.store.live_slots())
        return int((counts < lane.threshold.warmup).sum())

    def with_open_incident(self, series: Iterable[str]) -> list[str]:
        """Those of `series` that are live and have an incident open."""
        named = [(name, self.store.slot(name)) for name in series]
        live = [(name, slot) for name, slot in named if slot is not None]
        if not live:
            return []
        is_open = self.policy.is_open(np.array([slot for _, slot in live], dtype=np.int64))
        return [name for (name, _), o in zip(live, is_open, strict=True) if o]

    def _assign(self, slot: int, series: str) -> None:
        for lane in self.lanes:
            _assign(lane, slot, series)
        self.policy.reset(slot)
        if self.stuck is not None:
            profile = next((k.fit_runs[series] for k in self.lanes if series in k.fit_runs), None)
            if profile is None:
                self.stuck.reset(slot)
            else:
                self.stuck.seed(slot, profile)

    def install(self, lane: Lane, seed: tuple[Sequence[str], np.ndarray] | None = None) -> None:
        """Start scoring with `lane` in shadow; it takes over series by series once warm.

        `seed` is (series, raw windows) the scorer was just fitted on, each series'
        windows in time order: its scores on them enter each live series' threshold
        history, and the new lane judges those series at once, however few they are.
        """
        if lane.scorer.window != self.store.window or lane.scorer.channels != self.store.channels:
            raise ValueError(
                f"the new scorer expects windows of {lane.scorer.window} x "
                f"{lane.scorer.channels}, the store makes {self.store.window} x "
                f"{self.store.channels}; refit it for this configuration"
            )
        for series in self.store.series_ids():
            slot = self.store.slot(series)
            if slot is not None:
                _assign(lane, slot, series)
        if seed is not None:
            self._seed(lane, *seed)
        self.lanes[1:] = [lane]
        self.policy.rebase()

    def _seed(self, lane: Lane, series: Sequence[str], windows: np.ndarray) -> None:
        slot_of = [self.store.slot(name) for name in series]
        rows = np.array([i for i, slot in enumerate(slot_of) if slot is not None], dtype=np.int64)
        if len(rows) == 0:
            return
        slots = np.array([slot_of[i] for i in rows.tolist()], dtype=np.int64)
        x = windows[rows].astype(np.float32)
        # Running statistics are not kept per training window: a series scaled online
        # is seeded with each window's own mean and variance instead.
        scale = lane.normalizer.scale(slots, x.mean(axis=1), x.var(axis=1))
        scores = lane.scorer.score(scale.apply(x)).scores
        for rows in in_turns(slots):
            lane.threshold.learn(slots[rows], scores[rows])
        lane.threshold.warm(np.unique(slots))

    def process(
        self,
        points: Sequence[Point] | PointColumns,
        *,
        now: float | None = None,
        out: Output | None = None,
    ) -> Output:
        """Score `points` (any mix of series, each series in time order).

        `now` is the caller's wall time (epoch seconds), if it has one: points further
        ahead of it (else of the newest point taken) than the store's `max_ahead_s` are
        refused, and idle eviction never measures against a later time (a `now` that is
        not a finite number raises ValueError). Data never makes this raise: a point or
        window that an unexpected error hits is refused as internal_error
        (`Output.failures` holds the errors), and every other one is scored.

        Results go into `out` as they are made (a new Output if none is given; its
        `taken` restarts at 0, an index into these points): should a bug outside those
        guards raise, the caller keeps what was done, refuses the points from
        `out.taken` on, and calls `abandon()`.
        """
        at = None if now is None else as_float(now, decimal=False)
        if now is not None and (at is None or not math.isfinite(at)):
            # The caller's own clock, not data: a wrong one would silently lift the limit.
            raise ValueError(
                f"now must be a finite number of seconds since the epoch, got {now!r}; "
                "pass time.time(), or None to measure against the newest point taken"
            )
        out = Output() if out is None else out
        out.taken = 0  # an index into these points
        point_at: Callable[[int], Point] = points.__getitem__
        if self.compiled:
            columns = (
                points
                if isinstance(points, PointColumns)
                else PointColumns.of(points, self.store.channels)
            )
            # Columns of another width go point by point: each is refused as wrong_channels.
            if columns.values.shape[1] == self.store.channels:
                self._take_in_runs(columns, point_at, now, out)
        for i in range(out.taken, len(points)):
            self._take_one(i, point_at(i), now, out)
        self._score(out)
        return out

    def _take_in_runs(
        self,
        columns: PointColumns,
        point_at: Callable[[int], Point],
        now: float | None,
        out: Output,
    ) -> None:
        """Ordinary points in compiled runs, each unusual one by `_take_one` between them."""
        store, series, n = self.store, columns.series, len(columns)
        slots = store.slots_of(series)
        # One compiled variant serves every caller: the loop is typed on these dtypes.
        ts = np.asarray(columns.ts, dtype=np.float64)
        values = np.ascontiguousarray(columns.values, dtype=np.float64)
        at = None if now is None else float(now)
        i = out.taken
        while i < n:
            try:
                stop, why = store.take_run(i, slots, ts, values, at)
            except Exception as exc:  # the compiled loop cannot run here: go on point by point
                self.compiled = False
                out.note(exc)
                return
            taken, out.taken = i, stop
            watch = self._watch() if stop > taken else None
            if watch is not None:
                for j in range(taken, stop):
                    watch(series[j], float(ts[j]))
            i = stop
            if why == kernel.DRAIN:
                self._gather(out)
            elif why == kernel.UNUSUAL:
                if slots[i] < 0 and series[i] in store:  # series that took a slot since
                    unknown = i + np.flatnonzero(slots[i:] < 0)
                    slots[unknown] = store.slots_of([series[j] for j in unknown.tolist()])
                    continue
                evictions = store.evictions
                self._take_one(i, point_at(i), now, out)
                i += 1
                evicted = store.evictions - evictions
                if evicted > len(store.freed):
                    slots[i:] = store.slots_of(series[i:])
                elif evicted:  # later points of an evicted series look their slot up again
                    later = slots[i:]
                    later[np.isin(later, list(store.freed)[-evicted:])] = -1

    def _watch(self) -> Callable[[str, float], None] | None:
        # A collector fitting on each series' first points or time range counts them.
        collector = self.collector
        return collector.see if collector is not None and collector.watching else None

    def _take_one(self, i: int, point: Point, now: float | None, out: Output) -> None:
        store = self.store
        # The series evicted next may have windows pending or gathered: its slot's
        # state must judge them before a newcomer takes it.
        evicts = store.would_evict if not self._gathered else store.may_evict
        if evicts(point.series, point.ts, point.values, now):
            self._score(out)
        try:
            rejection = store.push(point.series, point.ts, point.values, tag=i, now=now)
        except Exception as exc:
            out.taken = i + 1
            out.fail(i, exc, point.series, point.ts, "taking the point")
            self._forget(out, point.series)
            return
        out.taken = i + 1
        if rejection is not None:
            out.rejected.append((i, rejection))
            return
        watch = self._watch()
        if watch is not None:
            watch(point.series, point.ts)
        if store.needs_drain:
            self._gather(out)

    def _forget(self, out: Output, series: str) -> None:
        # A push that raised may have left the series' state half-written: score what it
        # had pending, then start it afresh with its next point.
        self._score(out)
        with contextlib.suppress(Exception):  # the slot is freed before the hook runs
            self.store.evict(series, reason="internal_error")

    def abandon(self) -> list[int]:
        """After process() raised: drop the windows it left pending, gathered or being
        scored, and return the tags (input indices) of the points that completed them, for the
        caller to refuse. Without this, their tags would name points of the next call."""
        tags = self._in_flight | set(self.store.drain().tags.tolist())
        self._in_flight = set()
        self._gathered, self._gathered_windows = [], 0
        return sorted(tags)

    def _gather(self, out: Output) -> None:
        """Copy the pending windows out of the rings, to be scored with later ones; score
        them all once `gather_up_to` are waiting."""
        gathered = self.store.drain()
        if len(gathered):
            self._in_flight.update(gathered.tags.tolist())
            self._gathered.append(gathered)
            self._gathered_windows += len(gathered)
        if self._gathered_windows >= self.gather_up_to:
            self._score(out)

    def _score(self, out: Output) -> None:
        """Score every window gathered or pending, oldest first (called before a series
        may be evicted too: its slot's state must judge its own windows)."""
        pending = self.store.drain()
        # In flight before the copy below, which can fail: `abandon` then refuses them.
        self._in_flight.update(pending.tags.tolist())
        parts = [*self._gathered, pending]
        self._gathered, self._gathered_windows = [], 0
        gathered = Gathered.concat(parts, self.store.window, self.store.channels)
        if len(gathered):
            self._score_rows(out, gathered.slots, gathered.batch, gathered.tags)
        self._in_flight.clear()

    def _score_rows(
        self, out: Output, slots: np.ndarray, batch: WindowBatch, tags: np.ndarray
    ) -> None:
        """Score windows; on an unexpected error, score each half again, down to the
        single windows that fail (nothing is learned before the scores are in, so a
        retry learns nothing twice)."""
        n = len(slots)
        try:
            scales = [lane.normalizer.scale(slots, batch.mean, batch.var) for lane in self.lanes]
            # A window not finite once scaled is refused below.
            normalised = [scale.apply(batch.values) for scale in scales]
            finite = np.logical_and.reduce([np.isfinite(x).all(axis=(1, 2)) for x in normalised])
            keep = np.flatnonzero(finite)
            if len(keep) < n:
                scales = [Scale(s.mean[keep], s.std[keep]) for s in scales]
                normalised = [x[keep] for x in normalised]
            lanes = zip(self.lanes, normalised, strict=True)
            results = [lane.scorer.score(x) for lane, x in lanes] if len(keep) else []
        except Exception as exc:
            if n == 1:
                out.fail(int(tags[0]), exc, batch.series[0], float(batch.end_ts[0]), "scoring")
                self._in_flight.discard(int(tags[0]))
                return
            for part in (np.arange(n // 2), np.arange(n // 2, n)):
                self._score_rows(out, slots[part], batch.take(part), tags[part])
            return
        for row in np.flatnonzero(~finite).tolist():
            out.rejected.append((int(tags[row]), _not_finite(batch, row)))
            self._in_flight.discard(int(tags[row]))
        if len(keep) == 0:
            return
        if len(keep) < n:
            slots, batch, tags = slots[keep], batch.take(keep), tags[keep]
        self._decide(out, slots, batch, tags, scales, normalised, results)

    def _decide(
        self,
        out: Output,
        slots: np.ndarray,
        batch: WindowBatch,
        tags: np.ndarray,
        scales: list[Scale],
        normalised: list[np.ndarray],
        results: list[ScoreBatch],
    ) -> None:
        n = len(slots)
        ctx = JudgedBatch(
            batch,
            [lane.scorer for lane in self.lanes],
            scales,
            normalised,
            results,
            score=np.empty(n),
            threshold=np.empty(n),
            level=np.empty(n),
            decider=np.zeros(n, dtype=np.int64),
            state=np.zeros(n, dtype=np.int8),
            stuck=np.full(n, -1, dtype=np.int64),
        )
        thresholds = [lane.threshold for lane in self.lanes]
        ok = self.decisions.decide(out, slots, ctx, thresholds, tags, at_once=self.compiled)
        names = [lane.scorer.name for lane in self.lanes]
        rows = np.flatnonzero(ok)
        every = len(rows) == len(batch.series)  # the usual case: no per-row tuples
        out.scored.append(
            Scored(
                series=batch.series if every else tuple(batch.series[i] for i in rows.tolist()),
                ts=batch.end_ts[rows],
                values=batch.values[rows, -1, :],
                score=ctx.score[rows],
                threshold=ctx.threshold[rows],
                level=ctx.level[rows],
                state=ctx.state[rows],
                scorer=(names[0],) * len(rows)
                if len(names) == 1
                else tuple(names[k] for k in ctx.decider[rows].tolist()),
            )
        )
        self._in_flight.difference_update(tags.tolist())
        for lane in self.lanes[1:]:
            lane.shadow_windows += n
        try:
            # After the verdicts, whose scores and alerts stand whatever happens here.
            if self.collector is not None:
                self.collector.offer(batch.series, batch.values, batch.end_ts)
            self._maybe_promote()
        except Exception as exc:
            out.note(exc)

    def _maybe_promote(self) -> None:
        if len(self.lanes) < 2:
            return
        shadow = self.lanes[1]
        live = self.store.live_slots()
        warm = shadow.threshold.count(live) >= shadow.threshold.warmup
        budget = 2 * shadow.threshold.warmup * max(len(live), 1)
        if warm.all() or shadow.shadow_windows >= budget:
            self.lanes = [shadow]
            self.policy.rebase()


def _assign(lane: Lane, slot: int, series: str) -> None:
    lane.normalizer.assign(slot, series)
    scores = lane.fit_scores.get(series)
    if scores is None:
        lane.threshold.reset(slot)
    else:
        lane.threshold.seed(slot, scores)


def _not_finite(batch: WindowBatch, row: int) -> Rejection:
    return Rejection(
        RejectReason.OUT_OF_RANGE,
        "the window this point completed is not finite once scaled (a value far outside "
        "the series' usual range, or scaler statistics near zero); it was not scored",
        batch.series[row],
        float(batch.end_ts[row]),
    )
