"""One score from many channels: each channel on its own error scale, combined without
diluting the one that broke.

The autoencoder's error of a window is a `[window, channels]` array. Averaging it over
channels hides a fault in one channel behind many quiet ones (with 24 flags beside one
sensor, the sensor's error counts for 1/25), and a channel the model reconstructs
almost perfectly (a flag that was constant during the fit) would dominate any sum
once it moves. So each channel's mean error over the window is divided by that
channel's typical error on the fit windows (`ErrorScales`), and the per-channel
results are combined by `combine`.

Measured by `benchmarks/channel_combine.py` (results/channel_combine.txt): a fitted
LSTM autoencoder, window 32, sensors beside 0/1 flags (four toggle, the rest never
move); best point F1 of the window score at one threshold, ROC AUC after the slash.
Scales are each channel's 99th percentile error on the fit windows ("1": as before):

======================  ===========  ===========  ===========  ===========
case, scales            mean         max          top3         power4
======================  ===========  ===========  ===========  ===========
one of 25 breaks, 1     0.285/0.666  0.295/0.670  0.292/0.674  0.296/0.672
one of 25 breaks, q99   0.310/0.718  0.414/0.754  0.332/0.742  0.406/0.756
one of 55 breaks, 1     0.433/0.717  0.382/0.697  0.460/0.729  0.397/0.704
one of 55 breaks, q99   0.536/0.779  0.599/0.816  0.590/0.809  0.593/0.813
six of 25 move, 1       0.316/0.654  0.313/0.580  0.335/0.642  0.319/0.599
six of 25 move, q99     0.399/0.746  0.511/0.780  0.517/0.786  0.526/0.787
one channel alone       0.660/0.877  0.660/0.877  0.660/0.877  0.660/0.877
======================  ===========  ===========  ===========  ===========

The maximum is the best or within 0.015 of it everywhere, and it alone says plainly
which channel drove a score; the scales matter as much as the combine (with the mean
of the fit errors as scale instead of the 99th percentile, max fell to 0.289 on one of
25: a toggling flag's rare large errors outvote the sensor's steady ones).

For one channel every combine is that channel's error over its scale: windows rank
exactly as by the plain mean squared error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

Combine = Literal["mean", "max", "top3", "power4"]
COMBINES: tuple[Combine, ...] = get_args(Combine)
DEFAULT_COMBINE: Combine = "max"
"""Chosen by `benchmarks/channel_combine.py` (see the module docstring)."""

SCALE_QUANTILE = 0.99
"""A channel's error scale is this quantile of its per-window mean squared error on the
fit windows. A high quantile rather than the mean: channels differ in the shape of
their error's tail (a flag that toggles at unpredictable times has rare large errors,
a noisy sensor steady ones), and the maximum over channels is decided in the tail, so
each channel's tail is what must be put on one scale (best F1 0.41 against 0.29 with
the mean, one channel broken of 25)."""
FLOOR_SHARE = 0.03
"""A channel's error scale is at least this share of the largest channel's scale ..."""
FLOOR_MIN = 1e-3
"""... and at least this, in squared standard deviations of the scaled input. Below it
the model reproduced the channel almost exactly during the fit (a flag that stayed
constant), and dividing by such a scale would let its slightest move outweigh every
other channel: no channel weighs more than 1/FLOOR_SHARE times the hardest one."""


def combine(channel_errors: np.ndarray, how: Combine = DEFAULT_COMBINE) -> np.ndarray:
    """One score per row of `[batch, channels]` per-channel normalised errors.

    >>> e = np.array([[4.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    >>> combine(e, "mean").tolist(), combine(e, "max").tolist()
    ([1.0, 1.0], [4.0, 1.0])
    """
    e = np.asarray(channel_errors, dtype=np.float64)
    if how == "mean":
        return e.mean(axis=1)
    if how == "max":
        return e.max(axis=1)
    if how == "top3":
        k = min(3, e.shape[1])
        return np.sort(e, axis=1)[:, -k:].mean(axis=1)
    if how == "power4":
        # A soft maximum that keeps the units: the 4-norm mean lies between mean and max.
        return np.asarray(np.mean(e**4, axis=1) ** 0.25)
    raise ValueError(f"combine {how!r} is not one of {', '.join(COMBINES)}.")


@dataclass(frozen=True)
class ErrorScales:
    """Each channel's typical reconstruction error on the fit windows, floored."""

    scale: np.ndarray
    """[channels] float64, positive: what a channel's mean error over a window is divided by."""
    floored: tuple[int, ...] = ()
    """Channels whose measured scale was below the floor and was raised to it."""
    floor: float = 0.0
    combine: Combine = DEFAULT_COMBINE
    """How the per-channel errors of a window become its score."""
    quantile: float | None = None
    """The quantile of the fit windows' errors the scales are; None: not measured (1)."""

    @classmethod
    def unit(cls, channels: int, how: Combine = DEFAULT_COMBINE) -> ErrorScales:
        """Scales of 1: a model published before error scales were measured."""
        return cls(np.ones(channels), combine=how)

    @classmethod
    def fit(
        cls,
        window_errors: np.ndarray,
        how: Combine = DEFAULT_COMBINE,
        quantile: float = SCALE_QUANTILE,
    ) -> ErrorScales:
        """From `[windows, channels]` mean squared errors of the fit windows.

        >>> s = ErrorScales.fit(np.array([[0.5, 0.0, 0.25], [1.0, 0.0, 0.25]]), quantile=1.0)
        >>> s.scale.tolist(), s.floored
        ([1.0, 0.03, 0.25], (1,))
        """
        e = np.asarray(window_errors, dtype=np.float64)
        if e.ndim != 2 or len(e) == 0 or not np.isfinite(e).all():
            raise ValueError(
                "window_errors must be a finite [windows, channels] array with at least "
                f"one window, got shape {list(e.shape)}; score the fit windows first."
            )
        measured = np.quantile(e, quantile, axis=0)
        floor = max(FLOOR_MIN, FLOOR_SHARE * float(measured.max()))
        floored = tuple(np.flatnonzero(measured < floor).tolist())
        return cls(np.maximum(measured, floor), floored, floor, how, quantile)

    def apply(self, window_errors: np.ndarray) -> np.ndarray:
        """`[batch, channels]` mean errors on each channel's own scale."""
        return np.asarray(window_errors / self.scale)

    def to_manifest(self, channel_names: Sequence[str]) -> dict[str, Any]:
        """The manifest's `error_scale` entry."""
        return {
            "scale": self.scale.tolist(),
            "combine": self.combine,
            "statistic": (
                f"quantile {self.quantile} over the fit windows of each channel's mean "
                "squared error per window"
            ),
            "quantile": self.quantile,
            "floor": self.floor,
            "floored_channels": [channel_names[c] for c in self.floored],
            "floor_rule": (
                f"at least max({FLOOR_MIN}, {FLOOR_SHARE} x the largest channel's scale): "
                "a channel the model reproduced almost exactly during the fit (constant "
                "there) must not outweigh the others when it moves"
            ),
        }

    @classmethod
    def from_manifest(cls, entry: Mapping[str, Any], channel_names: Sequence[str]) -> ErrorScales:
        """Read `to_manifest`'s entry; an empty one (an older model) gives unit scales."""
        if not entry:
            return cls.unit(len(channel_names))
        scale = np.asarray(entry.get("scale", ()), dtype=np.float64)
        how = entry.get("combine", DEFAULT_COMBINE)
        if scale.shape != (len(channel_names),) or not (np.isfinite(scale) & (scale > 0)).all():
            raise ValueError(
                f"error_scale.scale must hold {len(channel_names)} positive numbers, one per "
                f"channel, got {entry.get('scale')!r}; re-publish the model."
            )
        if how not in COMBINES:
            raise ValueError(
                f"error_scale.combine {how!r} is not one of {', '.join(COMBINES)}; "
                "re-publish the model with this version of stream-ae."
            )
        names = list(channel_names)
        floored = tuple(names.index(n) for n in entry.get("floored_channels", ()) if n in names)
        quantile = entry.get("quantile")
        return cls(scale, floored, float(entry.get("floor", 0.0)), how, quantile)
