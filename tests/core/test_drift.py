import numpy as np
import pytest

from stream_ae.core.drift import DriftMonitor


def noise(n: int, level: float = 0.05, seed: int = 0) -> np.ndarray:
    return np.abs(np.random.default_rng(seed).normal(level, 0.02, n))


@pytest.mark.parametrize("kind", ["page_hinkley", "adwin"])
def test_a_lasting_rise_drifts_and_steady_scores_do_not(kind: str) -> None:
    monitor = DriftMonitor(kind)  # type: ignore[arg-type]
    assert monitor.update(["a"] * 5000, noise(5000)) == []
    shifted = noise(300, level=3.0, seed=1)
    found = [i for i in range(300) if monitor.update(["a"], shifted[i : i + 1])]
    assert found and found[0] < 100


def test_drift_names_only_the_series_that_drifted() -> None:
    monitor = DriftMonitor("page_hinkley")
    names = ["calm", "shifted"] * 500
    scores = np.concatenate([noise(500), noise(500, seed=2)])
    assert monitor.update(names, scores) == []
    later = np.ravel(np.column_stack([noise(200, seed=3), noise(200, level=4.0, seed=4)]))
    assert monitor.update(["calm", "shifted"] * 200, later) == ["shifted"]


def test_nan_scores_are_skipped_and_reset_forgets() -> None:
    monitor = DriftMonitor("page_hinkley")
    assert monitor.update(["a"] * 3, np.array([np.nan, np.nan, 0.1])) == []
    monitor.update(["a"] * 500, noise(500))
    monitor.reset()  # a new model: its scores start a new stream
    assert monitor.update(["a"] * 20, np.full(20, 9.0)) == []  # too few to judge yet
    with pytest.raises(ValueError, match="'page_hinkley' or 'adwin'"):
        DriftMonitor("ddm")  # type: ignore[arg-type]
