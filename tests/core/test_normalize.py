import numpy as np
import pytest

from stream_ae.core.normalize import Normalizer, fit_scaler


def test_known_series_use_model_statistics() -> None:
    norm = Normalizer(channels=2, known={"a": {"mean": [10.0, 0.0], "std": [2.0, 4.0]}})
    norm.assign(0, "a")
    x = np.array([[[12.0, 4.0], [8.0, -8.0]]], dtype=np.float32)
    out = norm.apply(np.array([0]), x)
    assert out.dtype == np.float32
    assert out[0].tolist() == [[1.0, 1.0], [-1.0, -2.0]]
    assert np.allclose(norm.invert(np.array([0]), out), x)


def test_unknown_series_learn_from_their_first_window_then_adapt() -> None:
    norm = Normalizer(channels=1)
    norm.assign(5, "new")
    w = np.array([[[1.0], [3.0]]], dtype=np.float32)
    out = norm.apply(np.array([5]), w)
    assert np.allclose(out[0, :, 0], [-1.0, 1.0], atol=0.05)
    for _ in range(500):
        norm.apply(np.array([5]), np.full((1, 2, 1), 100.0, dtype=np.float32))
    assert abs(norm.apply(np.array([5]), np.full((1, 2, 1), 100.0, np.float32))[0, 0, 0]) < 0.5


def test_known_series_stay_fixed_unless_online() -> None:
    stats = {"a": {"mean": [0.0], "std": [1.0]}}
    fixed, online = Normalizer(1, stats), Normalizer(1, stats, online=True, alpha=0.1)
    for n in (fixed, online):
        n.assign(0, "a")
        for _ in range(100):
            n.apply(np.array([0]), np.full((1, 3, 1), 50.0, np.float32))
    probe = np.full((1, 3, 1), 50.0, np.float32)
    assert fixed.apply(np.array([0]), probe)[0, 0, 0] == 50.0
    assert online.apply(np.array([0]), probe)[0, 0, 0] < 5.0


def test_flat_series_does_not_divide_by_zero() -> None:
    norm = Normalizer(channels=1)
    norm.assign(0, "flat")
    out = norm.apply(np.array([0]), np.full((1, 4, 1), 7.0, np.float32))
    assert np.all(np.isfinite(out)) and np.all(out == 0.0)


def test_fit_scaler_per_series() -> None:
    windows = np.array([[[0.0], [2.0]], [[10.0], [10.0]]], dtype=np.float32)
    table = fit_scaler(["a", "b"], windows)
    assert table["a"] == {"mean": [1.0], "std": [1.0]}
    assert table["b"]["mean"] == [10.0] and table["b"]["std"][0] > 0


def test_mismatched_statistics_refused() -> None:
    norm = Normalizer(channels=2, known={"a": {"mean": [1.0], "std": [1.0]}})
    with pytest.raises(ValueError, match="2 channel"):
        norm.assign(0, "a")
