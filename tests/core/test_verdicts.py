"""The compiled decision layer (`Judge.all_rows`) decides exactly as `Judge.turn` does
turn by turn, whose thresholds the tests hold to river's `RollingQuantile`
(`test_histories.py`)."""

from typing import Any

import numpy as np
import pytest

from stream_ae.core.alerting import OPENED, RESOLVED, AlertPolicy
from stream_ae.core.judging import Judge, in_turns
from stream_ae.core.stillness import StuckChannels
from stream_ae.core.threshold import RollingThreshold

WINDOW = 6

CONFIGS: list[dict[str, Any]] = [
    {},  # the defaults in miniature: protect, rise limit with a span, return, stuck
    {"rise_span": None},
    {"rise_limit": None, "return_after": None},
    {"protect": False, "stuck": False},
    {"judged_on": "score", "stuck": False, "floor": 0.0},
    {"channels": 3, "hop": 2, "hold_after": 0, "open_k": 1, "open_n": 1},
    {"shadow": True},  # a second model's lane, warming up midway, then judging
]


def build(config: dict[str, Any]) -> tuple[Judge, list[RollingThreshold]]:
    channels = config.get("channels", 1)
    thresholds = [
        RollingThreshold(
            history=60,
            quantile=0.98,
            warmup=warmup,
            protect=config.get("protect", True),
            escape_after=25,
            floor=config.get("floor", 1e-6),
            rise_limit=config.get("rise_limit", 1.1),
            rise_span=config.get("rise_span", 40),
            return_after=config.get("return_after", 15),
        )
        for warmup in ((20, 55) if config.get("shadow") else (20,))
    ]
    policy = AlertPolicy(
        open_k=config.get("open_k", 2),
        open_n=config.get("open_n", 3),
        resolve_after=4,
        cooldown=6,
        open_ratio=1.2,
        hold_after=config.get("hold_after", 5),
    )
    stuck = None
    if config.get("stuck", True):
        stuck = StuckChannels(
            channels, 0.98, WINDOW, hop=config.get("hop", 1), warmup=15, horizon=80, escape_after=9
        )
    return Judge(policy, config.get("judged_on", "tail"), stuck), thresholds


def lanes(scores: np.ndarray, count: int) -> list[np.ndarray]:
    """Each lane's scores: a second model scores the same windows on its own scale."""
    return [scores, 0.6 * scores + 0.4][:count]


def stream(rng: np.random.Generator, n: int, slots: int, channels: int) -> tuple[np.ndarray, ...]:
    """Scores with spikes, level shifts that come and go or last, slow rises and NaNs;
    windows with stuck runs; a few series interleaved, one of them busy."""
    slot = np.where(rng.random(n) < 0.4, 0, rng.integers(0, slots, n)).astype(np.int64)
    score = rng.gamma(2.0, 1.0, n)
    t = np.arange(n, dtype=np.float64)
    for s in range(slots):
        mine = np.flatnonzero(slot == s)
        k = len(mine)
        shift = rng.integers(k // 4, max(k // 2, k // 4 + 1))
        score[mine[shift : shift + rng.integers(20, 90)]] += rng.choice([4.0, 12.0])
        score[mine[k // 2 :]] *= np.linspace(1.0, rng.uniform(1.0, 3.0), k - k // 2)
    score[rng.random(n) < 0.02] *= 15  # spikes
    score[rng.random(n) < 0.01] = np.nan  # no opinion yet
    values = np.round(rng.normal(size=(n + WINDOW, channels)), 1).astype(np.float32)
    for start in rng.integers(0, n, 8):
        values[start : start + rng.integers(3, 30)] = values[start]  # stuck runs
    windows = np.stack([values[i : i + WINDOW] for i in range(n)])
    return slot, score, windows, t


def turn_by_turn(judge: Judge, thresholds: list[RollingThreshold], batch: tuple) -> dict:
    slots, scores, windows, ts = batch
    n = len(slots)
    fields = ("lane", "score", "threshold", "exponent", "stuck", "state", "opened_ts")
    out: dict[str, np.ndarray] = {name: np.empty(n) for name in (*fields, "peak_ratio")}
    every = lanes(scores, len(thresholds))
    for rows in in_turns(slots):
        turn = judge.turn(
            slots[rows], thresholds, [s[rows] for s in every], windows[rows], ts[rows]
        )
        for name in fields[:-2]:
            out[name][rows] = getattr(turn, name)
        out["state"][rows], out["opened_ts"][rows] = turn.moves.state, turn.moves.opened_ts
        out["peak_ratio"][rows] = turn.moves.peak_ratio
    return out


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(c) or "defaults")
def test_all_rows_at_once_decide_as_turn_by_turn(config: dict[str, Any], seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference, reference_thresholds = build(config)
    compiled, compiled_thresholds = build(config)
    count = len(compiled_thresholds)
    states: list[int] = []
    judged_by: list[int] = []
    for size in (1, 7, 300, 1, 900, 64, 1500):  # batches of every shape, state carried over
        slots, scores, windows, ts = stream(rng, size, slots=5, channels=config.get("channels", 1))
        expected = turn_by_turn(reference, reference_thresholds, (slots, scores, windows, ts))
        got = compiled.all_rows(slots, compiled_thresholds, lanes(scores, count), windows, ts)
        for field in ("lane", "score", "threshold", "stuck", "state", "opened_ts", "peak_ratio"):
            np.testing.assert_array_equal(getattr(got, field), expected[field], err_msg=field)
        # numpy's vectorised log may differ from the compiled one in the last bit
        np.testing.assert_allclose(got.exponent, expected["exponent"], rtol=1e-12, atol=0)
        states += got.state.tolist()
        judged_by += got.lane.tolist()
    assert states.count(OPENED) >= 10 and states.count(RESOLVED) >= 10  # the policy was tried
    assert set(judged_by) == set(range(count))  # with a shadow, both lanes judged
    slots = np.arange(5)
    for compiled_threshold, reference_threshold in zip(
        compiled_thresholds, reference_thresholds, strict=True
    ):
        for q in (0.98, 0.95):
            np.testing.assert_array_equal(
                compiled_threshold.histories.quantile(slots, q),
                reference_threshold.histories.quantile(slots, q),
            )
        np.testing.assert_array_equal(
            compiled_threshold.count(slots), reference_threshold.count(slots)
        )


def test_a_level_that_leaves_gives_the_history_of_before_back_compiled() -> None:
    # A fault outlasts escape_after (25: let in as a new level), then ends before
    # another 25 above the old threshold: the compiled loop keeps a copy of the history
    # of before, and puts it back after return_after (15) calm scores, long before the
    # fault's scores would leave the history of 60 by themselves.
    judge, [threshold] = build({"stuck": False, "rise_limit": None})
    rng = np.random.default_rng(1)
    parts = [rng.uniform(1, 2, 200), 30 + rng.uniform(1, 2, 40), rng.uniform(1, 1.5, 20)]
    slot = np.zeros(1, dtype=np.int64)
    levels, rows_used = [], []
    for scores in parts:
        n = len(scores)
        windows = rng.normal(size=(n, WINDOW, 1)).astype(np.float32)
        judge.all_rows(np.zeros(n, np.int64), [threshold], [scores], windows, np.arange(n) * 1.0)
        levels.append(threshold.current(slot)[0])
        rows_used.append(threshold.histories.rows_used)
    calm, faulty, back = levels
    assert faulty > 10 * calm  # the fault's level was let in, the history of before kept
    assert back == calm  # ... and that history came back
    assert rows_used == [1, 2, 1]  # the copy's row went back to the pool
