"""Compile the hot path's numba loops now rather than on the first micro-batch.

Each loop compiles once per machine into numba's cache beside the package (a few
seconds each); the container image calls this at build time, so a fresh detector
judges its first batch at full speed.
"""

from __future__ import annotations

import numpy as np

from stream_ae.core.alerting import AlertPolicy
from stream_ae.core.drift import PageHinkleyRises
from stream_ae.core.judging import Judge
from stream_ae.core.normalize import Scale
from stream_ae.core.stillness import StuckChannels
from stream_ae.core.threshold import RollingThreshold
from stream_ae.core.windows import WindowStore


def compile_ahead() -> None:
    """Run the window store's loops (taking points, gathering windows), the scaling of
    windows, the decision layer's and the drift detector's once, on the types the
    detector gives them."""
    store = WindowStore(2, 1)
    store.take_run(0, np.array([-1]), np.zeros(1), np.zeros((1, 1)))
    store.drain()
    judge = Judge(AlertPolicy(), stuck=StuckChannels(1, 0.99, 4))
    windows = np.zeros((1, 4, 1), dtype=np.float32)  # as the window store gives them
    Scale(np.zeros((1, 1, 1)), np.ones((1, 1, 1))).apply(windows)
    threshold = RollingThreshold(history=10, warmup=5)
    judge.all_rows(np.zeros(1, np.int64), [threshold], [np.ones(1)], windows, np.zeros(1))
    PageHinkleyRises().update(["a"], np.ones(1))
