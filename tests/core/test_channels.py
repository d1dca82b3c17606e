"""Per-channel error scales and the combine: one broken channel of many is not averaged away."""

from __future__ import annotations

import numpy as np
import pytest

from stream_ae.core.channels import COMBINES, FLOOR_MIN, FLOOR_SHARE, ErrorScales, combine

SENSOR, TOGGLING, FLAGS = 1, 4, 24


def quiet_plant_errors(windows: int, seed: int) -> np.ndarray:
    """[windows, 25] per-window mean squared errors: one sensor with steady errors, four
    flags that toggle at unpredictable times (rare large errors) and twenty flags that
    never move (the model reproduces them almost exactly)."""
    rng = np.random.default_rng(seed)
    sensor = 0.1 + 0.05 * np.abs(rng.standard_normal((windows, SENSOR)))
    toggles = np.where(
        rng.random((windows, TOGGLING)) < 0.05,
        rng.uniform(1.0, 3.0, (windows, TOGGLING)),
        0.01,
    )
    still = rng.uniform(0.0, 1e-5, (windows, FLAGS - TOGGLING))
    return np.concatenate([sensor, toggles, still], axis=1)


def test_one_broken_channel_of_25_is_caught_by_the_score_and_diluted_by_the_mean() -> None:
    scales = ErrorScales.fit(quiet_plant_errors(2000, seed=0))
    normal = quiet_plant_errors(500, seed=1)
    broken = normal[:1].copy()
    broken[0, 0] = 0.5  # the sensor's error over twice its worst on the fit windows
    windows = np.concatenate([normal, broken])

    new = combine(scales.apply(windows))
    before = windows.mean(axis=1)  # the mean over channels, scales of 1
    assert int(np.argmax(new)) == len(windows) - 1
    assert before[-1] < np.quantile(before[:-1], 0.9)  # diluted: not even in the top tenth


def test_channels_constant_during_the_fit_get_a_floored_scale_and_are_named() -> None:
    errors = quiet_plant_errors(2000, seed=0)
    scales = ErrorScales.fit(errors)
    assert set(scales.floored) == set(range(SENSOR + TOGGLING, 25))
    assert scales.floor >= FLOOR_MIN
    assert scales.floor == pytest.approx(FLOOR_SHARE * scales.scale.max())
    # A still flag that moves a little (error 0.05) weighs like a sensor at worst, not 1e4 x.
    moved = errors[:1].copy()
    moved[0, -1] = 0.05
    assert combine(scales.apply(moved))[0] < 10 * combine(scales.apply(errors)).max()
    names = [f"c{i}" for i in range(25)]
    entry = scales.to_manifest(names)
    assert entry["floored_channels"] == [f"c{i}" for i in range(SENSOR + TOGGLING, 25)]
    assert "floor_rule" in entry and entry["combine"] == "max"


def test_manifest_entry_round_trips_and_an_empty_one_gives_unit_scales() -> None:
    names = ["a", "b", "c"]
    scales = ErrorScales.fit(np.array([[0.2, 0.0, 0.4], [0.4, 0.0, 0.2]]), quantile=0.5)
    back = ErrorScales.from_manifest(scales.to_manifest(names), names)
    assert back.scale.tolist() == scales.scale.tolist()
    assert (back.floored, back.floor, back.combine) == (scales.floored, scales.floor, "max")
    unit = ErrorScales.from_manifest({}, names)
    assert unit.scale.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="3 positive numbers"):
        ErrorScales.from_manifest({"scale": [1.0, 0.0, 1.0]}, names)
    with pytest.raises(ValueError, match="not one of"):
        ErrorScales.from_manifest({"scale": [1.0, 1.0, 1.0], "combine": "median"}, names)


@pytest.mark.parametrize("how", COMBINES)
def test_one_channel_ranks_windows_as_its_mean_squared_error(how: str) -> None:
    errors = np.random.default_rng(3).gamma(2.0, 0.1, (300, 1))
    scales = ErrorScales.fit(errors)
    score = combine(scales.apply(errors), how)  # type: ignore[arg-type]
    np.testing.assert_allclose(score, errors[:, 0] / scales.scale[0], rtol=1e-12)
    assert (
        np.argsort(score, kind="stable").tolist()
        == np.argsort(errors[:, 0], kind="stable").tolist()
    )


def test_a_broad_fault_raises_every_combine() -> None:
    errors = np.full((2, 6), 0.1)
    errors[1] *= 1.5  # six channels a little each
    for how in COMBINES:
        score = combine(errors, how)
        assert score[1] > score[0]
