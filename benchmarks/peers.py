"""The peers the speed benchmark measures beside the pipeline, one point at a time.

- river's HalfSpaceTrees: score_one + learn_one per point (the usual online detector);
- the tutorials' loop: per point, the series' last `window` values as a [1, window, 1]
  tensor through an eager LSTM autoencoder of the same size as ours, and its error
  against a threshold.

A point costs them the same whatever the number of series (one model per series), so
each is timed in steady state on one long series: windows full, trees past their
first reference window. One torch thread, in the benchmark's process.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np


def half_space_trees_rate(values: np.ndarray, warm: int = 500) -> float:
    """Points/s of HalfSpaceTrees (the cold-start detector's size) over `values[warm:]`."""
    from river.anomaly import HalfSpaceTrees

    model = HalfSpaceTrees(n_trees=10, height=8, window_size=250, seed=0)
    for x in values[:warm].tolist():
        model.learn_one({"x": x})
    started = time.perf_counter()
    for x in values[warm:].tolist():
        features = {"x": x}
        model.score_one(features)
        model.learn_one(features)
    return (len(values) - warm) / (time.perf_counter() - started)


def torch_per_point_rate(values: np.ndarray, window: int, hidden: int) -> float:
    """Points/s of the unbatched per-point loop over `values[window:]`."""
    import torch

    from stream_ae.model.autoencoder import LSTMAutoencoder

    torch.set_num_threads(1)
    model = LSTMAutoencoder(channels=1, hidden=hidden, latent=hidden // 2).eval()
    recent: deque[float] = deque(values[:window].tolist(), maxlen=window)
    flagged = 0
    started = time.perf_counter()
    with torch.no_grad():
        for x in values[window:].tolist():
            recent.append(x)
            batch = torch.tensor(list(recent), dtype=torch.float32).reshape(1, window, 1)
            flagged += torch.mean((model(batch) - batch) ** 2).item() > 10.0
    return (len(values) - window) / (time.perf_counter() - started)
