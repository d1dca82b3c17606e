"""Drift detection per score: river's PageHinkley per series against
`stream_ae.core.drift.PageHinkleyRises` (the same test, every series' state in arrays,
a batch in one compiled call). The service runs it on its event loop for every score,
so its cost is the event loop's.

Side by side in one process, alternated, on batches of 5,000 scores of 1,000 series;
median microseconds per score of five rounds each.

    python benchmarks/drift_vs_river.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from river.drift import PageHinkley

from stream_ae.core.drift import PageHinkleyRises

SERIES, BATCH, ROUNDS, BATCHES = 1000, 5000, 5, 10


def river_round(detectors: dict[str, PageHinkley], names: list[str], scores: np.ndarray) -> None:
    for _ in range(BATCHES):
        for name, score in zip(names, scores.tolist(), strict=True):
            detector = detectors.get(name)
            if detector is None:
                detector = detectors[name] = PageHinkley(mode="up")
            detector.update(score)
            if detector.drift_detected:
                detectors[name] = PageHinkley(mode="up")


def compiled_round(rises: PageHinkleyRises, names: list[str], scores: np.ndarray) -> None:
    for _ in range(BATCHES):
        rises.update(names, scores)


def main() -> None:
    names = [f"s{i % SERIES}" for i in range(BATCH)]
    scores = np.abs(np.random.default_rng(0).normal(0.05, 0.02, BATCH))
    detectors: dict[str, PageHinkley] = {}
    rises = PageHinkleyRises()
    rises.update(names, scores)  # compiled (or loaded from numba's cache) before timing
    timings: dict[str, list[float]] = {"river": [], "compiled": []}
    for _ in range(ROUNDS):
        for label, run in (
            ("river", lambda: river_round(detectors, names, scores)),
            ("compiled", lambda: compiled_round(rises, names, scores)),
        ):
            started = time.perf_counter()
            run()
            timings[label].append((time.perf_counter() - started) / (BATCH * BATCHES) * 1e6)
    river, compiled = (statistics.median(timings[k]) for k in ("river", "compiled"))
    print(
        f"µs per score: river PageHinkley {river:.3f}, compiled {compiled:.3f} "
        f"({river / compiled:.1f}x)"
    )


if __name__ == "__main__":
    main()
