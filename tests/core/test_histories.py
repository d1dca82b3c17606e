import numpy as np
import pytest
from river.stats import RollingQuantile

from stream_ae.core.histories import ScoreHistories


@pytest.mark.parametrize(("size", "q"), [(2000, 0.995), (50, 0.95), (7, 0.9), (2, 0.5)])
def test_every_quantile_is_rivers_bit_for_bit(size: int, q: float) -> None:
    rng = np.random.default_rng(size)
    # Ties, zeros, infinities and a level shift: ranks among equal scores must not matter.
    scores = np.concatenate(
        [
            rng.gamma(2.0, size=3 * size),
            np.round(rng.normal(size=size), 1),
            np.zeros(size // 2 + 1),
            [np.inf, -np.inf, 5.0, 5.0],
            10 + rng.normal(size=2 * size),
        ]
    )
    histories = ScoreHistories(size)
    histories.clear(3)
    slot = np.array([3])
    river = RollingQuantile(q=q, window_size=size)
    shoulder = RollingQuantile(q=0.5, window_size=size)
    for score in scores.tolist():
        histories.push(slot, np.array([score]))
        river.update(score)
        shoulder.update(score)
        got = histories.quantile(slot, q)[0]
        assert got == river.get() or (np.isnan(got) and np.isnan(river.get()))
        assert histories.quantile(slot, 0.5)[0] == shoulder.get() or np.isnan(shoulder.get())
    assert histories.values(3).tolist() == scores[-size:].tolist()


def test_slots_keep_their_own_histories_and_a_copy_comes_back() -> None:
    histories = ScoreHistories(4)
    for slot in (0, 1):
        histories.clear(slot)
    histories.push(np.array([0, 1, 0, 1, 0]), np.array([1.0, 10.0, 2.0, 20.0, 3.0]))
    assert histories.values(0).tolist() == [1.0, 2.0, 3.0]
    assert histories.values(1).tolist() == [10.0, 20.0]
    saved = histories.copy(0)
    histories.push(np.array([0, 0, 0]), np.array([7.0, 8.0, 9.0]))
    assert histories.values(0).tolist() == [3.0, 7.0, 8.0, 9.0]
    used = histories.rows_used
    histories.swap_in(0, saved)
    assert histories.values(0).tolist() == [1.0, 2.0, 3.0]
    assert histories.rows_used == used - 1  # the newer history went back to the pool
    histories.clear(0)
    assert np.isnan(histories.quantile(np.array([0]), 0.5)[0])
    assert histories.made(np.array([0, 1, 2, 500])).tolist() == [True, True, False, False]
