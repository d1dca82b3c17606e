"""The decision layer compiled: a whole micro-batch of scores judged in one call.

`Judge.turn` sequences the threshold, the judge of repeats and the alert policy one
verdict per series per call, with a few dozen numpy calls per turn: for a single series
every point is a turn of one row, and those calls cost far more than the model (about
1 ms a point). Here the same steps run row by row in arrival order in numba, on the
very arrays those classes keep (each hands them over with `compiled_view`), with the
same arithmetic in the same order. A series' rows keep their order and no series
touches another's state, so the verdicts are the turn-by-turn ones
(`tests/core/test_verdicts.py` holds the two side by side). Only the judge of repeats'
logarithms and sums may differ from numpy's in the last bit (numpy has its own
vectorised `log` and sums in pairs); they feed no state, only its exponent.

The loops allocate nothing (`judge_all` hands them their scratch), so they are compiled
without reference counting (`core.compiled`).

A model in shadow is judged beside the serving one as `Judge.turn` does: each row by
the newest lane whose threshold is warm for its series, and every lane's threshold
learns its own score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from stream_ae.core import histories as h
from stream_ae.core.alerting import ACTIVE, OPENED, QUIET, RESOLVED, AlertPolicy, PolicyRules
from stream_ae.core.alerting import PolicyState as Policy
from stream_ae.core.compiled import jit_no_alloc
from stream_ae.core.stillness import StuckChannels, StuckRules
from stream_ae.core.stillness import StuckState as Stuck
from stream_ae.core.threshold import SHOULDER, RollingThreshold, ThresholdRules
from stream_ae.core.threshold import ThresholdState as Threshold


class Verdicts(NamedTuple):
    """Per row of one call: what `judging.Turn` holds."""

    lane: np.ndarray
    """[rows] which lane judged the row (1: the model in shadow, warm for the series)."""
    score: np.ndarray
    """[rows] the judging lane's score."""
    threshold: np.ndarray
    """[rows] the threshold judged against (NaN while warming up, or for a NaN score)."""
    exponent: np.ndarray
    """[rows] the rarer of the model's and the judge of repeats' tail exponents."""
    stuck: np.ndarray
    """[rows] the channel whose run of repeats was the rarer (-1: none)."""
    state: np.ndarray
    """[rows] int8 QUIET, OPENED, ACTIVE or RESOLVED."""
    opened_ts: np.ndarray
    """[rows] when the row's incident opened (NaN when QUIET)."""
    peak_ratio: np.ndarray


def judge_all(
    policy: AlertPolicy,
    thresholds: Sequence[RollingThreshold],
    stuck: StuckChannels | None,
    on_tail: bool,
    slots: np.ndarray,
    scores: Sequence[np.ndarray],
    windows: np.ndarray,
    ts: np.ndarray,
) -> Verdicts:
    """Judge every row in order (slots may repeat) as `Judge.turn` would turn by turn,
    and learn from it: `scores[k]` is lane k's score per row (one or two lanes), judged
    on tail exponents (`on_tail`) or on raw scores."""
    if not 1 <= len(thresholds) <= 2 or len(scores) != len(thresholds):
        raise ValueError(f"one or two lanes, a score array each (got {len(thresholds)})")
    n = len(slots)
    out = Verdicts(
        np.zeros(n, dtype=np.int64),
        np.empty(n),
        np.empty(n),
        np.empty(n),
        np.full(n, -1, dtype=np.int64),
        np.zeros(n, dtype=np.int8),
        np.empty(n),
        np.empty(n),
    )
    if n == 0:
        return out
    distinct = np.unique(slots)
    views = [threshold.compiled_view(distinct) for threshold in thresholds]
    first, second = views[0], views[-1]  # one lane: the second is never read
    policy_state, policy_rules = policy.compiled_view(distinct)
    if stuck is None:
        stuck_state, stuck_rules = _NO_STUCK
    else:
        stuck_state, stuck_rules = stuck.compiled_view(distinct)
    _judge_rows(
        np.ascontiguousarray(slots, dtype=np.int64),
        np.ascontiguousarray(scores[0], dtype=np.float64),
        np.ascontiguousarray(scores[-1], dtype=np.float64),
        np.ascontiguousarray(windows),
        np.ascontiguousarray(ts, dtype=np.float64),
        len(thresholds) == 2,
        first[0],
        first[1],
        second[0],
        second[1],
        policy_state,
        policy_rules,
        stuck is not None,
        stuck_state,
        stuck_rules,
        on_tail,
        out,
        np.zeros((max(windows.shape[1] - 1, 0), windows.shape[2]), dtype=np.int64),
        np.zeros(first[0].ring.shape[1], dtype=np.bool_),
        np.zeros(second[0].ring.shape[1], dtype=np.bool_),
    )
    return out


_NO_STUCK = (
    Stuck(
        np.zeros((1, 1, 1)),
        np.zeros((1, 1), np.int64),
        np.zeros((1, 1), np.int64),
        np.zeros(1, np.int64),
    ),
    StuckRules(0, 1, 1, 1, 1.0, -1.0),
)


@jit_no_alloc(error_model="numpy")
def _judge_rows(
    slots: np.ndarray,
    scores: np.ndarray,
    shadow_scores: np.ndarray,
    windows: np.ndarray,
    ts: np.ndarray,
    shadow: bool,
    th: Threshold,
    tr: ThresholdRules,
    shadow_th: Threshold,
    shadow_tr: ThresholdRules,
    po: Policy,
    pr: PolicyRules,
    stuck_on: bool,
    st: Stuck,
    sr: StuckRules,
    on_tail: bool,
    out: Verdicts,
    within: np.ndarray,
    listed: np.ndarray,
    shadow_listed: np.ndarray,
) -> None:
    """`judge_all`'s loop; `within` and `listed` are scratch (no allocation in here)."""
    for i in range(len(slots)):
        slot = slots[i]
        judged_at = _current(th, tr, slot)
        shadow_at = _current(shadow_th, shadow_tr, slot) if shadow else np.nan
        lane = 0 if math.isnan(shadow_at) else 1  # the newest lane warm for the series
        if lane == 0:
            score, bar = scores[i], judged_at
            exponent = _exponent(th, tr, slot, score, bar)
        else:
            score, bar = shadow_scores[i], shadow_at
            exponent = _exponent(shadow_th, shadow_tr, slot, score, bar)
        if math.isnan(score):
            bar = np.nan
        stuck = -1
        if stuck_on:
            _runs_within(windows, i, within)
            still, channel = _stuck_judge(st, sr, slot, within)
            _stuck_learn(st, sr, slot, within)
            if still > exponent:
                exponent, stuck = still, channel
        if on_tail:
            value = exponent
            limit = np.nan if math.isnan(bar) or math.isnan(exponent) else 1.0
        else:
            value, limit = score, bar
        protect, clear = _policy_update(po, pr, slot, value, limit, ts[i], out, i)
        # Every lane learns its own score; the incident follows a level its judging
        # lane lets in.
        if _learn(th, tr, slot, scores[i], protect, clear, judged_at, listed) and lane == 0:
            po.reference[slot] = np.nan
        if shadow:
            let_in = _learn(
                shadow_th,
                shadow_tr,
                slot,
                shadow_scores[i],
                protect,
                clear,
                shadow_at,
                shadow_listed,
            )
            if let_in and lane == 1:
                po.reference[slot] = np.nan
        out.lane[i] = lane
        out.score[i] = score
        out.threshold[i] = bar
        out.exponent[i] = exponent
        out.stuck[i] = stuck


# -- the threshold (RollingThreshold.current / exponent / learn) ----------------------


@jit_no_alloc(error_model="numpy")
def _current(th: Threshold, tr: ThresholdRules, slot: int) -> float:
    if th.taken[slot] < tr.warmup:
        return np.nan
    value = h.quantile(th.ring, th.ranked, th.fill, th.row_of[slot], tr.quantile)
    return _maximum(value, tr.floor)


@jit_no_alloc(error_model="numpy")
def _exponent(th: Threshold, tr: ThresholdRules, slot: int, score: float, top: float) -> float:
    if math.isnan(top) or math.isnan(score):
        return np.nan
    shoulder = h.quantile(th.ring, th.ranked, th.fill, th.row_of[slot], SHOULDER)
    shoulder = _minimum(_maximum(shoulder, tr.floor * 1e-3), top)
    slope = _maximum((top - shoulder) / tr.log_spread, 1e-9 * top)
    if score > shoulder:
        log_tail = tr.log_shoulder - (score - shoulder) / slope
    else:
        near = 1.0 - SHOULDER * _maximum(score, 0.0) / shoulder
        log_tail = np.log(_minimum(_maximum(near, 1 - SHOULDER), 1.0))
    return _maximum(log_tail / tr.log_tail, 0.0)


@jit_no_alloc(error_model="numpy")
def _learn(
    th: Threshold,
    tr: ThresholdRules,
    slot: int,
    score: float,
    hold: bool,
    clear: bool,
    judged_at: float,
    listed: np.ndarray,
) -> bool:
    """`RollingThreshold.learn` for one score; True when it let a held score in."""
    known = not math.isnan(score)
    learn, new_level = known, False
    if tr.protect:
        high = hold and clear
        held = th.held_run[slot] + 1 if hold else 0
        run = th.high_run[slot] + 1 if high else 0
        if known:
            th.held_run[slot], th.high_run[slot] = held, run
        escaped = (run if high else held) >= tr.escape_after
        learn = known and (not hold or escaped)
        new_level = known and hold and escaped
    if tr.return_after > 0:
        _keep_the_level_before(th, tr, slot, score, known, new_level)
    taken = score
    if not math.isnan(tr.rise_limit):
        base = _advance_rise_base(th, tr, slot, judged_at, new_level)
        bound = np.nan if new_level else tr.rise_limit * base
        if not math.isnan(bound):
            taken = _minimum(taken, bound)
    if learn:
        h.push(th.ring, th.ranked, th.fill, th.cursor, th.row_of[slot], taken, listed)
        th.taken[slot] += 1
    return new_level


@jit_no_alloc(error_model="numpy")
def _keep_the_level_before(
    th: Threshold, tr: ThresholdRules, slot: int, score: float, known: bool, new_level: bool
) -> None:
    if new_level and th.before[slot] < 0:
        threshold = _current(th, tr, slot)
        if not math.isnan(threshold):
            kept = h.take(th.free, th.free_count)
            h.copy_row(th.ring, th.ranked, th.fill, th.cursor, th.row_of[slot], kept)
            th.before[slot] = kept
            th.before_threshold[slot] = threshold
            th.before_shoulder[slot] = h.quantile(
                th.ring, th.ranked, th.fill, th.row_of[slot], SHOULDER
            )
            th.stayed[slot], th.calm[slot], th.busy[slot] = 0, 0, 0
    if not known or th.before[slot] < 0:
        return
    if score > th.before_threshold[slot]:
        th.stayed[slot] += 1
        th.calm[slot], th.busy[slot] = 0, 0
    else:
        th.calm[slot] += 1
        th.busy[slot] += 1 if score > th.before_shoulder[slot] else 0
    enough = tr.return_after
    if th.calm[slot] >= enough and th.busy[slot] <= 2 * (1 - SHOULDER) * enough:
        h.release(th.free, th.free_count, th.row_of[slot])
        th.row_of[slot] = th.before[slot]
        th.before[slot] = -1
        th.anchor[slot] = np.nan
    elif th.calm[slot] >= enough:
        th.calm[slot], th.busy[slot] = 0, 0
    elif th.stayed[slot] >= tr.escape_after:
        h.release(th.free, th.free_count, th.before[slot])
        th.before[slot] = -1


@jit_no_alloc(error_model="numpy")
def _advance_rise_base(
    th: Threshold, tr: ThresholdRules, slot: int, judged_at: float, new_level: bool
) -> float:
    if tr.rise_span == 0:
        return judged_at
    anchor = th.anchor[slot]
    if math.isnan(anchor):
        anchor = judged_at
    moved = anchor + (judged_at - anchor) / tr.rise_span
    if new_level:
        th.anchor[slot] = np.nan
    elif not math.isnan(judged_at):
        th.anchor[slot] = moved
    return anchor


# -- the alert policy (AlertPolicy.update) ---------------------------------------------


@jit_no_alloc(error_model="numpy")
def _policy_update(
    po: Policy,
    pr: PolicyRules,
    slot: int,
    score: float,
    threshold: float,
    ts: float,
    out: Verdicts,
    i: int,
) -> tuple[bool, bool]:
    """One row of `AlertPolicy.update`; returns (protect, clear)."""
    judged = not math.isnan(threshold) and not math.isnan(score)
    ratio = score / threshold if judged else 0.0
    exceeded = judged and score > threshold
    high = exceeded and ratio >= pr.open_ratio
    bits = ((po.bits[slot] << np.uint64(1)) | np.uint64(1 if high else 0)) & pr.mask
    po.bits[slot] = bits
    was_open = po.open[slot]
    cooling = po.cooling[slot]
    opening = not was_open and cooling == 0 and high and _ones(bits) >= pr.open_k
    if not was_open and cooling > 0:
        po.cooling[slot] = cooling - 1
    reference = po.reference[slot]
    if opening or (was_open and math.isnan(reference)):
        reference = threshold
    po.reference[slot] = reference
    calm = not judged or score <= pr.resolve_ratio * reference
    quiet = po.quiet[slot] + 1 if was_open and calm else 0
    resolving = was_open and quiet >= pr.resolve_after
    po.quiet[slot] = 0 if resolving else quiet
    peak = ratio if opening else po.peak[slot]
    if was_open:
        peak = _maximum(peak, ratio if exceeded else 0.0)
    po.peak[slot] = peak
    if opening:
        po.opened_ts[slot] = ts
    state = QUIET
    if was_open:
        state = ACTIVE
    if opening:
        state = OPENED
    if resolving:
        state = RESOLVED
    after = po.after[slot]
    clear = exceeded and ratio >= pr.hold_ratio
    protect = was_open or after > 0 or clear
    po.after[slot] = pr.hold_after if resolving else max(after - 1, 0)
    po.open[slot] = (was_open and not resolving) or opening
    out.state[i] = state
    out.opened_ts[i] = np.nan if state == QUIET else po.opened_ts[slot]
    out.peak_ratio[i] = peak
    if resolving:
        po.cooling[slot] = pr.cooldown
        po.bits[slot] = np.uint64(0)
        po.reference[slot] = np.nan
    return protect, clear


@jit_no_alloc()
def _ones(bits: np.uint64) -> int:
    count = 0
    while bits:
        bits &= bits - np.uint64(1)
        count += 1
    return count


# -- the judge of repeats (StuckChannels._judge / _learn) ------------------------------

_LOG_HALF = math.log(0.5)


@jit_no_alloc()
def _runs_within(windows: np.ndarray, i: int, within: np.ndarray) -> None:
    """`stillness._runs_within` for window i, into `within` [steps - 1, channels]."""
    steps, channels = windows.shape[1], windows.shape[2]
    for c in range(channels):
        changed = 0
        for j in range(1, steps):
            if windows[i, j, c] != windows[i, j - 1, c]:
                changed = j
            within[j - 1, c] = j - changed


@jit_no_alloc(error_model="numpy")
def _stuck_judge(st: Stuck, sr: StuckRules, slot: int, within: np.ndarray) -> tuple[float, int]:
    if sr.longest < 1:
        return np.nan, -1
    counts = st.at_least  # indexed [slot, ...]: no view per row
    best, channel = -np.inf, -1
    for c in range(counts.shape[2]):
        run = within[sr.longest - 1, c]
        log_steps = np.log(counts[slot, 0, c] + 1.0)
        log_p = np.logaddexp(np.log(counts[slot, run, c]), run * _LOG_HALF) - log_steps
        log_first = np.logaddexp(np.log(counts[slot, 1, c]), _LOG_HALF) - log_steps
        on, before = 0.0, 0.0
        for level in range(2, sr.longest + 1):
            on += counts[slot, level, c]
        for level in range(1, sr.longest):
            before += counts[slot, level, c]
        goes_on = (on + 0.5) / (before + 1.0)
        log_p = _maximum(log_p, log_first + max(run - 1, 0) * np.log(goes_on))
        x = _minimum(log_p, 0.0) / sr.per_step if run > 0 else 0.0
        # np.argmax's choice: the first largest, or the first NaN
        if channel < 0 or (not math.isnan(best) and (x > best or math.isnan(x))):
            best, channel = x, c
    if st.seen[slot] < sr.warmup:
        return np.nan, -1
    return best, channel


@jit_no_alloc()
def _stuck_learn(st: Stuck, sr: StuckRules, slot: int, within: np.ndarray) -> None:
    longest = sr.longest
    if longest < 1:
        return
    counts, run, counted = st.at_least, st.run, st.counted  # indexed [slot, ...]
    start = 1 if st.seen[slot] == 0 else max(1, longest + 1 - sr.hop)
    for position in range(start, longest + 1):
        for c in range(counts.shape[2]):
            repeats = within[position - 1, c]
            if repeats == 0:
                now = 0
            elif repeats == position:  # reaching back to the window's start: maybe longer
                now = max(run[slot, c] + 1, repeats)
            else:
                now = repeats
            ended = now == 0 and run[slot, c] > 0
            if ended:
                upto = run[slot, c]
            elif now >= sr.escape_after:
                upto = now
            else:
                upto = counted[slot, c]
            counts[slot, 0, c] = counts[slot, 0, c] * sr.keep + 1.0
            for level in range(1, longest + 1):
                counts[slot, level, c] *= sr.keep
            if upto != counted[slot, c]:
                for level in range(1, longest + 1):
                    counts[slot, level, c] += max(upto - level + 1, 0) - max(
                        counted[slot, c] - level + 1, 0
                    )
            counted[slot, c] = 0 if ended else upto
            run[slot, c] = now
    st.seen[slot] += longest + 1 - start


# -- numpy's NaN-propagating minimum and maximum on scalars ---------------------------


@jit_no_alloc()
def _maximum(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return np.nan
    return a if a >= b else b


@jit_no_alloc()
def _minimum(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return np.nan
    return a if a <= b else b
