import numpy as np
import pytest

from stream_ae.core.drift import DriftMonitor, PageHinkleyRises


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


def _river_drifts(
    batches: list[tuple[list[str], np.ndarray]], forget_after: dict[int, list[str]]
) -> tuple[list[list[str]], list[dict[str, float]]]:
    """What one river PageHinkley(mode="up") per series finds, batch by batch, and each
    series' test statistic after each batch: the reference the compiled detector must
    match."""
    from river.drift import PageHinkley

    detectors: dict[str, PageHinkley] = {}
    found, statistics = [], []
    for b, (names, scores) in enumerate(batches):
        drifted: list[str] = []
        for name, score in zip(names, scores.tolist(), strict=True):
            if score != score:
                continue
            detector = detectors.setdefault(name, PageHinkley(mode="up"))
            detector.update(score)
            if detector.drift_detected:
                drifted.append(name)
                detectors[name] = PageHinkley(mode="up")
        found.append(list(dict.fromkeys(drifted)))
        statistics.append(
            {
                name: d._sum_increase - d._min_increase if d._x_mean.n else float("nan")
                for name, d in detectors.items()
            }
        )
        for name in forget_after.get(b, []):
            detectors.pop(name, None)
    return found, statistics


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


@pytest.mark.parametrize("seed", range(4))
def test_the_compiled_page_hinkley_finds_what_river_finds(seed: int) -> None:
    # Many series interleaved in batches of any size: slow rises, jumps, NaNs, constant
    # stretches, series forgotten and coming back. The same drifts, batch by batch.
    rng = np.random.default_rng(seed)
    names = [f"s{i}" for i in range(40)]
    level = {name: rng.uniform(0.01, 1.0) for name in names}
    batches = []
    for _ in range(300):
        size = int(rng.integers(1, 400 if rng.random() < 0.2 else 8))
        chosen = [names[i] for i in rng.integers(0, len(names), size)]
        for name in set(chosen):
            if rng.random() < 0.02:
                level[name] *= rng.choice([0.2, 5.0, 50.0])
            level[name] *= 1.002  # a fault that builds slowly
        scores = np.array([abs(rng.normal(level[n], 0.1 * level[n])) for n in chosen])
        scores[rng.random(size) < 0.01] = np.nan
        scores[rng.random(size) < 0.01] = 0.0
        batches.append((chosen, scores))
    forget_after = {b: list(rng.choice(names, 3)) for b in range(0, 300, 17)}
    rises = PageHinkleyRises()
    got, statistics = [], []
    for b, (chosen, scores) in enumerate(batches):
        got.append(rises.update(chosen, scores))
        statistics.append({name: rises.statistic(name) for name in set(chosen)})
        rises.forget(forget_after.get(b, []))
    want, want_statistics = _river_drifts(batches, forget_after)
    assert got == want
    for seen, expected in zip(statistics, want_statistics, strict=True):
        # Bit for bit: the same arithmetic in the same order (NaN: no score since).
        assert all(_same(v, expected.get(name, np.nan)) for name, v in seen.items())
    assert sum(map(len, want)) > 20  # drifts did happen
