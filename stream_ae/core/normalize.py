"""Per-series scaling of windows before scoring."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

ScalerTable = dict[str, dict[str, list[float]]]
"""JSON-ready statistics: {series: {"mean": [...], "std": [...]}}, stored in a model's manifest."""


def _floored(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    # A flat series has std 0; dividing by it would turn float noise into huge errors.
    return np.maximum(std, 1e-6 + 1e-3 * np.abs(mean))


def fit_scaler(series: Sequence[str], windows: np.ndarray, newest: float = 1.0) -> ScalerTable:
    """Mean and standard deviation per series (and channel) of raw training windows.

    `newest` < 1 fits each series on only its newest share of windows (given in
    time order), so a series that moved is centred where it is now.

    >>> w = np.array([[[1.0], [3.0]], [[5.0], [7.0]]], dtype=np.float32)
    >>> fit_scaler(["a", "b"], w)["a"]
    {'mean': [2.0], 'std': [1.0]}
    >>> fit_scaler(["a", "a"], w, newest=0.5)["a"]
    {'mean': [6.0], 'std': [1.0]}
    """
    if not 0.0 < newest <= 1.0:
        raise ValueError(f"newest must be a share in (0, 1], got {newest!r}")
    table: ScalerTable = {}
    ids = np.asarray(series)
    for name in dict.fromkeys(series):
        rows = np.flatnonzero(ids == name)
        rows = rows[len(rows) - max(1, round(newest * len(rows))) :]
        values = windows[rows].reshape(-1, windows.shape[-1]).astype(np.float64)
        mean = values.mean(axis=0)
        std = _floored(mean, values.std(axis=0))
        table[name] = {"mean": mean.tolist(), "std": std.tolist()}
    return table


@dataclass(frozen=True, slots=True)
class Scale:
    """The mean and standard deviation a batch of windows is scaled by, per window."""

    mean: np.ndarray
    """[batch, 1, channels]"""
    std: np.ndarray
    """[batch, 1, channels], floored above zero."""

    def apply(self, windows: np.ndarray) -> np.ndarray:
        """Raw `[batch, window, channels]` to normalised float32."""
        return ((windows - self.mean) / self.std).astype(np.float32)

    def invert(self, normalised: np.ndarray) -> np.ndarray:
        """Back to the series' own units (for expected values in alerts)."""
        return normalised * self.std + self.mean

    def row(self, i: int) -> Scale:
        return Scale(self.mean[i : i + 1], self.std[i : i + 1])


class Normalizer:
    """Chooses, per series, what its windows are scaled by.

    Series known to the model use the statistics stored with it. Any other
    series, and every series when `online` is set, uses its own running
    statistics as of each window's last point (kept by the window store point by
    point, so the result does not depend on how points were batched).

    >>> norm = Normalizer(channels=1, known={"a": {"mean": [10.0], "std": [2.0]}})
    >>> norm.assign(0, "a")
    >>> running = np.zeros((1, 1))
    >>> scale = norm.scale(np.array([0]), running, running)
    >>> scale.apply(np.full((1, 2, 1), 12.0, dtype=np.float32))[0, :, 0].tolist()
    [1.0, 1.0]
    """

    def __init__(
        self,
        channels: int,
        known: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
        *,
        online: bool = False,
    ) -> None:
        self.channels = channels
        self.online = online
        self._known = dict(known or {})
        self._mean = np.zeros((0, channels))
        self._std = np.ones((0, channels))
        self._adaptive = np.zeros(0, dtype=bool)

    def _grow(self, slot: int) -> None:
        size = max(slot + 1, 2 * len(self._mean), 64)
        extra = size - len(self._mean)
        self._mean = np.concatenate([self._mean, np.zeros((extra, self.channels))])
        self._std = np.concatenate([self._std, np.ones((extra, self.channels))])
        self._adaptive = np.concatenate([self._adaptive, np.ones(extra, dtype=bool)])

    def assign(self, slot: int, series: str) -> None:
        """Give `slot` the statistics of `series` (called when a series gets a slot)."""
        if slot >= len(self._mean):
            self._grow(slot)
        stats = self._known.get(series)
        if stats is None or self.online:
            self._adaptive[slot] = True
            return
        mean = np.asarray(stats["mean"], dtype=np.float64)
        std = np.asarray(stats["std"], dtype=np.float64)
        if mean.shape != (self.channels,) or std.shape != (self.channels,):
            raise ValueError(
                f"scaler statistics of series {series!r} have {mean.shape} / {std.shape} "
                f"values; the model expects {self.channels} channel(s)"
            )
        self._mean[slot] = mean
        self._std[slot] = _floored(mean, std)
        self._adaptive[slot] = False

    def scale(self, slots: np.ndarray, running_mean: np.ndarray, running_var: np.ndarray) -> Scale:
        """Per-window scale for `slots`, given each window's running statistics [batch, C]."""
        if len(slots) and int(slots.max()) >= len(self._mean):
            self._grow(int(slots.max()))
        adaptive = self._adaptive[slots][:, None]
        mean = np.where(adaptive, running_mean, self._mean[slots])
        std = np.where(adaptive, _floored(running_mean, np.sqrt(running_var)), self._std[slots])
        return Scale(mean[:, None, :], std[:, None, :])
