"""An alert written from a judged batch: its ids, severity and explanation.

The decision layer says which rows opened or resolved an incident; the alert says
what an on-call engineer reads: which channel drove it, the cells of the window that
contributed most, how far past the threshold it peaked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from stream_ae.core.alerting import OPENED, alert_ids, severity_of
from stream_ae.core.explain import channel_ranking, contributors
from stream_ae.core.normalize import Scale
from stream_ae.core.records import Alert, AlertState, Contributor, ScoreBatch, WindowBatch
from stream_ae.core.scoring import Scorer


@dataclass(frozen=True, slots=True)
class JudgedBatch:
    """What the detector knows about one drained batch, filled as it is judged."""

    batch: WindowBatch
    scorers: Sequence[Scorer]
    """Per lane, its scorer (the serving one first)."""
    scales: list[Scale]
    normalised: list[np.ndarray]
    results: list[ScoreBatch]
    score: np.ndarray
    threshold: np.ndarray
    level: np.ndarray
    decider: np.ndarray
    """[rows] the lane whose verdict stands."""
    state: np.ndarray
    stuck: np.ndarray
    """[rows] the channel whose run of repeats was rarer than the model's score (-1: none)."""


@dataclass(frozen=True, slots=True)
class AlertWriter:
    """Writes the alert of a row that opened or resolved an incident."""

    channel_names: tuple[str, ...]
    top_contributors: int = 3
    severity_ratios: tuple[float, float] = (1.5, 3.0)
    """(major, critical): the peak ratios that make an incident major, critical."""

    def alert(
        self, row: int, code: int, opened_ts: float, peak_ratio: float, ctx: JudgedBatch
    ) -> Alert:
        k = int(ctx.decider[row])
        scorer, result, batch = ctx.scorers[k], ctx.results[k], ctx.batch
        state = AlertState.OPEN if code == OPENED else AlertState.RESOLVED
        alert_id, incident_id = alert_ids(batch.series[row], opened_ts, state)
        explained: tuple[Contributor, ...] = ()
        channel = None
        if state is AlertState.OPEN:
            channel, explained = self._explain(row, k, result, ctx)
        return Alert(
            alert_id=alert_id,
            incident_id=incident_id,
            series=batch.series[row],
            ts=float(batch.end_ts[row]),
            score=float(ctx.score[row]),
            threshold=float(ctx.threshold[row]),
            severity=severity_of(peak_ratio, 1.0, *self.severity_ratios),
            state=state,
            model_version=scorer.version,
            scorer=scorer.name,
            opened_ts=opened_ts,
            contributors=explained,
            channel=channel,
        )

    def _explain(
        self, row: int, k: int, result: ScoreBatch, ctx: JudgedBatch
    ) -> tuple[str, tuple[Contributor, ...]]:
        """The channel that drove the alert and the cells that contributed most: a stuck
        channel first, whatever the model's errors (a stuck sensor reconstructs well)."""
        batch = ctx.batch
        errors = None if result.errors is None else result.errors[row]
        by_channel = None if result.channel_errors is None else result.channel_errors[row]
        normalised = ctx.normalised[k][row]
        ranked = channel_ranking(
            normalised.astype(np.float64) ** 2 if errors is None else errors, by_channel
        )
        stuck = int(ctx.stuck[row])
        channel = self.channel_names[int(ranked[0]) if stuck < 0 else stuck]
        cells = partial(
            contributors,
            ctx.scales[k].row(row),
            normalised=normalised,
            errors=errors,
            expected=None if result.expected is None else result.expected[row],
            actual=batch.values[row],
            ts=batch.ts[row],
            channel_names=self.channel_names,
            channel_errors=by_channel,
        )
        if stuck < 0:
            return channel, cells(top=self.top_contributors)
        every = cells(top=max(self.top_contributors, len(self.channel_names)))
        first = next(c for c in every if c.channel == channel)
        explained = (first, *(c for c in every if c is not first))
        return channel, explained[: self.top_contributors]
