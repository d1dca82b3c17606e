"""Contributors rank channels by what the score combined: the first names the driver."""

from __future__ import annotations

import numpy as np

from stream_ae.core.explain import channel_ranking, contributors
from stream_ae.core.normalize import Scale


def explain(
    errors: np.ndarray, channel_errors: np.ndarray | None, top: int = 3
) -> list[tuple[float, str]]:
    steps, channels = errors.shape
    unit = Scale(np.zeros((1, 1, channels)), np.ones((1, 1, channels)))
    out = contributors(
        unit,
        normalised=np.zeros((steps, channels), np.float32),
        errors=errors,
        expected=np.zeros((steps, channels), np.float32),
        actual=np.zeros((steps, channels)),
        ts=np.arange(steps, dtype=np.float64),
        channel_names=[f"c{c}" for c in range(channels)],
        top=top,
        channel_errors=channel_errors,
    )
    return [(c.ts, c.channel) for c in out]


def test_the_channel_that_drove_the_score_comes_first_not_the_largest_cell() -> None:
    # c0 has one large cell (mean 10/8); c1 is wrong at every step (mean 2): c1 drove a
    # score that is the mean over the window, so c1 must come first.
    errors = np.zeros((8, 3))
    errors[5, 0] = 10.0
    errors[:, 1] = 2.0
    errors[2, 1] = 2.5
    errors[7, 2] = 0.1
    by_channel = errors.mean(axis=0)
    assert explain(errors, by_channel) == [(2.0, "c1"), (5.0, "c0"), (7.0, "c2")]
    assert channel_ranking(errors, by_channel).tolist() == [1, 0, 2]


def test_one_channel_lists_its_worst_steps_as_before() -> None:
    errors = np.array([[0.1], [3.0], [0.2], [2.0], [0.0]])
    assert explain(errors, errors.mean(axis=0)) == [(1.0, "c0"), (3.0, "c0"), (2.0, "c0")]


def test_fewer_channels_than_top_take_turns_by_rank() -> None:
    errors = np.array([[1.0, 0.0], [0.0, 5.0], [2.0, 4.0]])
    got = explain(errors, np.array([1.0, 3.0]), top=4)
    assert got == [(1.0, "c1"), (2.0, "c0"), (2.0, "c1"), (0.0, "c0")]


def test_without_channel_errors_the_window_mean_ranks_channels() -> None:
    errors = np.zeros((4, 2))
    errors[0, 0] = 3.0  # mean 0.75
    errors[:, 1] = 1.0  # mean 1.0
    assert explain(errors, None, top=1) == [(0.0, "c1")]
