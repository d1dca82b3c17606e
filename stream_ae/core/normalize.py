"""Per-series scaling of windows before scoring."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from stream_ae.core.compiled import jit_no_alloc

ScalerTable = dict[str, dict[str, list[float]]]
"""JSON-ready statistics: {series: {"mean": [...], "std": [...]}}, stored in a model's manifest."""


FLAT_RULE = (
    "a channel whose standard deviation is at most 1e-6 + 1e-3 |mean| (flat: float noise "
    "around one level) is scaled by max(1e-2 |mean|, 1) instead: a 1% move of its level, "
    "or a step of one unit (a 0/1 flag flipping, a count of one), reads as one standard "
    "deviation"
)
"""How flat channels are scaled; written into the manifest beside the channels it hit."""


def _is_flat(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return np.asarray(std <= 1e-6 + 1e-3 * np.abs(mean))


def _floored(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    # A flat channel has no spread to scale by. Dividing by (nearly) zero made a 0/1
    # flag that never flipped during the fit read as 1e6 standard deviations when it
    # did, swamping every other channel; its level, or one unit at a level near zero,
    # is the only yardstick left. Manifests written with the old tiny floor are flat
    # by this test too, so they get the same yardstick when loaded.
    return np.where(_is_flat(mean, std), np.maximum(1e-2 * np.abs(mean), 1.0), std)


def _series_stats(
    series: Sequence[str], windows: np.ndarray, newest: float
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    if not 0.0 < newest <= 1.0:
        raise ValueError(f"newest must be a share in (0, 1], got {newest!r}")
    ids = np.asarray(series)
    for name in dict.fromkeys(series):
        rows = np.flatnonzero(ids == name)
        rows = rows[len(rows) - max(1, round(newest * len(rows))) :]
        values = windows[rows].reshape(-1, windows.shape[-1]).astype(np.float64)
        yield name, values.mean(axis=0), values.std(axis=0)


def fit_scaler(series: Sequence[str], windows: np.ndarray, newest: float = 1.0) -> ScalerTable:
    """Mean and standard deviation per series (and channel) of raw training windows.

    `newest` < 1 fits each series on only its newest share of windows (given in
    time order), so a series that moved is centred where it is now. Flat channels
    get the scale of `FLAT_RULE` (`flat_in_fit` names them).

    >>> w = np.array([[[1.0], [3.0]], [[5.0], [7.0]]], dtype=np.float32)
    >>> fit_scaler(["a", "b"], w)["a"]
    {'mean': [2.0], 'std': [1.0]}
    >>> fit_scaler(["a", "a"], w, newest=0.5)["a"]
    {'mean': [6.0], 'std': [1.0]}
    """
    table: ScalerTable = {}
    for name, mean, std in _series_stats(series, windows, newest):
        table[name] = {"mean": mean.tolist(), "std": _floored(mean, std).tolist()}
    return table


def flat_in_fit(
    series: Sequence[str], windows: np.ndarray, newest: float = 1.0
) -> dict[str, list[int]]:
    """Per series, the channels `fit_scaler` gave the flat-channel scale (series with none
    are left out), for the manifest to say so.

    >>> w = np.array([[[1.0, 0.0], [3.0, 0.0]]], dtype=np.float32)
    >>> flat_in_fit(["a"], w)
    {'a': [1]}
    """
    flat: dict[str, list[int]] = {}
    for name, mean, std in _series_stats(series, windows, newest):
        hit = np.flatnonzero(_is_flat(mean, std)).tolist()
        if hit:
            flat[name] = hit
    return flat


@dataclass(frozen=True, slots=True)
class Scale:
    """The mean and standard deviation a batch of windows is scaled by, per window."""

    mean: np.ndarray
    """[batch, 1, channels]"""
    std: np.ndarray
    """[batch, 1, channels], floored above zero."""

    def apply(self, windows: np.ndarray) -> np.ndarray:
        """Raw `[batch, window, channels]` to normalised float32: numpy's
        `((windows - mean) / std).astype(float32)`, bit for bit, in one compiled pass
        (numpy's two float64 temporaries and the copy cost 3-4x as much)."""
        rows, _, channels = windows.shape
        if self.mean.shape != (rows, 1, channels) or self.std.shape != self.mean.shape:
            # The loop reads mean and std per window and channel, unchecked: no broadcasting.
            raise ValueError(
                f"a scale of mean {self.mean.shape} and std {self.std.shape} cannot scale "
                f"windows of {windows.shape}: it needs one [1, channels] row per window"
            )
        out = np.empty(windows.shape, dtype=np.float32)
        _scaled(windows, self.mean, self.std, out)
        return out

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


@jit_no_alloc(error_model="numpy")  # a zero std gives inf or NaN, as numpy's
def _scaled(windows: np.ndarray, mean: np.ndarray, std: np.ndarray, out: np.ndarray) -> None:
    for i in range(windows.shape[0]):
        for c in range(windows.shape[2]):
            m, s = mean[i, 0, c], std[i, 0, c]
            for j in range(windows.shape[1]):
                out[i, j, c] = (windows[i, j, c] - m) / s  # in float64, then rounded
