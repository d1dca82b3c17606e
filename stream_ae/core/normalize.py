"""Per-series scaling of windows before scoring."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

ScalerTable = dict[str, dict[str, list[float]]]
"""JSON-ready statistics: {series: {"mean": [...], "std": [...]}}, stored in a model's manifest."""


def _floored(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    # A flat series has std 0; dividing by it would turn float noise into huge errors.
    return np.maximum(std, 1e-6 + 1e-3 * np.abs(mean))


def fit_scaler(series: Sequence[str], windows: np.ndarray) -> ScalerTable:
    """Mean and standard deviation per series (and channel) of raw training windows.

    >>> w = np.array([[[1.0], [3.0]], [[5.0], [7.0]]], dtype=np.float32)
    >>> fit_scaler(["a", "b"], w)["a"]
    {'mean': [2.0], 'std': [1.0]}
    """
    table: ScalerTable = {}
    ids = np.asarray(series)
    for name in dict.fromkeys(series):
        values = windows[ids == name].reshape(-1, windows.shape[-1]).astype(np.float64)
        mean = values.mean(axis=0)
        std = _floored(mean, values.std(axis=0))
        table[name] = {"mean": mean.tolist(), "std": std.tolist()}
    return table


class Normalizer:
    """Scales each series' windows by its own mean and standard deviation.

    Series known to the model use the statistics stored with it; any other series
    starts from its first window's statistics and keeps adapting them: a running
    mean while it has seen few points, then an exponential average with weight
    `alpha` (known series adapt the same way when `online` is set).

    >>> norm = Normalizer(channels=1, known={"a": {"mean": [10.0], "std": [2.0]}})
    >>> norm.assign(0, "a")
    >>> norm.apply(np.array([0]), np.full((1, 2, 1), 12.0, dtype=np.float32))[0, :, 0].tolist()
    [1.0, 1.0]
    """

    def __init__(
        self,
        channels: int,
        known: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
        *,
        online: bool = False,
        alpha: float = 0.001,
    ) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1) (got {alpha})")
        self.channels = channels
        self.online = online
        self.alpha = alpha
        self._known = dict(known or {})
        self._mean = np.zeros((0, channels))
        self._var = np.ones((0, channels))
        self._adapting = np.zeros(0, dtype=bool)
        self._unset = np.zeros(0, dtype=bool)
        self._seen = np.zeros(0, dtype=np.int64)

    def _grow(self, slot: int) -> None:
        size = max(slot + 1, 2 * len(self._mean), 64)
        extra = size - len(self._mean)
        self._mean = np.concatenate([self._mean, np.zeros((extra, self.channels))])
        self._var = np.concatenate([self._var, np.ones((extra, self.channels))])
        self._adapting = np.concatenate([self._adapting, np.zeros(extra, dtype=bool)])
        self._unset = np.concatenate([self._unset, np.ones(extra, dtype=bool)])
        self._seen = np.concatenate([self._seen, np.zeros(extra, dtype=np.int64)])

    def assign(self, slot: int, series: str) -> None:
        """Give `slot` the statistics of `series` (called when a series gets a slot)."""
        if slot >= len(self._mean):
            self._grow(slot)
        stats = self._known.get(series)
        self._seen[slot] = 0
        if stats is None:
            self._unset[slot] = True
            self._adapting[slot] = True
            return
        mean = np.asarray(stats["mean"], dtype=np.float64)
        std = np.asarray(stats["std"], dtype=np.float64)
        if mean.shape != (self.channels,) or std.shape != (self.channels,):
            raise ValueError(
                f"scaler statistics of series {series!r} have {mean.shape} / {std.shape} "
                f"values; the model expects {self.channels} channel(s)"
            )
        self._mean[slot] = mean
        self._var[slot] = _floored(mean, std) ** 2
        self._seen[slot] = int(1 / self.alpha)  # trained statistics: adapt at the slow rate
        self._unset[slot] = False
        self._adapting[slot] = self.online

    def apply(self, slots: np.ndarray, windows: np.ndarray) -> np.ndarray:
        """Normalise raw `[batch, window, channels]` windows of `slots` (float32 out)."""
        self._observe(slots, windows)
        mean = self._mean[slots][:, None, :]
        std = _floored(mean, np.sqrt(self._var[slots][:, None, :]))
        return ((windows - mean) / std).astype(np.float32)

    def invert(self, slots: np.ndarray, normalised: np.ndarray) -> np.ndarray:
        """Back to the series' own units (for expected values in alerts)."""
        mean = self._mean[slots][:, None, :]
        std = _floored(mean, np.sqrt(self._var[slots][:, None, :]))
        return normalised * std + mean

    def _observe(self, slots: np.ndarray, windows: np.ndarray) -> None:
        if len(slots) == 0:
            return
        unset = self._unset[slots]
        fresh = np.zeros(len(slots), dtype=bool)
        if unset.any():
            for row in np.flatnonzero(unset):
                slot = slots[row]
                if self._unset[slot]:  # the first window of a repeated slot wins
                    values = windows[row].astype(np.float64)
                    self._mean[slot] = values.mean(axis=0)
                    self._var[slot] = values.var(axis=0)
                    self._seen[slot] = len(values)
                    self._unset[slot] = False
                    fresh[row] = True
        adapting = self._adapting[slots] & ~fresh
        if adapting.any():
            rows = np.flatnonzero(adapting)
            s = slots[rows]
            latest = windows[rows, -1, :].astype(np.float64)
            delta = latest - self._mean[s]
            # A running mean while the series is young, then an exponential average.
            np.add.at(self._seen, s, 1)
            weight = np.maximum(self.alpha, 1.0 / self._seen[s])[:, None]
            np.add.at(self._mean, s, weight * delta)
            np.add.at(self._var, s, weight * ((1 - weight) * delta**2 - self._var[s]))
