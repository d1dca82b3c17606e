from collections.abc import Sequence

import numpy as np

from stream_ae.core.alerting import AlertPolicy
from stream_ae.core.detector import Detector, Lane
from stream_ae.core.normalize import Normalizer
from stream_ae.core.records import Point
from stream_ae.core.threshold import RollingThreshold
from stream_ae.core.training import TrainingCollector
from stream_ae.core.windows import WindowStore
from stream_ae.runtime.first_fit import FirstFit

from ..core.doubles import LastStepScorer

W = 8


def detector() -> Detector:
    lane = Lane(LastStepScorer(W, 1, "cold"), Normalizer(1), RollingThreshold(100, 0.99, 10))
    return Detector(
        WindowStore(W, 1), lane, AlertPolicy(), channel_names=["v"], collector=TrainingCollector(20)
    )


def points(start: int, n: int) -> list[Point]:
    return [Point("s", float(t), (float(np.sin(t)),)) for t in range(start, start + n)]


def test_background_fit_does_not_block_and_installs_when_done() -> None:
    import threading

    release = threading.Event()
    seen: list[int] = []

    def fit(series: Sequence[str], windows: np.ndarray) -> Lane:
        seen.append(len(windows))
        release.wait(timeout=30)
        return Lane(LastStepScorer(W, 1, "fitted"), Normalizer(1), RollingThreshold(100, 0.99, 10))

    det = detector()
    first = FirstFit(det, fit, blocking=False)
    det.process(points(0, 40))
    first.poll()
    assert first.fitting and det.in_shadow is None
    det.process(points(40, 10))  # scoring goes on meanwhile
    first.poll()
    release.set()
    first.wait()
    first.close()
    assert seen == [20]
    assert det.in_shadow is not None and det.in_shadow.version == "fitted"


def test_failed_fit_keeps_the_cold_scorer() -> None:
    def fit(series: Sequence[str], windows: np.ndarray) -> Lane:
        raise RuntimeError("out of memory")

    det = detector()
    first = FirstFit(det, fit, blocking=True)
    det.process(points(0, 40))
    first.poll()
    assert isinstance(first.error, RuntimeError)
    assert det.serving.version == "cold" and det.in_shadow is None
    out = det.process(points(40, 10))
    assert out.points_scored == 10


def test_a_model_seeded_with_its_scores_on_its_training_windows_judges_at_once() -> None:
    fitted_on: list[int] = []

    def fit(series: Sequence[str], windows: np.ndarray) -> Lane:
        fitted_on.append(len(windows))
        return Lane(LastStepScorer(W, 1, "fitted"), Normalizer(1), RollingThreshold(100, 0.99, 10))

    serving: dict[bool, str] = {}
    for seed in (True, False):
        det = detector()
        first = FirstFit(det, fit, blocking=True, seed=seed)
        det.process(points(0, 40))
        first.poll()
        assert det.in_shadow is not None and det.in_shadow.version == "fitted"
        out = det.process(points(40, 1))
        assert out.points_scored == 1 and not np.isnan(out.scored[0].threshold[0])
        serving[seed] = det.serving.version
    # Seeded with 20 training scores (warm-up 10), the new model decides the very next
    # window and takes over; unseeded it waits in shadow for 10 scores of its own.
    assert fitted_on == [20, 20]
    assert serving == {True: "fitted", False: "cold"}
