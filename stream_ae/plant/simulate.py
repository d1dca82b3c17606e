"""A simulated plant for demos: pumping units with four coupled channels each, sampled
every minute, with injected incidents whose truth is kept.

Pure numpy, no I/O, deterministic for a seed. The plant runs on like a real one:
each `points(n)` call continues where the last stopped, the stream does not depend
on how it is cut into calls, and `truth` lists the incidents seen so far.

A unit (one series, e.g. 'plant-1/pump-01') is a pump pushing liquid through a line
with a control valve. Its channels (`CHANNELS`) all follow one load ``u`` (epoch time
t, hour of day h), in units of the daily amplitude::

    u = sin(2π(h - phase)/24) + 0.3 sin(4π(h - phase)/24)
        - weekend * (1 on Saturday and Sunday, with 3 h ramps) + wander

where ``wander`` is a slow random disturbance shared by the channels (an AR(1) of
about two hours' memory and 0.4 daily amplitudes): the load is not a function of the
clock alone, so a detector can only predict one channel well from the others. Each
channel c is ``base_c + gain_c * drive_c + noise_c * N(0, 1)`` with drive

- flow (m³/h) and pressure (bar): ``u`` itself. The pump works harder, pushing more
  flow at a higher discharge pressure, so the two rise and fall together;
- temperature (°C): ``u`` smoothed over `THERMAL_STEPS` (the casing warms slowly);
- vibration (mm/s): ``u`` (a faster pump shakes more).

Incidents. After `clean_steps` each unit gets incidents as a renewal process: the gap
before the next one is `min_gap_steps` plus an exponential draw of mean one day /
`rate`, so `rate` is incidents per unit-day (a little fewer in fact: the minimum gap
and the incidents' own length take time). Incidents never overlap on a unit. Each
unit cycles through `PLANT_KINDS`, starting at a kind set by its index, so every kind
appears once a handful of units had one. Two families (`SHAPES`):

- today's short or one-channel anomalies (spike, dip, level_shift, flat, drift), on
  one channel drawn at random;
- lasting faults of 1 to 10 hours that grow linearly from nothing to their final size
  over the first `RAMP_SHARE` of their length and hold it for the rest, and break the
  coupling: valve_closing (flow falls, the pressure upstream of the valve rises),
  leak (pressure falls, the pump pushes more flow), bearing_wear (vibration and,
  less, temperature grow), sensor_drift (one channel drifts away from its partners),
  sensor_stuck (one channel repeats its last value while the others move on).

Magnitudes are in units of each channel's noise σ, which is 1/3 to 1/10 of its daily
amplitude: a detector that learnt the coupling sees a fault once it has grown a few σ,
while most stay inside the channel's daily swing, so a fixed band on one channel
misses most of them (visible, not trivial).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from stream_ae.core.records import Point
from stream_ae.plant.evaluate import Incident
from stream_ae.plant.synthetic import FAULT_KINDS, KINDS, AnomalyKind, FaultKind, inject

__all__ = [
    "CHANNELS",
    "DEMO_SENSORS",
    "DEMO_START",
    "DEMO_STEPS",
    "PLANT_KINDS",
    "SHAPES",
    "Incident",
    "Plant",
    "Sensor",
]

CHANNELS = ("flow", "pressure", "temperature", "vibration")
"""The channels of every unit, in the order of a point's values."""
PLANT_KINDS: tuple[AnomalyKind | FaultKind, ...] = (*KINDS, *FAULT_KINDS)
DEMO_SENSORS = 24
DEMO_STEPS = 3600
"""2.5 days at 1-minute steps: 1500 clean steps to pre-train on and warm the thresholds,
then ~1.5 days with incidents; 24 units of 4 channels make 86,400 points (345,600
values), tens of seconds for the CPU detector."""
DEMO_RATE = 4.0
"""Incidents per unit-day by default: about 60 in the demo, 6 of each kind."""
DEMO_START = 1_735_689_600.0
"""2025-01-01T00:00:00Z, a Wednesday: a default 2.5-day run sees no weekend, which a
model pre-trained on a weekday would not know."""
THERMAL_STEPS = 30.0
"""Time constant of the temperature's lag behind the load, in steps."""
RAMP_SHARE = 0.8
"""Share of a lasting fault's length over which it grows to its final size."""

_TYPES = ("pump", "compressor", "boiler", "fan", "valve")
_PER_PLANT = 10
_DAY_S = 86_400.0
_RAMP_H = 3.0
_THURSDAY = 3  # 1970-01-01 was a Thursday; weekday numbers run Monday = 0.
_WANDER = 0.4
_WANDER_STEPS = 120.0
_CH = {name: c for c, name in enumerate(CHANNELS)}


@dataclass(frozen=True, slots=True)
class Shape:
    """How long an anomaly of one kind lasts, how large it is and where it shows."""

    steps: tuple[int, int]
    """Shortest and longest length in steps, both inclusive."""
    sigmas: tuple[float, float]
    """Smallest and largest final size in noise σ of the first channel it moves."""
    signed: bool
    """Whether it goes down as often as up (a dip always goes down)."""
    channels: tuple[str, ...] = ()
    """The channels it moves, the one its magnitude is given in first; () for one
    channel drawn at random."""
    coupled: tuple[float, ...] = (1.0,)
    """Per channel moved: its size in its own σ, as a multiple of the size drawn
    (negative: the opposite way)."""
    ramp: bool = False
    """Grows from 0 over the first `RAMP_SHARE` of its length, then holds."""
    hold: bool = False
    """Repeats the channel's value from the step before (a stuck or flat sensor)."""


SHAPES: dict[AnomalyKind | FaultKind, Shape] = {
    "spike": Shape((1, 3), (6.0, 10.0), signed=False),
    "dip": Shape((2, 10), (5.0, 8.0), signed=False),
    # Lasting changes: a window sits inside them, so a few σ is plenty.
    "level_shift": Shape((60, 240), (3.0, 5.0), signed=True),
    "flat": Shape((30, 180), (0.0, 0.0), signed=False, hold=True),
    "drift": Shape((200, 400), (6.0, 10.0), signed=True),
    "valve_closing": Shape(
        (60, 600), (6.0, 10.0), False, ("flow", "pressure"), (-1.0, 0.7), ramp=True
    ),
    "leak": Shape((60, 600), (6.0, 10.0), False, ("pressure", "flow"), (-1.0, 0.6), ramp=True),
    "bearing_wear": Shape(
        (120, 600), (6.0, 10.0), False, ("vibration", "temperature"), (1.0, 0.5), ramp=True
    ),
    "sensor_drift": Shape((60, 600), (6.0, 10.0), signed=True, ramp=True),
    "sensor_stuck": Shape((60, 600), (0.0, 0.0), signed=False, hold=True),
}
"""Length, size and channels of each kind."""


@dataclass(frozen=True, slots=True)
class Sensor:
    """One simulated unit's clean signal: a series of `CHANNELS`."""

    name: str
    """Series id, e.g. 'plant-1/pump-01'."""
    base: tuple[float, ...]
    """Per channel: the level at zero load."""
    gain: tuple[float, ...]
    """Per channel: the change for one daily amplitude of load."""
    phase: float
    """Hour of day the daily pattern is shifted by."""
    weekend: float
    """How far the load drops on Saturday and Sunday, in daily amplitudes."""
    noise: tuple[float, ...]
    """Per channel: the standard deviation of its Gaussian noise, the unit of sizes."""


@dataclass(frozen=True, slots=True)
class _Planned:
    sensor: int
    kind: AnomalyKind | FaultKind
    start: int
    length: int
    magnitude: float
    channels: tuple[int, ...]
    offsets: np.ndarray
    """[length, channels] added to the clean signal step by step."""
    hold: bool
    """The first of `channels` repeats its last value instead."""


def _name(index: int) -> str:
    plant, slot = divmod(index, _PER_PLANT)
    kind, number = slot % len(_TYPES), slot // len(_TYPES) + 1
    return f"plant-{plant + 1}/{_TYPES[kind]}-{number:02d}"


def growth(length: int, ramp: bool) -> np.ndarray:
    """How much of its final size a fault has reached at each of its steps: 1 throughout
    for a sudden one, a linear rise from 0 reaching 1 at `RAMP_SHARE` for a ramp.

    >>> growth(5, ramp=True).tolist()
    [0.0, 0.3333333333333333, 0.6666666666666666, 1.0, 1.0]
    """
    if not ramp:
        return np.ones(length)
    rise = max(1, round(RAMP_SHARE * (length - 1)))
    return np.minimum(np.arange(length) / rise, 1.0)


class Plant:
    """Units of a plant sampled every `interval_s`, with incidents kept as truth.

    `clean_steps`: steps before any incident (pre-training and threshold warm-up);
    `rate`: incidents per unit-day after them (0: none); `min_gap_steps`: clean
    steps between two incidents of one unit, 240 (4 h at 1 min) so the detector's
    window and alert policy settle in between and a grace of about one window
    cannot tie an alert to two incidents.

    >>> plant = Plant(sensors=3, seed=0, clean_steps=10)
    >>> step = next(plant.points(1))
    >>> [p.series for p in step], len({p.ts for p in step}), len(step[0].values)
    (['plant-1/pump-01', 'plant-1/compressor-01', 'plant-1/boiler-01'], 1, 4)
    >>> plant.truth
    []
    """

    channels = CHANNELS

    def __init__(
        self,
        sensors: int,
        seed: int,
        interval_s: float = 60.0,
        start: float = DEMO_START,
        *,
        clean_steps: int = 1500,
        rate: float = DEMO_RATE,
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
        shape = (sensors, len(CHANNELS))
        self._base = p.uniform((50.0, 3.0, 40.0, 2.0), (150.0, 8.0, 80.0, 6.0), shape)
        self._gain = self._base * p.uniform((0.1, 0.05, 0.03, 0.1), (0.2, 0.15, 0.08, 0.3), shape)
        self._sigma = self._gain / p.uniform(3.0, 10.0, shape)
        self._phase = p.uniform(0.0, 24.0, sensors)
        self._weekend = p.uniform(0.5, 1.5, sensors)
        self._wander = p.standard_normal(sensors) * _WANDER
        self._warm = self._load(self.start)
        self.sensors = tuple(
            Sensor(
                _name(i),
                tuple(self._base[i].tolist()),
                tuple(self._gain[i].tolist()),
                float(self._phase[i]),
                float(self._weekend[i]),
                tuple(self._sigma[i].tolist()),
            )
            for i in range(sensors)
        )
        self.series = tuple(s.name for s in self.sensors)
        self._first_kind = int(p.integers(len(PLANT_KINDS)))
        self._noise = np.random.default_rng(noise)
        self._rngs = [np.random.default_rng(s) for s in per_sensor]
        self._count = [0] * sensors
        self._queue: list[tuple[int, int]] = []
        self._planned: dict[int, _Planned] = {}
        self._active: dict[int, _Planned] = {}
        self._started: list[_Planned] = []
        self._last = np.zeros(shape)
        self._clock = 0
        for i in range(sensors):
            # A held value is the one before it, so no incident may start at step 0.
            self._plan(i, max(clean_steps, 1))

    @property
    def steps_done(self) -> int:
        """Time steps yielded so far."""
        return self._clock

    @property
    def sensor_days(self) -> float:
        """Units x days yielded so far: the denominator of false alerts per sensor-day."""
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
                tuple(CHANNELS[c] for c in p.channels),
            )
            for p in self._started
        ]

    def points(self, n_steps: int) -> Iterator[list[Point]]:
        """The next `n_steps` time steps: per step, one point per unit with a value per
        channel, all at the same event time, in unit order."""
        if n_steps < 0:
            raise ValueError(f"n_steps must be >= 0 (got {n_steps}).")
        return (self._step() for _ in range(n_steps))

    def _plan(self, i: int, earliest: int) -> None:
        if self.rate == 0:
            return
        rng = self._rngs[i]
        mean_gap = _DAY_S / self.interval_s / self.rate
        start = earliest + int(rng.exponential(mean_gap))
        kind = PLANT_KINDS[(self._first_kind + i + self._count[i]) % len(PLANT_KINDS)]
        self._count[i] += 1
        shape = SHAPES[kind]
        length = int(rng.integers(shape.steps[0], shape.steps[1] + 1))
        sigmas = rng.uniform(*shape.sigmas)
        sign = rng.choice((-1.0, 1.0)) if shape.signed else 1.0
        if shape.channels:
            channels = tuple(_CH[c] for c in shape.channels)
        else:
            channels = (int(rng.integers(len(CHANNELS))),)
        offsets = np.zeros((length, len(CHANNELS)))
        if kind in KINDS and not shape.hold:
            size = float(sign * sigmas * self._sigma[i, channels[0]])
            inject(offsets[:, channels[0]], kind, 0, length, size)
        elif not shape.hold:
            rise = growth(length, shape.ramp)
            for c, share in zip(channels, shape.coupled, strict=True):
                offsets[:, c] = sign * share * sigmas * self._sigma[i, c] * rise
        # The signed change at its largest (the end of a ramp; a dip's is negative).
        primary = offsets[:, channels[0]]
        magnitude = float(primary[np.abs(primary).argmax()])
        self._planned[i] = _Planned(
            i, kind, start, length, magnitude, channels, offsets, shape.hold
        )
        heapq.heappush(self._queue, (start, i))

    def _load(self, ts: float) -> np.ndarray:
        hour = (ts % _DAY_S) / 3600.0
        angle = 2 * np.pi * (hour - self._phase) / 24.0
        pattern = np.sin(angle) + 0.3 * np.sin(2 * angle)
        week_h = ((ts / _DAY_S + _THURSDAY) % 7.0) * 24.0  # hours since Monday 00:00
        # Saturday 00:00 is hour 120; ramps, not steps, as a plant winds down and up.
        dip = min(max((week_h - 120.0) / _RAMP_H, 0.0), max((168.0 - week_h) / _RAMP_H, 0.0), 1.0)
        load: np.ndarray = pattern - self._weekend * dip + self._wander
        return load

    def _clean(self, ts: float) -> np.ndarray:
        draws = self._noise.standard_normal((len(self.sensors), 1 + len(CHANNELS)))
        keep = math.exp(-1.0 / _WANDER_STEPS)
        self._wander = keep * self._wander + math.sqrt(1 - keep**2) * _WANDER * draws[:, 0]
        load = self._load(ts)
        self._warm = self._warm + (load - self._warm) / THERMAL_STEPS
        drive = np.stack([load, load, self._warm, load], axis=1)
        clean: np.ndarray = self._base + self._gain * drive + self._sigma * draws[:, 1:]
        return clean

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
            values[i] += planned.offsets[k]
            if planned.hold:
                c = planned.channels[0]
                values[i, c] = self._last[i, c]  # stuck: the last value sent, again
            if k == planned.length - 1:
                del self._active[i]
                self._plan(i, t + 1 + self.min_gap_steps)
        self._last = values
        self._clock = t + 1
        return [Point(s, ts, tuple(v)) for s, v in zip(self.series, values.tolist(), strict=True)]
