"""Drift in each series' scores: a sign that the model no longer fits its data.

One river drift detector per series watches the scores of the serving model. A
lasting rise (a level shift the model never saw, a sensor that changed) trips it;
the service then asks for a retrain early and says which series drifted. A drift
is not an alert: spikes are the alert policy's business, drifts the model's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from river.drift import ADWIN, PageHinkley

DriftKind = Literal["page_hinkley", "adwin"]


class DriftMonitor:
    """`update(series, scores)` returns the series whose scores just drifted.

    >>> monitor = DriftMonitor("page_hinkley")
    >>> calm = monitor.update(["a"] * 500, np.full(500, 0.05))
    >>> shifted = monitor.update(["a"] * 100, np.full(100, 5.0))
    >>> calm, shifted
    ([], ['a'])
    """

    def __init__(self, kind: DriftKind) -> None:
        if kind not in ("page_hinkley", "adwin"):
            raise ValueError(f"drift detector must be 'page_hinkley' or 'adwin' (got {kind!r})")
        self.kind = kind
        self._detectors: dict[str, PageHinkley | ADWIN] = {}

    def _fresh(self) -> PageHinkley | ADWIN:
        # Imported here: river.drift pulls in scikit-learn (seconds, and asyncio with
        # it), which `import stream_ae.core` must not.
        from river.drift import ADWIN, PageHinkley

        # Only a rise matters: falling errors mean the data got easier to explain.
        return PageHinkley(mode="up") if self.kind == "page_hinkley" else ADWIN()

    def update(self, series: Sequence[str], scores: np.ndarray) -> list[str]:
        drifted: list[str] = []
        detectors = self._detectors
        for name, score in zip(series, scores.tolist(), strict=True):
            if score != score:  # NaN: nothing to learn
                continue
            detector = detectors.get(name)
            if detector is None:
                detector = detectors[name] = self._fresh()
            detector.update(score)
            if detector.drift_detected:
                drifted.append(name)
                detectors[name] = self._fresh()  # judge the new regime from scratch
        return list(dict.fromkeys(drifted))

    def forget(self, series: Iterable[str]) -> None:
        """Drop the detectors of series that left (evicted) or whose model changed."""
        for name in series:
            self._detectors.pop(name, None)

    def reset(self) -> None:
        """A new model serves: its scores are a new stream for every series."""
        self._detectors.clear()
