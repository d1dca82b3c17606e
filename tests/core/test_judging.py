import numpy as np
import pytest

from stream_ae.core.alerting import OPENED, QUIET, AlertPolicy
from stream_ae.core.judging import Judge
from stream_ae.core.stillness import StuckChannels
from stream_ae.core.threshold import RollingThreshold

ONE = np.array([0], dtype=np.int64)


def policy() -> AlertPolicy:
    return AlertPolicy(open_k=1, open_n=1, resolve_after=3, cooldown=5, open_ratio=1.5)


def warm_threshold(seed: int = 0) -> RollingThreshold:
    threshold = RollingThreshold(history=500, quantile=0.99, warmup=100)
    threshold.seed(0, np.random.default_rng(seed).exponential(1.0, 500))
    return threshold


def noisy_windows(n: int, window: int = 8, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).normal(size=(n + window, 1)).astype(np.float32)
    return np.stack([values[i : i + window] for i in range(n)])


def turn(judge: Judge, thresholds: list[RollingThreshold], scores: list[float], window, t=0.0):
    return judge.turn(ONE, thresholds, [np.array([s]) for s in scores], window[None], np.array([t]))


def test_an_extreme_score_opens_and_stays_out_of_the_history() -> None:
    threshold, judge = warm_threshold(), Judge(policy())
    before = threshold.current(ONE)[0]
    got = turn(judge, [threshold], [50.0], noisy_windows(1)[0])
    assert got.moves.state[0] == OPENED
    assert got.exponent[0] > 1.5 and got.threshold[0] == before
    assert threshold.current(ONE)[0] == before  # held back: the incident cannot lift it
    assert got.stuck[0] == -1 and got.lane[0] == 0


def test_a_usual_score_is_quiet_and_learned() -> None:
    threshold, judge = warm_threshold(), Judge(policy())
    count = threshold.count(ONE)[0]
    got = turn(judge, [threshold], [0.5], noisy_windows(1)[0])
    assert got.moves.state[0] == QUIET and got.exponent[0] < 1.0
    assert threshold.count(ONE)[0] == count + 1


def test_the_second_lane_judges_once_warm_and_both_learn() -> None:
    serving, shadow = warm_threshold(), RollingThreshold(history=500, warmup=100)
    judge = Judge(policy())
    got = turn(judge, [serving, shadow], [0.5, 99.0], noisy_windows(1)[0])
    assert got.lane[0] == 0 and got.score[0] == 0.5  # the shadow is not warm yet
    assert shadow.count(ONE)[0] == 1
    shadow.seed(0, np.random.default_rng(1).exponential(10.0, 500))
    bar = shadow.current(ONE)[0]
    got = turn(judge, [serving, shadow], [0.5, 99.0], noisy_windows(1)[0])
    assert got.lane[0] == 1 and got.score[0] == 99.0 and got.threshold[0] == bar
    assert got.moves.state[0] == OPENED  # 99 is rare for the shadow's scores too


def test_a_stuck_channel_is_judged_when_rarer_than_the_model() -> None:
    stuck = StuckChannels(1, 0.99, 8, warmup=50, horizon=5000)
    threshold = warm_threshold()
    for window in noisy_windows(400):
        stuck.learn(ONE, window[None])
    judge = Judge(policy(), stuck=stuck)
    flat = np.full((8, 1), 0.25, dtype=np.float32)
    got = turn(judge, [threshold], [0.5], flat)
    assert got.stuck[0] == 0 and got.exponent[0] > 1.5
    assert got.moves.state[0] == OPENED


def test_stuck_channels_need_the_tail_and_a_known_judgement() -> None:
    stuck = StuckChannels(1, 0.99, 8, warmup=50, horizon=5000)
    with pytest.raises(ValueError, match="judged_on must be 'tail'"):
        Judge(policy(), "score", stuck)
    with pytest.raises(ValueError, match="judged_on must be one of"):
        Judge(policy(), "rank")
