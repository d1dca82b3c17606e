"""Adaptive per-series thresholds: a rolling percentile of each series' own scores."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from stream_ae.core.histories import ScoreHistories

SHOULDER = 0.95
"""The lower quantile `RollingThreshold.exponent` fits the tail from."""


@dataclass(frozen=True, slots=True)
class Decision:
    """Threshold verdicts for a set of distinct slots."""

    threshold: np.ndarray
    """[rows] float64; NaN while the series is still warming up."""
    exceeded: np.ndarray
    """[rows] bool; always False while warming up."""


def level_of(exponent: np.ndarray) -> np.ndarray:
    """How unusual a score is, in [0, 1), from its tail exponent x (see
    `RollingThreshold.exponent`): x / (1 + x), so 0.5 at the threshold. Unlike the raw
    score it compares across series: one cut on it is one tail probability everywhere.

    >>> level_of(np.array([1.0, 3.0])).tolist()
    [0.5, 0.75]
    """
    return exponent / (1.0 + exponent)


class ThresholdState(NamedTuple):
    """`RollingThreshold`'s per-slot arrays and its histories' pool, as compiled code
    takes them (`core.verdicts`)."""

    ring: np.ndarray
    ranked: np.ndarray
    fill: np.ndarray
    cursor: np.ndarray
    row_of: np.ndarray
    free: np.ndarray
    free_count: np.ndarray
    taken: np.ndarray
    """Per slot the scores learned (`RollingThreshold.count`)."""
    held_run: np.ndarray
    high_run: np.ndarray
    anchor: np.ndarray
    before: np.ndarray
    before_threshold: np.ndarray
    before_shoulder: np.ndarray
    stayed: np.ndarray
    calm: np.ndarray
    busy: np.ndarray


class ThresholdRules(NamedTuple):
    quantile: float
    warmup: int
    protect: bool
    escape_after: int
    floor: float
    rise_limit: float
    """NaN: no limit."""
    rise_span: int
    """0: the threshold judged at itself."""
    return_after: int
    """0: no return."""
    log_spread: float
    """log((1 - SHOULDER) / (1 - quantile)): the tail's slope between the two."""
    log_shoulder: float
    """log(1 - SHOULDER)."""
    log_tail: float
    """log(1 - quantile)."""


class RollingThreshold:
    """The q-th percentile of each series' last `history` scores, for many series at once.

    - warm-up: no verdict before a series has `warmup` scores;
    - protect: scores held back by the caller (those of an open incident, or
      above the threshold) stay out of the history, so an incident does not
      raise the bar it is measured against; after `escape_after` held scores in
      a row they are let in, so a lasting level shift becomes the new normal
      instead of alerting forever. Holding back every exceedance instead would
      bias the history low, and the threshold would sink;
    - return: with `return_after`, a level let in that leaves again (a fault that
      outlasted escape_after, then ended) gives the history of before back;
    - floor: the threshold is never below `floor`, so a flat series does not
      alert on float noise;
    - a NaN score means the scorer has no opinion yet: it is neither judged
      nor learned.

    Each slot's history is a row of `ScoreHistories`: its scores as float32 and
    its largest kept in order in compiled code, read for the threshold and its
    SHOULDER quantile alike (river's `RollingQuantile` fed the same float32 scores
    gives the same values, one sorted window per quantile, and is the reference the
    tests hold it to). A sorted window per slot was 2-40x faster
    per score than every slot's history in one numpy ring with a vectorised
    `np.partition` per round (`benchmarks/threshold_vs_river.py`). Counts, warm-up,
    protect and floor stay vectorised around it; `stream_ae.core.verdicts` runs the
    same steps compiled, on the same arrays.

    >>> thr = RollingThreshold(history=10, quantile=0.9, warmup=5)
    >>> slots = np.array([0])
    >>> for s in [1.0, 2.0, 1.0, 2.0, 1.0]:
    ...     _ = thr.learn(slots, np.array([s]))
    >>> d = thr.judge(slots, np.array([9.0]))
    >>> d.threshold.tolist(), d.exceeded.tolist()
    ([2.0], [True])
    """

    def __init__(
        self,
        history: int = 1000,
        quantile: float = 0.99,
        warmup: int = 100,
        *,
        protect: bool = True,
        escape_after: int = 200,
        floor: float = 1e-6,
        rise_limit: float | None = None,
        rise_span: int | None = None,
        return_after: int | None = None,
    ) -> None:
        if history < 2:
            raise ValueError(f"history must hold at least 2 scores (got {history})")
        if not 0.0 < quantile < 1.0:
            raise ValueError(
                f"quantile must be in (0, 1) (got {quantile}); 0.99 is the 99th percentile"
            )
        if not 1 <= warmup <= history:
            raise ValueError(f"warmup must be between 1 and history={history} (got {warmup})")
        if escape_after < 1:
            raise ValueError(f"escape_after must be at least 1 (got {escape_after})")
        if floor < 0:
            raise ValueError(f"floor must be >= 0 (got {floor})")
        if rise_limit is not None and not rise_limit >= 1.0:
            raise ValueError(f"rise_limit must be at least 1 (got {rise_limit})")
        if rise_span is not None and rise_span < 1:
            raise ValueError(f"rise_span must be at least 1 score (got {rise_span})")
        if return_after is not None and return_after < 1:
            raise ValueError(f"return_after must be at least 1 score (got {return_after})")
        self.history = history
        self.quantile = quantile
        self.warmup = warmup
        self.protect = protect
        self.escape_after = escape_after
        self.floor = floor
        self.rise_limit = rise_limit
        self.rise_span = rise_span
        self.return_after = return_after
        self.histories = ScoreHistories(history, lowest_quantile=min(quantile, SHOULDER))
        """Per slot its last `history` learned scores (made when a series takes it)."""
        self._count = np.zeros(0, dtype=np.int64)
        self._held_run = np.zeros(0, dtype=np.int64)
        self._high_run = np.zeros(0, dtype=np.int64)
        self._anchor = np.zeros(0)
        """Per slot the threshold the rise limit counts from: with `rise_span`, the
        thresholds judged at, averaged over about that many scores (NaN: not yet)."""
        # With return_after, per slot that let a new level in: its history from just
        # before (a row of `histories`, -1: none), kept until the level has lasted a
        # whole history or left, with the threshold and SHOULDER quantile it had then,
        # and since then the scores above that threshold (the level lasting), the
        # scores in a row back at or under it (calm), and of those the ones above
        # that SHOULDER quantile (busy).
        self._before = np.zeros(0, dtype=np.int64)
        self._before_threshold = np.zeros(0)
        self._before_shoulder = np.zeros(0)
        self._stayed = np.zeros(0, dtype=np.int64)
        self._calm = np.zeros(0, dtype=np.int64)
        self._busy = np.zeros(0, dtype=np.int64)

    def _grow(self, slot: int) -> None:
        size = max(slot + 1, 2 * len(self._count), 64)
        extra = size - len(self._count)
        self._count = np.concatenate([self._count, np.zeros(extra, np.int64)])
        self._held_run = np.concatenate([self._held_run, np.zeros(extra, np.int64)])
        self._high_run = np.concatenate([self._high_run, np.zeros(extra, np.int64)])
        self._anchor = np.concatenate([self._anchor, np.full(extra, np.nan)])
        self._before = np.concatenate([self._before, np.full(extra, -1, np.int64)])
        self._before_threshold = np.concatenate([self._before_threshold, np.zeros(extra)])
        self._before_shoulder = np.concatenate([self._before_shoulder, np.zeros(extra)])
        self._stayed = np.concatenate([self._stayed, np.zeros(extra, np.int64)])
        self._calm = np.concatenate([self._calm, np.zeros(extra, np.int64)])
        self._busy = np.concatenate([self._busy, np.zeros(extra, np.int64)])

    def reset(self, slot: int) -> None:
        """Forget a slot's history (a new series took the slot)."""
        if slot >= len(self._count):
            self._grow(slot)
        self._count[slot] = 0
        self._held_run[slot] = 0
        self._high_run[slot] = 0
        self._anchor[slot] = np.nan
        self.histories.clear(slot)
        self._drop_before(slot)

    def _drop_before(self, slot: int) -> None:
        if self._before[slot] >= 0:
            self.histories.release(int(self._before[slot]))
            self._before[slot] = -1

    def compiled_view(self, slots: np.ndarray) -> tuple[ThresholdState, ThresholdRules]:
        """The arrays (grown and made for `slots`, with a free history row per slot to
        keep one of before) and rules compiled code updates in place."""
        self._ensure(slots)
        self.histories.reserve(len(slots))
        pool = self.histories
        state = ThresholdState(
            pool.ring,
            pool.ranked,
            pool.fill,
            pool.cursor,
            pool.row_of,
            pool.free,
            pool.free_count,
            self._count,
            self._held_run,
            self._high_run,
            self._anchor,
            self._before,
            self._before_threshold,
            self._before_shoulder,
            self._stayed,
            self._calm,
            self._busy,
        )
        rules = ThresholdRules(
            float(self.quantile),
            self.warmup,
            self.protect,
            self.escape_after,
            float(self.floor),
            math.nan if self.rise_limit is None else float(self.rise_limit),
            self.rise_span or 0,
            self.return_after or 0,
            math.log((1 - SHOULDER) / (1 - self.quantile)),
            math.log(1 - SHOULDER),
            math.log(1 - self.quantile),
        )
        return state, rules

    @property
    def slots_kept(self) -> int:
        """Slots holding a history: those a series took, not those allocated ahead."""
        return self.histories.rows_used - int((self._before >= 0).sum())

    def warm(self, slots: np.ndarray) -> None:
        """Judge these slots from now on, however few scores they hold: their history
        was seeded with a model's scores on its own training windows."""
        self._ensure(slots)
        self._count[slots] = np.maximum(self._count[slots], self.warmup)

    def seed(self, slot: int, scores: np.ndarray) -> None:
        """Start `slot` afresh from `scores` (a model's scores on the windows it was
        fitted on, in time order) and judge it at once, however few they are."""
        self.reset(slot)
        scores = np.asarray(scores, dtype=np.float64)
        known = scores[~np.isnan(scores)]  # as `learn` takes them, one call for all
        self.histories.push(np.full(len(known), slot, dtype=np.int64), known)
        self._count[slot] += len(known)
        self.warm(np.array([slot], dtype=np.int64))

    def count(self, slots: np.ndarray) -> np.ndarray:
        """How many scores each slot's history has taken in (capped by nothing)."""
        self._ensure(slots)
        return self._count[slots].copy()

    def _ensure(self, slots: np.ndarray) -> None:
        if len(slots) and int(slots.max()) >= len(self._count):
            self._grow(int(slots.max()))
        unmade = ~self.histories.made(slots)
        if unmade.any():  # slots used before any reset
            for slot in np.unique(slots[unmade]).tolist():
                self.reset(slot)

    def current(self, slots: np.ndarray) -> np.ndarray:
        """The threshold each slot would apply to its next score (NaN while warming up)."""
        self._ensure(slots)
        out = np.full(len(slots), np.nan)
        rows = np.flatnonzero(self._count[slots] >= self.warmup)
        if len(rows):
            out[rows] = np.maximum(self.histories.quantile(slots[rows], self.quantile), self.floor)
        return out

    def judge(self, slots: np.ndarray, scores: np.ndarray) -> Decision:
        """Compare one new score per slot with its threshold; changes nothing."""
        threshold = self.current(slots)
        threshold[np.isnan(scores)] = np.nan
        warm = ~np.isnan(threshold)
        exceeded = warm & (scores > np.where(warm, threshold, np.inf))
        return Decision(threshold=threshold, exceeded=exceeded)

    def learn(
        self,
        slots: np.ndarray,
        scores: np.ndarray,
        hold: np.ndarray | None = None,
        clear: np.ndarray | None = None,
        judged_at: np.ndarray | None = None,
    ) -> np.ndarray:
        """Take scores into the slots' histories, except those `hold` marks (when
        protecting). After `escape_after` held scores in a row, held scores are
        learned again unless `clear` marks them (far above the threshold: every held
        score, when not given); after `escape_after` clear ones in a row those are
        learned too, a lasting new level. So a long protected stretch (incidents
        close together) does not freeze the threshold, and the isolated anomalies in
        it still stay out.

        With `rise_limit` set and `judged_at` given (the thresholds the scores were
        judged against), a score is learned as at most rise_limit times its
        threshold (with `rise_span`, that threshold averaged over rise_span scores):
        a fault that grows slowly gives many scores a little above the threshold, and
        learned as they are, ten of them lift a 99.5th percentile of 2000 to their
        own level before any incident opens.

        Returns, per row, whether a held score was let in (protection escaped: a
        lasting new level being learned), so an open incident can follow it."""
        self._ensure(slots)
        known = ~np.isnan(scores)
        learn = known
        new_level = np.zeros(len(slots), dtype=bool)
        if self.protect and hold is not None:
            high = hold if clear is None else hold & clear
            held = np.where(hold, self._held_run[slots] + 1, 0)
            run = np.where(high, self._high_run[slots] + 1, 0)
            self._held_run[slots] = np.where(known, held, self._held_run[slots])
            self._high_run[slots] = np.where(known, run, self._high_run[slots])
            escaped = np.where(high, run, held) >= self.escape_after
            learn = known & (~hold | escaped)
            new_level = known & hold & escaped
        if self.return_after is not None:
            self._keep_the_level_before(slots, scores, known, new_level)
        s = slots[learn]
        taken = scores[learn]
        if self.rise_limit is not None and judged_at is not None:
            # A level let in on purpose (escaped) is learned as it is: its incident
            # resolves once the threshold has it, and a retrain sees it as normal.
            base = self._advance_rise_base(slots, judged_at, new_level)
            bound = np.where(new_level, np.nan, self.rise_limit * base)[learn]
            taken = np.where(np.isnan(bound), taken, np.minimum(taken, bound))
        self.histories.push(s, taken)
        self._count[s] += 1
        return new_level

    def _keep_the_level_before(
        self,
        slots: np.ndarray,
        scores: np.ndarray,
        known: np.ndarray,
        new_level: np.ndarray,
    ) -> None:
        """A level let in may be a fault that outlasted escape_after and then ends:
        learned, it holds the threshold up for a whole history after it, blind to the
        next fault. So the history from before it is kept; once `return_after` scores
        in a row are back at or under the threshold of before, at most twice the usual
        share of them above its SHOULDER quantile, the level has left and that history
        is restored. Once escape_after more scores came above the threshold of before,
        the level lasted: it is the new normal, and the copy is dropped."""
        for row in np.flatnonzero(new_level).tolist():
            slot = int(slots[row])
            threshold = float(self.current(slots[row : row + 1])[0])
            if self._before[slot] < 0 and not math.isnan(threshold):
                self._before[slot] = self.histories.copy(slot)
                self._before_threshold[slot] = threshold
                self._before_shoulder[slot] = self._shoulder(slots[row : row + 1])[0]
                self._stayed[slot], self._calm[slot], self._busy[slot] = 0, 0, 0
        enough = self.return_after
        assert enough is not None  # only called with return_after set
        # Only the few slots testing a level: no Python per row for the others.
        for row in np.flatnonzero(known & (self._before[slots] >= 0)).tolist():
            slot = int(slots[row])
            score = scores[row]
            if score > self._before_threshold[slot]:
                self._stayed[slot] += 1
                self._calm[slot], self._busy[slot] = 0, 0
            else:
                self._calm[slot] += 1
                self._busy[slot] += int(score > self._before_shoulder[slot])
            if self._calm[slot] >= enough and self._busy[slot] <= 2 * (1 - SHOULDER) * enough:
                self.histories.swap_in(slot, int(self._before[slot]))
                self._before[slot] = -1
                self._anchor[slot] = np.nan
            elif self._calm[slot] >= enough:
                self._calm[slot], self._busy[slot] = 0, 0
            elif self._stayed[slot] >= self.escape_after:
                self._drop_before(slot)

    def _advance_rise_base(
        self, slots: np.ndarray, judged_at: np.ndarray, new_level: np.ndarray
    ) -> np.ndarray:
        """What the rise limit multiplies: the threshold judged at, or with `rise_span`
        a slow average of it (moved on by these scores' thresholds). Per score, a
        fault that grows over hundreds of scores still lifts the threshold 1.1x per
        few exceedances, compounding, and never looks abnormal; the average lets the
        threshold rise by about rise_limit - 1 per rise_span scores however many of
        them exceed it. An escaped level restarts the average from the threshold that
        learns it."""
        if self.rise_span is None:
            return judged_at
        anchor = self._anchor[slots]
        anchor = np.where(np.isnan(anchor), judged_at, anchor)
        moved = anchor + (judged_at - anchor) / self.rise_span
        self._anchor[slots] = np.where(
            new_level, np.nan, np.where(np.isnan(judged_at), self._anchor[slots], moved)
        )
        return anchor

    def exponent(self, slots: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Each score's tail exponent x = log(p) / log(1 - quantile), for p the
        score's tail probability under the slot's history: 1 at the threshold, 2
        where the tail is (1 - quantile) squared, 0 for a score of 0. Above the
        SHOULDER quantile p follows an exponential tail through it and the
        threshold, so x grows linearly with the score and scores far beyond anything
        seen still rank; below it p falls linearly to 1 at 0. NaN while warming up
        (or for a NaN score)."""
        threshold = self.current(slots)
        out = np.full(len(slots), np.nan)
        rows = np.flatnonzero(~np.isnan(threshold) & ~np.isnan(scores))
        if len(rows) == 0:
            return out
        s, top = scores[rows], threshold[rows]
        shoulder = np.clip(self._shoulder(slots[rows]), self.floor * 1e-3, top)
        slope = np.maximum(
            (top - shoulder) / math.log((1 - SHOULDER) / (1 - self.quantile)), 1e-9 * top
        )
        log_tail = np.where(
            s > shoulder,
            math.log(1 - SHOULDER) - (s - shoulder) / slope,
            np.log(np.clip(1.0 - SHOULDER * np.maximum(s, 0.0) / shoulder, 1 - SHOULDER, 1.0)),
        )
        out[rows] = np.maximum(log_tail / math.log(1 - self.quantile), 0.0)
        return out

    def _shoulder(self, slots: np.ndarray) -> np.ndarray:
        return self.histories.quantile(slots, SHOULDER)
