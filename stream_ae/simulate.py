"""A simulated plant for demos: many sensors, one point each per time step, with
injected incidents whose truth is kept.

Pure numpy, no I/O, deterministic for a seed. The plant runs on like a real one:
each `points(n)` call continues where the last stopped, the stream does not depend
on how it is cut into calls, and `truth` lists the incidents seen so far.

Signal of a sensor (epoch time t, hour of day h)::

    base + daily * (sin(2π(h - phase)/24) + 0.3 sin(4π(h - phase)/24))
         - weekend * (1 on Saturday and Sunday, with 3 h ramps) + noise * N(0, 1)

Incidents. After `clean_steps` each sensor gets incidents as a renewal process:
the gap before the next one is `min_gap_steps` plus an exponential draw of mean
one day / `rate`, so `rate` is incidents per sensor-day (a little fewer in fact:
the minimum gap and the incidents' own length take time). Incidents never
overlap on a sensor. Each sensor cycles through the kinds, starting at a kind
set by its index, so every kind appears once a handful of sensors had one.

Magnitudes are in units of the sensor's noise σ, which is 1/3 to 1/10 of its
daily amplitude: a detector that learnt the daily pattern sees them above the
noise, while most stay inside the daily swing, so a fixed band would miss them
(visible, not trivial). See `SHAPES` for the lengths and sizes.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from stream_ae.core.records import Point
from stream_ae.evaluate import Incident
from stream_ae.synthetic import KINDS, AnomalyKind, inject

__all__ = ["DEMO_SENSORS", "DEMO_START", "DEMO_STEPS", "SHAPES", "Incident", "Plant", "Sensor"]

DEMO_SENSORS = 50
DEMO_STEPS = 3600
"""2.5 days at 1-minute steps: 1500 clean steps to pre-train on (~1400 windows of 64
per series) and warm the thresholds (300 scores), then ~1.5 days with incidents;
50 sensors make 180k points, tens of seconds for the CPU detector."""
DEMO_START = 1_735_689_600.0
"""2025-01-01T00:00:00Z, a Wednesday: a default 2.5-day run sees no weekend, which a
model pre-trained on a weekday would not know."""

_TYPES = ("pump", "compressor", "boiler", "fan", "valve")
_PER_PLANT = 10
_DAY_S = 86_400.0
_RAMP_H = 3.0
_THURSDAY = 3  # 1970-01-01 was a Thursday; weekday numbers run Monday = 0.


@dataclass(frozen=True, slots=True)
class Shape:
    """How long an anomaly of one kind lasts and how large it is."""

    steps: tuple[int, int]
    """Shortest and longest length in steps, both inclusive."""
    sigmas: tuple[float, float]
    """Smallest and largest size in noise σ (the end of a drift's ramp)."""
    signed: bool
    """Whether it goes down as often as up (a dip always goes down)."""


SHAPES: dict[AnomalyKind, Shape] = {
    "spike": Shape((1, 3), (6.0, 10.0), signed=False),
    "dip": Shape((2, 10), (5.0, 8.0), signed=False),
    # Lasting changes: a window of 64 sits inside them, so a few σ is plenty.
    "level_shift": Shape((60, 240), (3.0, 5.0), signed=True),
    "flat": Shape((30, 180), (0.0, 0.0), signed=False),
    "drift": Shape((200, 400), (6.0, 10.0), signed=True),
}
"""Length and size of each kind. A flatline holds the sensor's last value."""


@dataclass(frozen=True, slots=True)
class Sensor:
    """One simulated sensor's clean signal."""

    name: str
    """Series id, e.g. 'plant-1/pump-01'."""
    base: float
    daily: float
    """Amplitude of the daily pattern."""
    phase: float
    """Hour of day the daily pattern is shifted by."""
    weekend: float
    """How far the level drops on Saturday and Sunday."""
    noise: float
    """Standard deviation of the Gaussian noise: the unit of anomaly sizes."""


@dataclass(frozen=True, slots=True)
class _Planned:
    sensor: int
    kind: AnomalyKind
    start: int
    length: int
    magnitude: float
    offsets: np.ndarray
    """Added to the clean signal step by step (unused by a flatline)."""


def _name(index: int) -> str:
    plant, slot = divmod(index, _PER_PLANT)
    kind, number = slot % len(_TYPES), slot // len(_TYPES) + 1
    return f"plant-{plant + 1}/{_TYPES[kind]}-{number:02d}"


class Plant:
    """Sensors of a plant sampled every `interval_s`, with incidents kept as truth.

    `clean_steps`: steps before any incident (pre-training and threshold warm-up);
    `rate`: incidents per sensor-day after them (0: none); `min_gap_steps`: clean
    steps between two incidents of one sensor, 240 (4 h at 1 min) so the detector's
    window (64) and alert policy settle in between and a grace of about one window
    cannot tie an alert to two incidents.

    >>> plant = Plant(sensors=3, seed=0, clean_steps=10)
    >>> step = next(plant.points(1))
    >>> [p.series for p in step], len({p.ts for p in step})
    (['plant-1/pump-01', 'plant-1/compressor-01', 'plant-1/boiler-01'], 1)
    >>> plant.truth
    []
    """

    def __init__(
        self,
        sensors: int,
        seed: int,
        interval_s: float = 60.0,
        start: float = DEMO_START,
        *,
        clean_steps: int = 1500,
        rate: float = 1.0,
        min_gap_steps: int = 240,
    ) -> None:
        problems = []
        if sensors < 1:
            problems.append(f"sensors must be at least 1 (got {sensors})")
        if not (math.isfinite(interval_s) and interval_s > 0):
            problems.append(f"interval_s must be a positive number of seconds (got {interval_s})")
        if not math.isfinite(start):
            problems.append(f"start must be finite epoch seconds (got {start})")
        if clean_steps < 0 or min_gap_steps < 0:
            problems.append(
                f"clean_steps and min_gap_steps must be >= 0 (got {clean_steps}, {min_gap_steps})"
            )
        if not (math.isfinite(rate) and rate >= 0):
            problems.append(f"rate must be >= 0 incidents per sensor-day (got {rate})")
        if problems:
            raise ValueError("Cannot build the plant: " + "; ".join(problems) + ".")
        self.interval_s = float(interval_s)
        self.start = float(start)
        self.clean_steps = clean_steps
        self.rate = rate
        self.min_gap_steps = min_gap_steps
        # Separate streams, so the clean signal is the same whatever the incidents
        # (rate 0 gives the very same values outside them) and vice versa.
        params, noise, *per_sensor = np.random.SeedSequence(seed).spawn(2 + sensors)
        p = np.random.default_rng(params)
        base = p.uniform(20.0, 100.0, sensors)
        daily = base * p.uniform(0.05, 0.2, sensors)
        self.sensors = tuple(
            Sensor(_name(i), float(b), float(d), float(ph), float(w), float(d / snr))
            for i, (b, d, ph, w, snr) in enumerate(
                zip(
                    base,
                    daily,
                    p.uniform(0.0, 24.0, sensors),
                    daily * p.uniform(0.5, 1.5, sensors),
                    p.uniform(3.0, 10.0, sensors),
                    strict=True,
                )
            )
        )
        self.series = tuple(s.name for s in self.sensors)
        self._first_kind = int(p.integers(len(KINDS)))
        self._base, self._daily = base, daily
        self._phase = np.array([s.phase for s in self.sensors])
        self._weekend = np.array([s.weekend for s in self.sensors])
        self._sigma = np.array([s.noise for s in self.sensors])
        self._noise = np.random.default_rng(noise)
        self._rngs = [np.random.default_rng(s) for s in per_sensor]
        self._count = [0] * sensors
        self._queue: list[tuple[int, int]] = []
        self._planned: dict[int, _Planned] = {}
        self._active: dict[int, _Planned] = {}
        self._started: list[_Planned] = []
        self._last = np.zeros(sensors)
        self._clock = 0
        for i in range(sensors):
            # A flatline holds the value before it, so none may start at step 0.
            self._plan(i, max(clean_steps, 1))

    @property
    def steps_done(self) -> int:
        """Time steps yielded so far."""
        return self._clock

    @property
    def sensor_days(self) -> float:
        """Sensors x days yielded so far: the denominator of false alerts per sensor-day."""
        return len(self.sensors) * self._clock * self.interval_s / _DAY_S

    def ts(self, step: int) -> float:
        """Event time of a step, epoch seconds."""
        return self.start + step * self.interval_s

    @property
    def truth(self) -> list[Incident]:
        """Incidents that started in the steps yielded so far, by start time; one still
        running ends, for now, at the last step yielded."""
        last = self._clock - 1
        return [
            Incident(
                self.series[p.sensor],
                p.kind,
                self.ts(p.start),
                self.ts(min(p.start + p.length - 1, last)),
                p.magnitude,
            )
            for p in self._started
        ]

    def points(self, n_steps: int) -> Iterator[list[Point]]:
        """The next `n_steps` time steps: per step, one point per sensor, all at the
        same event time, in sensor order."""
        if n_steps < 0:
            raise ValueError(f"n_steps must be >= 0 (got {n_steps}).")
        return (self._step() for _ in range(n_steps))

    def _plan(self, i: int, earliest: int) -> None:
        if self.rate == 0:
            return
        rng = self._rngs[i]
        mean_gap = _DAY_S / self.interval_s / self.rate
        start = earliest + int(rng.exponential(mean_gap))
        kind = KINDS[(self._first_kind + i + self._count[i]) % len(KINDS)]
        self._count[i] += 1
        shape = SHAPES[kind]
        length = int(rng.integers(shape.steps[0], shape.steps[1] + 1))
        size = rng.uniform(*shape.sigmas) * self._sigma[i]
        sign = rng.choice((-1.0, 1.0)) if shape.signed else 1.0
        offsets = np.zeros(length)
        if kind != "flat":
            inject(offsets, kind, 0, length, float(sign * size))
        # inject's dip subtracts its magnitude; the truth records the signed change.
        magnitude = -size if kind == "dip" else float(sign * size)
        self._planned[i] = _Planned(i, kind, start, length, magnitude, offsets)
        heapq.heappush(self._queue, (start, i))

    def _clean(self, ts: float) -> np.ndarray:
        hour = (ts % _DAY_S) / 3600.0
        angle = 2 * np.pi * (hour - self._phase) / 24.0
        pattern = np.sin(angle) + 0.3 * np.sin(2 * angle)
        week_h = ((ts / _DAY_S + _THURSDAY) % 7.0) * 24.0  # hours since Monday 00:00
        # Saturday 00:00 is hour 120; ramps, not steps, as a plant winds down and up.
        dip = min(max((week_h - 120.0) / _RAMP_H, 0.0), max((168.0 - week_h) / _RAMP_H, 0.0), 1.0)
        noise = self._noise.standard_normal(len(self.sensors))
        return self._base + self._daily * pattern - self._weekend * dip + self._sigma * noise

    def _step(self) -> list[Point]:
        t = self._clock
        ts = self.ts(t)
        values = self._clean(ts)
        while self._queue and self._queue[0][0] <= t:
            _, i = heapq.heappop(self._queue)
            planned = self._planned.pop(i)
            self._active[i] = planned
            self._started.append(planned)
        for i, planned in list(self._active.items()):
            k = t - planned.start
            if planned.kind == "flat":
                values[i] = self._last[i]  # stuck: the last value sent, again
            else:
                values[i] += planned.offsets[k]
            if k == planned.length - 1:
                del self._active[i]
                self._plan(i, t + 1 + self.min_gap_steps)
        self._last = values
        self._clock = t + 1
        return [Point(s, ts, (v,)) for s, v in zip(self.series, values.tolist(), strict=True)]
