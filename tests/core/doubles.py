"""Test doubles for the core: a deterministic scorer with a reconstruction."""

from __future__ import annotations

import numpy as np

from stream_ae import wiring
from stream_ae.core.detector import Detector, Lane
from stream_ae.core.normalize import Normalizer
from stream_ae.core.records import ScoreBatch
from stream_ae.settings import Settings


class LastStepScorer:
    """Expects every window to be flat at 0 (the series mean): error = value squared."""

    name = "last-step"
    device = "cpu"

    def __init__(self, window: int, channels: int, version: str = "v-test") -> None:
        self.window = window
        self.channels = channels
        self.version = version
        self.calls = 0

    def score(self, windows: np.ndarray) -> ScoreBatch:
        if windows.ndim != 3 or windows.shape[1:] != (self.window, self.channels):
            raise ValueError(f"expected [batch, {self.window}, {self.channels}] windows")
        self.calls += 1
        expected = np.zeros_like(windows)
        errors = (windows - expected) ** 2
        return ScoreBatch(
            scores=errors[:, -1, :].mean(axis=1).astype(np.float64),
            errors=errors,
            expected=expected,
        )


def last_step_detector(settings: Settings) -> Detector:
    """A detector wired from `settings` as the service wires one, scoring with
    `LastStepScorer`: series "s" is scaled by mean 0, std 1, so a window's score is its
    newest value squared."""
    lane = Lane(
        LastStepScorer(settings.window.length, 1),
        Normalizer(1, {"s": {"mean": [0.0], "std": [1.0]}}),
        wiring.threshold(settings),
    )
    return Detector(
        wiring.window_store(settings, 1),
        lane,
        wiring.alert_policy(settings),
        channel_names=["value"],
        judged_on=settings.alerts.judged_on,
        stuck=wiring.stuck_channels(settings, 1),
    )
