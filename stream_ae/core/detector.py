"""The detector: windows -> scorer -> threshold -> alert policy, pure and synchronous."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from stream_ae.core.alerting import (
    OPENED,
    RESOLVED,
    AlertPolicy,
    alert_ids,
    severity_of,
)
from stream_ae.core.explain import contributors
from stream_ae.core.normalize import Normalizer, Scale
from stream_ae.core.records import (
    Alert,
    AlertState,
    Contributor,
    Point,
    Rejection,
    ScoreBatch,
    WindowBatch,
)
from stream_ae.core.scoring import Scorer
from stream_ae.core.threshold import RollingThreshold
from stream_ae.core.training import TrainingCollector
from stream_ae.core.windows import WindowStore

HOLD_RATIO = 1.5
"""An incident's scores this far above the threshold (severity major and up) are
kept out of the threshold's history."""


@dataclass(slots=True)
class Lane:
    """A scorer with the normalisation and thresholds that belong to its scores."""

    scorer: Scorer
    normalizer: Normalizer
    threshold: RollingThreshold
    shadow_windows: int = 0
    """Windows scored while waiting in shadow beside the serving lane."""


@dataclass(frozen=True, slots=True)
class Scored:
    """One row per scored window, columnar."""

    series: tuple[str, ...]
    ts: np.ndarray
    """[rows] event time of the window's last point."""
    values: np.ndarray
    """[rows, channels] the window's last point, raw."""
    score: np.ndarray
    threshold: np.ndarray
    """NaN while the series warms up."""
    state: np.ndarray
    """[rows] int8 alert state code (see `stream_ae.core.alerting`)."""
    scorer: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.series)


@dataclass(slots=True)
class Output:
    """Everything one `Detector.process` call produced."""

    scored: list[Scored] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    rejected: list[tuple[int, Rejection]] = field(default_factory=list)
    """(index of the point in the input, why it was refused)."""

    @property
    def points_scored(self) -> int:
        return sum(len(s) for s in self.scored)


@dataclass(frozen=True, slots=True)
class _Batch:
    """What `_score` knows about one drained batch, handed to `_alert`."""

    batch: WindowBatch
    scales: list[Scale]
    normalised: list[np.ndarray]
    results: list[ScoreBatch]
    score: np.ndarray
    threshold: np.ndarray
    decider: np.ndarray


def occurrence(slots: np.ndarray) -> np.ndarray:
    """For each row, how many earlier rows share its slot (0 for a slot's first window).

    >>> occurrence(np.array([4, 2, 4, 4, 2])).tolist()
    [0, 0, 1, 2, 1]
    """
    n = len(slots)
    order = np.argsort(slots, kind="stable")
    ranked = slots[order]
    starts = np.ones(n, dtype=bool)
    starts[1:] = ranked[1:] != ranked[:-1]
    index = np.arange(n)
    first = np.maximum.accumulate(np.where(starts, index, 0))
    out = np.empty(n, dtype=np.int64)
    out[order] = index - first
    return out


def in_turns(slots: np.ndarray) -> Iterator[np.ndarray]:
    """Row indices in turns of at most one row per slot, each slot's rows in order: the
    threshold and alert policy take one verdict per series per call.

    >>> [rows.tolist() for rows in in_turns(np.array([4, 2, 4, 4, 2]))]
    [[0, 1], [2, 4], [3]]
    """
    occ = occurrence(slots)
    for turn in range(int(occ.max()) + 1 if len(slots) else 0):
        yield np.flatnonzero(occ == turn)


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
    ) -> None:
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
        self.top_contributors = top_contributors
        self.collector = collector
        store.on_assign = self._assign

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
            lane.normalizer.assign(slot, series)
            lane.threshold.reset(slot)
        self.policy.reset(slot)

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
                lane.normalizer.assign(slot, series)
                lane.threshold.reset(slot)
        if seed is not None:
            self._seed(lane, *seed)
        self.lanes[1:] = [lane]

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

    def process(self, points: Sequence[Point]) -> Output:
        """Score `points` (any mix of series, each series in time order)."""
        out = Output()
        store = self.store
        for i, point in enumerate(points):
            rejection = store.push(point.series, point.ts, point.values)
            if rejection is not None:
                out.rejected.append((i, rejection))
            elif store.needs_drain:
                self._score(out)
        self._score(out)
        return out

    def _score(self, out: Output) -> None:
        gathered = self.store.drain()
        slots, batch = gathered.slots, gathered.batch
        n = len(slots)
        if n == 0:
            return
        scales = [lane.normalizer.scale(slots, batch.mean, batch.var) for lane in self.lanes]
        normalised = [scale.apply(batch.values) for scale in scales]
        results = [lane.scorer.score(x) for lane, x in zip(self.lanes, normalised, strict=True)]
        score = np.empty(n)
        threshold = np.empty(n)
        exceeded = np.zeros(n, dtype=bool)
        decider = np.zeros(n, dtype=np.int64)
        state = np.zeros(n, dtype=np.int8)
        for rows in in_turns(slots):
            s = slots[rows]
            decisions = [
                lane.threshold.judge(s, res.scores[rows])
                for lane, res in zip(self.lanes, results, strict=True)
            ]
            pick = np.zeros(len(rows), dtype=np.int64)
            if len(decisions) > 1:
                pick[~np.isnan(decisions[1].threshold)] = 1
            for k, decision in enumerate(decisions):
                mine = rows[pick == k]
                threshold[mine] = decision.threshold[pick == k]
                exceeded[mine] = decision.exceeded[pick == k]
                score[mine] = results[k].scores[mine]
            decider[rows] = pick
            ratio = np.where(exceeded[rows], score[rows] / threshold[rows], 0.0)
            moves = self.policy.update(s, exceeded[rows], batch.end_ts[rows], ratio)
            # Keep clear exceedances out of the threshold's history, also before
            # k of n has opened an incident: with a short history two spike
            # windows otherwise lift the threshold above the third. Not the
            # marginal ones: with a 1-of-1 policy every exceedance opens an
            # incident, and holding them all sinks the threshold (11% of
            # independent scores exceeded a 99.5th percentile).
            hold = exceeded[rows] & (ratio >= HOLD_RATIO)
            for lane, res in zip(self.lanes, results, strict=True):
                lane.threshold.learn(s, res.scores[rows], hold=hold)
            state[rows] = moves.state
            for j in np.flatnonzero(moves.state >= OPENED):
                code = int(moves.state[j])
                if code in (OPENED, RESOLVED):
                    row = int(rows[j])
                    ctx = _Batch(batch, scales, normalised, results, score, threshold, decider)
                    opened, peak = float(moves.opened_ts[j]), float(moves.peak_ratio[j])
                    out.alerts.append(self._alert(row, code, opened, peak, ctx))
        if self.collector is not None:
            self.collector.offer(batch.series, batch.values)
        names = [lane.scorer.name for lane in self.lanes]
        out.scored.append(
            Scored(
                series=batch.series,
                ts=batch.end_ts,
                values=batch.values[:, -1, :],
                score=score,
                threshold=threshold,
                state=state,
                scorer=tuple(names[k] for k in decider.tolist()),
            )
        )
        for lane in self.lanes[1:]:
            lane.shadow_windows += n
        self._maybe_promote()

    def _alert(
        self, row: int, code: int, opened_ts: float, peak_ratio: float, ctx: _Batch
    ) -> Alert:
        k = int(ctx.decider[row])
        lane, result, batch = self.lanes[k], ctx.results[k], ctx.batch
        state = AlertState.OPEN if code == OPENED else AlertState.RESOLVED
        alert_id, incident_id = alert_ids(batch.series[row], opened_ts, state)
        explained: tuple[Contributor, ...] = ()
        if state is AlertState.OPEN and self.top_contributors > 0:
            explained = contributors(
                ctx.scales[k].row(row),
                normalised=ctx.normalised[k][row],
                errors=None if result.errors is None else result.errors[row],
                expected=None if result.expected is None else result.expected[row],
                actual=batch.values[row],
                ts=batch.ts[row],
                channel_names=self.channel_names,
                top=self.top_contributors,
            )
        return Alert(
            alert_id=alert_id,
            incident_id=incident_id,
            series=batch.series[row],
            ts=float(batch.end_ts[row]),
            score=float(ctx.score[row]),
            threshold=float(ctx.threshold[row]),
            severity=severity_of(peak_ratio, 1.0),
            state=state,
            model_version=lane.scorer.version,
            scorer=lane.scorer.name,
            opened_ts=opened_ts,
            contributors=explained,
        )

    def _maybe_promote(self) -> None:
        if len(self.lanes) < 2:
            return
        shadow = self.lanes[1]
        live = self.store.live_slots()
        warm = shadow.threshold.count(live) >= shadow.threshold.warmup
        budget = 2 * shadow.threshold.warmup * max(len(live), 1)
        if warm.all() or shadow.shadow_windows >= budget:
            self.lanes = [shadow]
