"""Alerts name the channel that drove them, ranked as the score ranked it."""

from __future__ import annotations

import numpy as np

from stream_ae.core.alerting import AlertPolicy
from stream_ae.core.detector import Detector, Lane
from stream_ae.core.normalize import Normalizer
from stream_ae.core.records import AlertState, Point, ScoreBatch
from stream_ae.core.threshold import RollingThreshold
from stream_ae.core.windows import WindowStore

W = 8
NAMES = ("temp", "vib", "flag")


class ScaledChannelScorer:
    """Expects flat windows at 0; each channel's squared error over its own error scale,
    the worst channel's window mean as the score (as the autoencoder scorer does)."""

    name = "scaled"
    device = "cpu"
    version = "v-test"

    def __init__(self, scale: tuple[float, ...]) -> None:
        self.window, self.channels = W, len(scale)
        self.scale = np.asarray(scale, dtype=np.float32)

    def score(self, windows: np.ndarray) -> ScoreBatch:
        errors = windows.astype(np.float32) ** 2 / self.scale
        per_channel = errors.mean(axis=1, dtype=np.float64)
        return ScoreBatch(
            scores=per_channel.max(axis=1),
            errors=errors,
            expected=np.zeros_like(windows),
            channel_errors=per_channel,
        )


def detector(scale: tuple[float, ...], top_contributors: int = 3) -> Detector:
    known = {"p": {"mean": [0.0] * 3, "std": [1.0] * 3}}
    lane = Lane(
        ScaledChannelScorer(scale),
        Normalizer(3, known),
        RollingThreshold(history=200, quantile=0.99, warmup=50),
    )
    policy = AlertPolicy(open_k=1, open_n=1, resolve_after=3, cooldown=5)
    return Detector(
        WindowStore(W, 3), lane, policy, channel_names=NAMES, top_contributors=top_contributors
    )


def plant(n: int) -> list[list[float]]:
    t = np.arange(n)
    return [[float(np.sin(k / 5)), float(np.cos(k / 7)), 0.0] for k in t.tolist()]


def test_the_alert_names_the_channel_that_drove_the_score() -> None:
    values = plant(400)
    for k in range(300, 300 + W):
        values[k][2] = 0.3  # the quiet flag moves a little, for a whole window
    values[300 + W - 1][0] = 4.0  # and one sensor cell is larger than any flag cell
    det = detector((1.0, 1.0, 0.01))
    out = det.process([Point("p", float(t), tuple(v)) for t, v in enumerate(values)])
    opened = [a for a in out.alerts if a.state is AlertState.OPEN]
    assert opened, "the flag's move should open an incident"
    alert = opened[0]
    # The flag's mean error on its own scale (9) beats the sensor's (16 / 8 = 2), though
    # the sensor's single cell (16) is the largest: the flag drove the score.
    assert alert.channel == "flag"
    assert [c.channel for c in alert.contributors] == ["flag", "temp", "vib"]
    resolved = [a for a in out.alerts if a.state is AlertState.RESOLVED]
    assert resolved and all(a.channel is None for a in resolved)


def test_the_channel_is_named_even_without_contributors() -> None:
    values = plant(400)
    values[330][1] = 12.0
    det = detector((1.0, 1.0, 1.0), top_contributors=0)
    out = det.process([Point("p", float(t), tuple(v)) for t, v in enumerate(values)])
    opened = [a for a in out.alerts if a.state is AlertState.OPEN]
    assert [a.channel for a in opened] == ["vib"] and opened[0].contributors == ()
