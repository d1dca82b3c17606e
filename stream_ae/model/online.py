"""The cold-start scorer: an online detector that needs no trained model.

It lives beside the autoencoder rather than in the core because river's
anomaly package pulls in scikit-learn and asyncio on import.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
from river.anomaly import HalfSpaceTrees

from stream_ae.core.records import ScoreBatch


class HalfSpaceTreesScorer:
    """river's HalfSpaceTrees over the most recent steps of each normalised window.

    It scores a window, then learns from it (so scoring stays causal), and is
    shared by every series: windows are normalised per series first, so one
    forest learns what "usual" looks like in standard units.

    >>> scorer = HalfSpaceTreesScorer(window=8, channels=1, window_size=4, seed=1)
    >>> flat = np.zeros((20, 8, 1), dtype=np.float32)
    >>> spike = flat[:1].copy(); spike[0, -1, 0] = 3.5
    >>> _ = scorer.score(flat)
    >>> bool(scorer.score(spike).scores[0] > scorer.score(flat[:1]).scores[0])
    True
    """

    name = "hst"
    version = "online"
    device = "cpu"

    def __init__(
        self,
        window: int,
        channels: int,
        *,
        trees: int = 10,
        height: int = 8,
        window_size: int = 250,
        recent_steps: int = 8,
        seed: int = 0,
    ) -> None:
        self.window = window
        self.channels = channels
        self._steps = min(recent_steps, window)
        names = [f"c{c}_t{t}" for t in range(self._steps) for c in range(channels)]
        self._names = names
        # Normalised values rarely leave +-4 standard deviations; beyond, a tree
        # still routes them to the outermost cell.
        limits: dict[Hashable, tuple[float, float]] = {n: (-4.0, 4.0) for n in names}
        self._window_size = window_size
        self._learned = 0
        self._forest = HalfSpaceTrees(
            n_trees=trees, height=height, window_size=window_size, limits=limits, seed=seed
        )

    def score(self, windows: np.ndarray) -> ScoreBatch:
        if windows.ndim != 3 or windows.shape[1:] != (self.window, self.channels):
            raise ValueError(
                f"expected windows of shape [batch, {self.window}, {self.channels}], "
                f"got {list(windows.shape)}"
            )
        recent = windows[:, -self._steps :, :].reshape(len(windows), len(self._names))
        recent = recent.astype(np.float64)
        scores = np.empty(len(windows))
        for i, row in enumerate(recent.tolist()):
            features = dict(zip(self._names, row, strict=True))
            # Until its first reference window is full the forest answers 0 for
            # everything: that is "no opinion", not "normal".
            scores[i] = (
                self._forest.score_one(features) if self._learned >= self._window_size else np.nan
            )
            self._forest.learn_one(features)
            self._learned += 1
        return ScoreBatch(scores=scores)
