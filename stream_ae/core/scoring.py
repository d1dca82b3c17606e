"""The interface every scorer implements, whatever it runs on."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from stream_ae.core.records import ScoreBatch


@runtime_checkable
class Scorer(Protocol):
    """Turns normalised windows into one score per window (larger = more anomalous).

    Implementations: the autoencoder (`stream_ae.model.scorer`) and the cold-start
    online detector (`stream_ae.model.online`). A scorer never decides: thresholds
    and alert policy do.
    """

    name: str
    """Short, bounded name carried by alerts and metrics, e.g. 'lstm-ae' or 'hst'."""
    version: str
    """Model version, or a fixed tag for scorers without artifacts."""
    device: str
    """Where it runs, e.g. 'cpu' or 'cuda:0' (bounded: a metric label)."""
    window: int
    channels: int

    def score(self, windows: np.ndarray) -> ScoreBatch:
        """Score `[batch, window, channels]` float32 normalised windows."""
        ...
