"""Generated series with injected anomalies whose truth is kept: samples, demos, tests.

numpy only, deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

AnomalyKind = Literal["spike", "dip", "flat", "level_shift", "drift"]
KINDS: tuple[AnomalyKind, ...] = ("spike", "dip", "flat", "level_shift", "drift")
"""Anomalies of one channel that `inject` writes."""
FaultKind = Literal["valve_closing", "leak", "bearing_wear", "sensor_drift", "sensor_stuck"]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "valve_closing",
    "leak",
    "bearing_wear",
    "sensor_drift",
    "sensor_stuck",
)
"""Lasting faults of a simulated plant unit (`stream_ae.plant.simulate`), minutes to hours long
and growing gradually, most of them on several coupled channels at once."""


@dataclass(frozen=True, slots=True)
class Injected:
    """One injected anomaly: rows [start, end) of the series."""

    kind: AnomalyKind
    start: int
    end: int


def trend_seasonal(
    n: int,
    *,
    period: float = 50.0,
    amplitude: float = 1.0,
    trend: float = 0.0,
    noise: float = 0.1,
    seed: int = 0,
) -> np.ndarray:
    """A slope, a sine of the given period and Gaussian noise.

    >>> trend_seasonal(4, period=4, noise=0.0).round(3).tolist()
    [0.0, 1.0, 0.0, -1.0]
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    return trend * t + amplitude * np.sin(2 * np.pi * t / period) + noise * rng.normal(size=n)


def inject(
    values: np.ndarray, kind: AnomalyKind, start: int, length: int, magnitude: float
) -> Injected:
    """Write an anomaly into `values` in place; `magnitude` is in the series' units.

    >>> v = np.zeros(10); inject(v, "spike", 4, 1, 5.0); v.tolist()[3:6]
    Injected(kind='spike', start=4, end=5)
    [0.0, 5.0, 0.0]
    """
    end = min(start + length, len(values))
    if not 0 <= start < end:
        raise ValueError(f"anomaly rows [{start}, {end}) fall outside a series of {len(values)}")
    if kind == "spike":
        values[start:end] += magnitude
    elif kind == "dip":
        values[start:end] -= magnitude
    elif kind == "flat":
        values[start:end] = values[start]
    elif kind == "level_shift":
        values[start:end] += magnitude
    elif kind == "drift":
        values[start:end] += np.linspace(0.0, magnitude, end - start)
    else:
        raise ValueError(f"unknown anomaly kind {kind!r}; known: {', '.join(KINDS)}")
    return Injected(kind, start, end)


def sample_sensor(n: int = 6000, seed: int = 7) -> tuple[np.ndarray, np.ndarray, list[Injected]]:
    """A temperature-like sensor every 5 minutes (a daily cycle of 288 points) with
    a spike, a dip, a stuck (flat) stretch, a level shift and a slow drift.

    Returns (epoch timestamps, values, injected anomalies).
    """
    daily = 288
    values = 20.0 + trend_seasonal(n, period=daily, amplitude=3.0, noise=0.25, seed=seed)
    truth = [
        inject(values, "spike", int(n * 0.45), 3, 6.0),
        inject(values, "dip", int(n * 0.55), 4, 6.0),
        inject(values, "flat", int(n * 0.65), 60, 0.0),
        inject(values, "drift", int(n * 0.75), 200, 5.0),
        inject(values, "level_shift", int(n * 0.9), 150, 5.0),
    ]
    start = 1_735_689_600.0  # 2025-01-01T00:00:00Z
    return start + 300.0 * np.arange(n), values, truth
