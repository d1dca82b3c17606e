from pathlib import Path

import numpy as np
import pytest
from river.stats import RollingQuantile

from stream_ae.core.histories import ScoreHistories, largest_needed


def as_kept(scores: np.ndarray) -> list[float]:
    """The scores as a history keeps them: float32."""
    return scores.astype(np.float32).astype(np.float64).tolist()


def scores_of_every_kind(size: int, rng: np.random.Generator) -> np.ndarray:
    """Ties, zeros, infinities, a level shift, a steady fall (the oldest score is always
    the largest) and a steady rise: ranks among equal scores must not matter."""
    return np.concatenate(
        [
            rng.gamma(2.0, size=3 * size),
            np.round(rng.normal(size=size), 1),
            np.zeros(size // 2 + 1),
            [np.inf, -np.inf, 5.0, 5.0],
            10 + rng.normal(size=2 * size),
            np.linspace(20, 0, 2 * size),
            np.linspace(0, 30, size),
            rng.gamma(2.0, size=size),
        ]
    )


@pytest.mark.parametrize(
    ("size", "q", "lowest"),
    [(2000, 0.995, 0.95), (50, 0.95, 0.95), (7, 0.9, 0.5), (2, 0.5, 0.5), (30, 0.99, 0.0)],
)
def test_every_quantile_is_rivers_fed_the_same_float32_scores_bit_for_bit(
    size: int, q: float, lowest: float
) -> None:
    scores = as_kept(scores_of_every_kind(size, np.random.default_rng(size)))
    histories = ScoreHistories(size, lowest_quantile=lowest)
    histories.clear(3)
    slot = np.array([3])
    river = RollingQuantile(q=q, window_size=size)
    lowest_river = RollingQuantile(q=lowest, window_size=size)
    for score in scores:
        histories.push(slot, np.array([score]))
        river.update(score)
        lowest_river.update(score)
        for mine, theirs in (
            (histories.quantile(slot, q)[0], river.get()),
            (histories.quantile(slot, lowest)[0], lowest_river.get()),
        ):
            assert mine == theirs or (np.isnan(mine) and np.isnan(theirs))
    assert histories.values(3).tolist() == scores[-size:]


def test_a_history_keeps_only_the_largest_scores_its_quantiles_can_read() -> None:
    # 2,000 scores for the default threshold (0.995) and its shoulder (0.95): the 101
    # largest are all either quantile can read, so a row is 8 KiB of float32 scores
    # and 202 bytes of their order, where every score's order and float64 took 20 KiB.
    histories = ScoreHistories(2000, lowest_quantile=0.95)
    assert histories.keep == largest_needed(2000, 0.95) == 101
    histories.clear(0)
    row_bytes = (histories.ring.nbytes + histories.ranked.nbytes) / len(histories.ring)
    assert row_bytes <= 8_300
    with pytest.raises(ValueError, match=r"lowest_quantile <= 0\.9"):
        histories.quantile(np.array([0]), 0.9)


def test_scores_are_kept_as_float32_and_a_huge_finite_one_stays_finite() -> None:
    histories = ScoreHistories(4, lowest_quantile=0.5)
    histories.clear(0)
    histories.push(np.zeros(3, dtype=np.int64), np.array([0.1, 1e300, np.inf]))
    kept = histories.values(0)
    assert kept[0] == float(np.float32(0.1)) != 0.1
    assert kept[1] == float(np.finfo(np.float32).max)
    assert kept[2] == np.inf


def test_slots_keep_their_own_histories_and_a_copy_comes_back() -> None:
    histories = ScoreHistories(4, lowest_quantile=0.5)
    for slot in (0, 1):
        histories.clear(slot)
    histories.push(np.array([0, 1, 0, 1, 0]), np.array([1.0, 10.0, 2.0, 20.0, 3.0]))
    assert histories.values(0).tolist() == [1.0, 2.0, 3.0]
    assert histories.values(1).tolist() == [10.0, 20.0]
    saved = histories.copy(0)
    histories.push(np.array([0, 0, 0]), np.array([7.0, 8.0, 9.0]))
    assert histories.values(0).tolist() == [3.0, 7.0, 8.0, 9.0]
    assert histories.quantile(np.array([0]), 0.5)[0] == 7.5
    used = histories.rows_used
    histories.swap_in(0, saved)
    assert histories.values(0).tolist() == [1.0, 2.0, 3.0]
    assert histories.quantile(np.array([0]), 0.5)[0] == 2.0
    histories.push(np.array([0, 0]), np.array([0.5, 4.0]))  # the copy goes on rolling
    assert histories.quantile(np.array([0]), 1.0)[0] == 4.0
    assert histories.rows_used == used - 1  # the newer history went back to the pool
    histories.clear(0)
    assert np.isnan(histories.quantile(np.array([0]), 0.5)[0])
    assert histories.made(np.array([0, 1, 2, 500])).tolist() == [True, True, False, False]


def resident_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def test_growing_the_pool_takes_memory_for_the_rows_in_use_only() -> None:
    # 4,096 histories of 2,000 scores (32 MiB of rows in use) and as many free rows
    # reserved ahead, never written: growing the pool again must not copy those free
    # rows into pages of the new pool (they would cost 32 MiB more, for no series).
    histories = ScoreHistories(2000, lowest_quantile=0.95)
    for slot in range(4096):
        histories.clear(slot)
    rows = np.arange(4096)
    histories.push(np.repeat(rows, 20), np.tile(np.linspace(0, 1, 20), 4096))
    histories.reserve(histories.free_count[0] + 4096)  # free rows ahead, never written
    in_use_kib = 4096 * 2000 * 4 // 1024
    before = resident_kib()
    histories.reserve(histories.free_count[0] + 1)  # the pool grows again
    grown = resident_kib() - before
    assert grown < in_use_kib // 2, f"growing took {grown} KiB more"
    assert histories.values(4095).tolist() == as_kept(np.linspace(0, 1, 20))
