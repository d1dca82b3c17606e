"""A scored batch's verdicts and alerts: each series' rows judged in the order they came,
and rows whose judging failed refused rather than judged twice."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stream_ae.core.alert_writing import AlertWriter, JudgedBatch
from stream_ae.core.alerting import OPENED, RESOLVED
from stream_ae.core.judging import Judge, in_turns, occurrence
from stream_ae.core.output import Output
from stream_ae.core.records import Alert
from stream_ae.core.threshold import RollingThreshold, level_of


class Decider:
    """Judges the rows of a scored batch (`Judge`) and writes the alerts of those that
    opened or resolved an incident (`AlertWriter`), in the order their turns give.

    `decide` fills the batch's verdict columns and returns which rows stand. Rows whose
    judging failed are refused (`Output.fail`, by their tags), never retried, since their
    thresholds and policy may already have learned from them: turn by turn, a failure
    (of the judge or of an alert) refuses the whole turn and drops the alerts written
    for it; at once, a failure of the judge refuses every row, and an alert that cannot
    be written refuses its row alone."""

    def __init__(self, judge: Judge, writer: AlertWriter) -> None:
        self.judge = judge
        self.writer = writer

    def decide(
        self,
        out: Output,
        slots: np.ndarray,
        ctx: JudgedBatch,
        thresholds: Sequence[RollingThreshold],
        tags: np.ndarray,
        *,
        at_once: bool,
    ) -> np.ndarray:
        """Judge every row of `ctx` (row i of series slot `slots[i]`, window tag
        `tags[i]`) with one threshold per lane; append the alerts to `out`. `at_once`:
        one compiled call (`core.verdicts`), else turn by turn, the reference it must
        match. Returns the rows not refused, as a mask."""
        ok = np.ones(len(slots), dtype=bool)
        if at_once:
            self._all_at_once(out, slots, ctx, thresholds, ok, tags)
            return ok
        for rows in in_turns(slots):
            try:
                out.alerts.extend(self._turn(slots, rows, ctx, thresholds))
            except Exception as exc:
                # This turn's thresholds and policy may be half-updated: a retry would
                # learn twice, so its windows are refused instead.
                _refuse(out, rows, exc, ctx, ok, tags)
        return ok

    def _all_at_once(
        self,
        out: Output,
        slots: np.ndarray,
        ctx: JudgedBatch,
        thresholds: Sequence[RollingThreshold],
        ok: np.ndarray,
        tags: np.ndarray,
    ) -> None:
        """Every row in one compiled call: the verdicts and alerts `_turn` gives turn by
        turn, in the same order."""
        try:
            verdicts = self.judge.all_rows(
                slots,
                thresholds,
                [result.scores for result in ctx.results],
                ctx.batch.values,
                ctx.batch.end_ts,
            )
        except Exception as exc:
            # Thresholds and policy may be half-updated: refused, as a turn would be.
            _refuse(out, np.arange(len(slots)), exc, ctx, ok, tags)
            return
        ctx.score[:], ctx.threshold[:] = verdicts.score, verdicts.threshold
        ctx.level[:], ctx.decider[:] = level_of(verdicts.exponent), verdicts.lane
        ctx.stuck[:], ctx.state[:] = verdicts.stuck, verdicts.state
        moved = np.flatnonzero((verdicts.state == OPENED) | (verdicts.state == RESOLVED))
        if len(moved) > 1:  # turn by turn; ranking every row costs a sort of the batch
            moved = moved[np.lexsort((moved, occurrence(slots)[moved]))]
        for row in moved.tolist():
            code, opened = int(verdicts.state[row]), float(verdicts.opened_ts[row])
            try:
                out.alerts.append(
                    self.writer.alert(row, code, opened, float(verdicts.peak_ratio[row]), ctx)
                )
            except Exception as exc:
                _refuse(out, np.array([row]), exc, ctx, ok, tags)

    def _turn(
        self,
        slots: np.ndarray,
        rows: np.ndarray,
        ctx: JudgedBatch,
        thresholds: Sequence[RollingThreshold],
    ) -> list[Alert]:
        """Judge one verdict per series (rows of distinct slots); returns the alerts."""
        turn = self.judge.turn(
            slots[rows],
            thresholds,
            [result.scores[rows] for result in ctx.results],
            ctx.batch.values[rows],
            ctx.batch.end_ts[rows],
        )
        ctx.score[rows], ctx.threshold[rows] = turn.score, turn.threshold
        ctx.level[rows], ctx.decider[rows] = level_of(turn.exponent), turn.lane
        ctx.stuck[rows], ctx.state[rows] = turn.stuck, turn.moves.state
        moves, alerts = turn.moves, []
        for j in np.flatnonzero((moves.state == OPENED) | (moves.state == RESOLVED)).tolist():
            opened, peak = float(moves.opened_ts[j]), float(moves.peak_ratio[j])
            alerts.append(self.writer.alert(int(rows[j]), int(moves.state[j]), opened, peak, ctx))
        return alerts


def _refuse(
    out: Output,
    rows: np.ndarray,
    exc: Exception,
    ctx: JudgedBatch,
    ok: np.ndarray,
    tags: np.ndarray,
) -> None:
    ok[rows] = False
    batch = ctx.batch
    for row in rows.tolist():
        end = float(batch.end_ts[row])
        out.fail(int(tags[row]), exc, batch.series[row], end, "judging its score")
