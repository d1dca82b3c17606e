"""Test doubles for the core: a deterministic scorer with a reconstruction."""

from __future__ import annotations

import numpy as np

from stream_ae.core.records import ScoreBatch


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
