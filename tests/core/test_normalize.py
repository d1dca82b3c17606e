import numpy as np
import pytest

from stream_ae.core.normalize import Normalizer, Scale, fit_scaler, flat_in_fit
from stream_ae.core.windows import WindowStore


def test_known_series_use_model_statistics() -> None:
    norm = Normalizer(channels=2, known={"a": {"mean": [10.0, 0.0], "std": [2.0, 4.0]}})
    norm.assign(0, "a")
    running = np.full((1, 2), 99.0)  # ignored for a known series
    scale = norm.scale(np.array([0]), running, running)
    x = np.array([[[12.0, 4.0], [8.0, -8.0]]], dtype=np.float32)
    out = scale.apply(x)
    assert out.dtype == np.float32
    assert out[0].tolist() == [[1.0, 1.0], [-1.0, -2.0]]
    assert np.allclose(scale.invert(out), x)


def test_unknown_and_online_series_use_their_running_statistics() -> None:
    known = {"a": {"mean": [0.0], "std": [1.0]}}
    for norm, series in ((Normalizer(1, known), "b"), (Normalizer(1, known, online=True), "a")):
        norm.assign(3, series)
        scale = norm.scale(np.array([3]), np.array([[50.0]]), np.array([[4.0]]))
        assert scale.apply(np.full((1, 2, 1), 52.0, np.float32))[0, :, 0].tolist() == [1.0, 1.0]


def test_store_keeps_running_statistics_point_by_point() -> None:
    store = WindowStore(window=2, channels=1, stats_alpha=0.5)
    for t, v in enumerate([1.0, 3.0, 5.0]):
        store.push("a", float(t), (v,))
    got = store.drain().batch
    # Running mean 1 -> 2 (1/2 weight), then exponential with weight 0.5: 3.5.
    assert got.mean[:, 0].tolist() == [2.0, 3.5]
    assert got.var[0, 0] == pytest.approx(1.0)


def test_statistics_do_not_depend_on_batching() -> None:
    values = np.random.default_rng(0).normal(5, 2, 300)
    whole, parts = WindowStore(8, 1), WindowStore(8, 1)
    for t, v in enumerate(values):
        whole.push("a", float(t), (float(v),))
    drained = []
    for t, v in enumerate(values):
        parts.push("a", float(t), (float(v),))
        if t % 7 == 0:
            drained.append(parts.drain().batch.mean)
    drained.append(parts.drain().batch.mean)
    assert np.array_equal(whole.drain().batch.mean, np.concatenate(drained))


def test_flat_series_does_not_divide_by_zero() -> None:
    norm = Normalizer(channels=1)
    norm.assign(0, "flat")
    scale = norm.scale(np.array([0]), np.array([[7.0]]), np.array([[0.0]]))
    out = scale.apply(np.full((1, 4, 1), 7.0, np.float32))
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


def test_a_flag_constant_in_the_fit_moves_on_a_sane_scale_when_it_flips() -> None:
    # 0/1 flags that never flipped during the fit used to get std 1e-6: a flip read as
    # a million standard deviations and swamped every other channel's error.
    windows = np.zeros((4, 8, 3), dtype=np.float32)
    windows[..., 0] = np.random.default_rng(0).normal(5.0, 2.0, (4, 8))
    windows[..., 2] = 250.0  # a set point that never moved
    table = fit_scaler(["a"] * 4, windows)
    norm = Normalizer(3, table)
    norm.assign(0, "a")
    unused = np.zeros((1, 3))
    flipped = np.array([[[5.0, 1.0, 252.5]]], dtype=np.float32)
    out = norm.scale(np.array([0]), unused, unused).apply(flipped)[0, 0]
    assert out[1] == pytest.approx(1.0)  # a flip is one unit
    assert out[2] == pytest.approx(1.0)  # a 1% move of a constant level is one unit
    assert flat_in_fit(["a"] * 4, windows) == {"a": [1, 2]}


def test_running_statistics_use_the_same_floor() -> None:
    norm = Normalizer(channels=2)
    norm.assign(0, "online")
    scale = norm.scale(np.array([0]), np.array([[0.0, 400.0]]), np.array([[0.0, 0.0]]))
    out = scale.apply(np.array([[[1.0, 404.0]]], dtype=np.float32))[0, 0]
    assert out.tolist() == pytest.approx([1.0, 1.0])


def test_old_manifests_with_the_tiny_floor_get_the_new_one() -> None:
    # Manifests written before stored std = 1e-6 + 1e-3 |mean| for a flat channel.
    norm = Normalizer(1, {"a": {"mean": [0.0], "std": [1e-6]}})
    norm.assign(0, "a")
    unused = np.zeros((1, 1))
    out = norm.scale(np.array([0]), unused, unused).apply(np.ones((1, 1, 1), np.float32))
    assert out[0, 0, 0] == pytest.approx(1.0)


def test_scaling_is_numpys_arithmetic_bit_for_bit() -> None:
    # Compiled: the same float64 subtraction and division, rounded once to float32,
    # with NaN, infinities and a zero std as numpy gives them.
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        for shape in [(0, 32, 1), (5, 32, 1), (7, 16, 3), (1, 1, 1)]:
            windows = rng.normal(scale=1e3, size=shape).astype(dtype)
            mean = rng.normal(size=(shape[0], 1, shape[2]))
            std = rng.random((shape[0], 1, shape[2]))
            if shape[0] > 1:
                std[1, 0, 0] = 0.0
                windows[0, :2, 0] = [np.nan, np.inf]
            with np.errstate(divide="ignore", invalid="ignore"):
                expected = ((windows - mean) / std).astype(np.float32)
            got = Scale(mean, std).apply(windows)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, expected)
    every_other = rng.normal(size=(6, 32, 2)).astype(np.float32)[::2]
    mean, std = rng.normal(size=(3, 1, 2)), rng.random((3, 1, 2)) + 0.1
    np.testing.assert_array_equal(
        Scale(mean, std).apply(every_other), ((every_other - mean) / std).astype(np.float32)
    )


def test_a_scale_of_another_shape_than_its_windows_is_refused_not_read_past_its_end() -> None:
    windows = np.zeros((4, 3, 2), dtype=np.float32)
    for mean in (np.zeros((1, 1, 2)), np.zeros((4, 1, 1)), np.zeros((5, 1, 2))):
        with pytest.raises(ValueError, match="one \\[1, channels\\] row per window"):
            Scale(mean, np.ones(mean.shape)).apply(windows)
    with pytest.raises(ValueError):
        Scale(np.zeros((4, 1, 2)), np.ones((1, 1, 2))).apply(windows)
