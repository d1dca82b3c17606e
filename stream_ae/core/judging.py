"""One verdict per series: the model's score and the stuck-channel judge weighed as tail
exponents, decided by the alert policy, then learned by the thresholds.

`Judge.turn` is the reference, one verdict per series per call: the decision-layer
benchmark (`benchmarks/decision_layer.py`) and the detector's reference path
(`Detector.compiled = False`) judge through it. The detector judges a whole
micro-batch through `Judge.all_rows`, the same steps compiled (`core.verdicts`), held
identical to `turn` by the tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from stream_ae.core.alerting import JUDGED_ON, AlertPolicy, Transitions, judged_terms
from stream_ae.core.stillness import StuckChannels
from stream_ae.core.threshold import RollingThreshold
from stream_ae.core.verdicts import Verdicts, judge_all


@dataclass(frozen=True, slots=True)
class Turn:
    """What one turn decided, per row (one row per series)."""

    lane: np.ndarray
    """[rows] which of the thresholds judged the row: the second (a model in shadow)
    once it is warm for the series, else the first."""
    score: np.ndarray
    """[rows] the judging lane's score."""
    threshold: np.ndarray
    """[rows] the threshold the score was judged against (NaN while warming up)."""
    exponent: np.ndarray
    """[rows] the tail exponent the policy judged: the rarer of the model's and the
    stuck-channel judge's (NaN while neither can judge)."""
    stuck: np.ndarray
    """[rows] the channel whose run of repeats was rarer than the model's score (-1:
    none)."""
    moves: Transitions


class Judge:
    """Turns scores into alert decisions, one score per series per call, in time order.

    - each row is judged by the newest lane whose threshold is warm for its series;
    - with `stuck`, a window the model finds usual may still end in a run of repeats
      its channel never showed: the rarer of the two exponents is judged;
    - every lane's threshold then learns its own score, holding back what the policy
      protects, and a lasting new level the judging lane lets in on purpose rebases
      the open incident onto it.

    The policy and the judge of repeats belong to the caller too (it resets them when a
    series takes a slot); the Judge only sequences them.
    """

    def __init__(
        self, policy: AlertPolicy, judged_on: str = "tail", stuck: StuckChannels | None = None
    ) -> None:
        if judged_on not in JUDGED_ON:
            raise ValueError(f"judged_on must be one of {JUDGED_ON} (got {judged_on!r})")
        if stuck is not None and judged_on != "tail":
            raise ValueError(
                "stuck channels are judged as tail exponents: judged_on must be 'tail' "
                f"(got {judged_on!r}), or leave threshold.stuck_channels off"
            )
        self.policy = policy
        self.judged_on = judged_on
        self.stuck = stuck

    def turn(
        self,
        slots: np.ndarray,
        thresholds: Sequence[RollingThreshold],
        scores: Sequence[np.ndarray],
        windows: np.ndarray,
        ts: np.ndarray,
    ) -> Turn:
        """Judge `scores[k]` (lane k's score per row of distinct `slots`) for the raw
        `windows` [rows, window, channels] ending at event times `ts`."""
        bars = [t.current(slots) for t in thresholds]
        n = len(slots)
        lane = np.zeros(n, dtype=np.int64)
        if len(thresholds) > 1:
            lane[~np.isnan(bars[1])] = 1
        score, bar, exponent = np.empty(n), np.empty(n), np.empty(n)
        for k, threshold in enumerate(thresholds):
            mine = lane == k
            score[mine] = scores[k][mine]
            bar[mine] = bars[k][mine]
            exponent[mine] = threshold.exponent(slots[mine], scores[k][mine])
        bar[np.isnan(score)] = np.nan
        stuck = np.full(n, -1, dtype=np.int64)
        if self.stuck is not None:
            still, channel = self.stuck.observe(slots, windows)
            rarer = still > exponent  # False where either is NaN: not judged yet
            exponent = np.where(rarer, still, exponent)
            stuck = np.where(rarer, channel, -1)
        value, judged_bar = judged_terms(self.judged_on, score, bar, exponent)
        moves = self.policy.update(slots, value, judged_bar, ts)
        for k, threshold in enumerate(thresholds):
            new_level = threshold.learn(
                slots, scores[k], hold=moves.protect, clear=moves.clear, judged_at=bars[k]
            )
            # The open incident follows a level its judging lane takes in on purpose,
            # and resolves once that level is learned.
            self.policy.rebase(slots[new_level & (lane == k)])
        return Turn(lane, score, bar, exponent, stuck, moves)

    def all_rows(
        self,
        slots: np.ndarray,
        thresholds: Sequence[RollingThreshold],
        scores: Sequence[np.ndarray],
        windows: np.ndarray,
        ts: np.ndarray,
    ) -> Verdicts:
        """Judge every row, in order (slots may repeat), with one or two lanes: what
        `turn` gives turn by turn, in one compiled call."""
        on_tail = self.judged_on == "tail"
        return judge_all(self.policy, thresholds, self.stuck, on_tail, slots, scores, windows, ts)


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
