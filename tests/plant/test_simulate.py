from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pytest

from stream_ae.core.records import Point
from stream_ae.plant.simulate import (
    CHANNELS,
    DEMO_SENSORS,
    DEMO_STEPS,
    PLANT_KINDS,
    RAMP_SHARE,
    SHAPES,
    Incident,
    Plant,
)
from stream_ae.plant.synthetic import FAULT_KINDS


@dataclass(frozen=True)
class Run:
    plant: Plant
    steps: list[list[Point]]
    values: np.ndarray
    """[step, sensor, channel]"""
    truth: list[Incident]

    def rows(self, inc: Incident) -> tuple[int, int, int]:
        """Sensor, and the incident's steps [first, last]."""
        first = round((inc.start_ts - self.plant.start) / self.plant.interval_s)
        last = round((inc.end_ts - self.plant.start) / self.plant.interval_s)
        return self.plant.series.index(inc.series), first, last

    def moved(self, inc: Incident) -> tuple[int, int, int, int]:
        """Sensor, the channel the magnitude is in, and the incident's steps."""
        sensor, first, last = self.rows(inc)
        return sensor, CHANNELS.index(inc.channels[0]), first, last

    def of(self, kind: str) -> list[Incident]:
        """The incidents of a kind that ended inside the run (none clipped)."""
        end = self.plant.ts(len(self.steps) - 1)
        found = [inc for inc in self.truth if inc.kind == kind and inc.end_ts < end]
        assert found, f"the run should have a finished {kind}"
        return found


def run(plant: Plant, steps: int) -> Run:
    out = list(plant.points(steps))
    values = np.array([[p.values for p in step] for step in out])
    return Run(plant, out, values, plant.truth)


@pytest.fixture(scope="module")
def demo() -> Run:
    return run(Plant(DEMO_SENSORS, seed=0), DEMO_STEPS)


@pytest.fixture(scope="module")
def clean() -> Run:
    """The demo plant without incidents: the same clean signal."""
    return run(Plant(DEMO_SENSORS, seed=0, rate=0.0), DEMO_STEPS)


def test_same_seed_same_stream_and_truth() -> None:
    a, b = run(Plant(5, seed=3), 2500), run(Plant(5, seed=3), 2500)
    assert a.steps == b.steps
    assert a.truth == b.truth
    assert a.truth, "the comparison should include incidents"
    assert not np.array_equal(a.values, run(Plant(5, seed=4), 2500).values)


def test_stream_does_not_depend_on_how_it_is_cut() -> None:
    whole = run(Plant(4, seed=1, clean_steps=50), 900)
    plant = Plant(4, seed=1, clean_steps=50)
    # Cut inside a valve closing and a drift (steps 297-610 and 359-713).
    parts = list(plant.points(450)) + list(plant.points(0)) + list(plant.points(450))
    assert {"valve_closing", "drift"} <= {inc.kind for inc in whole.truth}
    assert parts == whole.steps
    assert plant.truth == whole.truth
    assert plant.steps_done == 900


def test_every_kind_occurs_in_the_default_demo(demo: Run) -> None:
    assert {inc.kind for inc in demo.truth} == set(PLANT_KINDS)
    counts = [sum(inc.kind == kind for inc in demo.truth) for kind in PLANT_KINDS]
    assert min(counts) >= 5, "each kind should occur often enough for a median"


def test_incident_lengths_and_sizes_follow_the_shapes(demo: Run) -> None:
    for inc in demo.truth:
        sensor, channel, first, last = demo.moved(inc)
        shape = SHAPES[inc.kind]  # type: ignore[index]
        if last < DEMO_STEPS - 1:  # one still running at the end is clipped
            assert shape.steps[0] <= last - first + 1 <= shape.steps[1]
            sigmas = abs(inc.magnitude) / demo.plant.sensors[sensor].noise[channel]
            assert shape.sigmas[0] - 1e-9 <= sigmas <= shape.sigmas[1] + 1e-9
        assert inc.channels == (shape.channels or inc.channels[:1])
    assert all(inc.magnitude < 0 for inc in demo.truth if inc.kind == "dip")


def test_incidents_never_overlap_on_a_sensor(demo: Run) -> None:
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for inc in demo.truth:
        spans[inc.series].append((inc.start_ts, inc.end_ts))
    for series in spans.values():
        series.sort()
        for (_, end), (start, _) in pairwise(series):
            assert start > end


def test_no_incident_in_the_clean_steps(demo: Run) -> None:
    first_allowed = demo.plant.ts(demo.plant.clean_steps)
    assert min(inc.start_ts for inc in demo.truth) >= first_allowed


def test_clean_steps_match_the_plant_without_incidents(demo: Run, clean: Run) -> None:
    n = demo.plant.clean_steps
    assert np.array_equal(demo.values[:n], clean.values[:n])


def test_points_interleave_sensors_with_one_time_per_step(demo: Run) -> None:
    for t, step in enumerate(demo.steps[:50]):
        assert [p.series for p in step] == list(demo.plant.series)
        assert {p.ts for p in step} == {demo.plant.start + 60.0 * t}
        assert {len(p.values) for p in step} == {len(CHANNELS)}
    assert len(set(demo.plant.series)) == DEMO_SENSORS
    assert demo.plant.series[:2] == ("plant-1/pump-01", "plant-1/compressor-01")


@pytest.mark.parametrize("kind", ["flat", "sensor_stuck"])
def test_a_held_channel_repeats_the_value_before_it_while_the_others_move(
    demo: Run, clean: Run, kind: str
) -> None:
    for inc in demo.of(kind):
        sensor, channel, first, last = demo.moved(inc)
        span = slice(first, last + 1)
        held = demo.values[span, sensor, channel]
        assert np.all(held == demo.values[first - 1, sensor, channel])
        others = [c for c in range(len(CHANNELS)) if c != channel]
        assert np.array_equal(demo.values[span, sensor, others], clean.values[span, sensor, others])


def test_a_level_shift_moves_the_mean_by_its_magnitude(demo: Run, clean: Run) -> None:
    shifts = [inc for inc in demo.truth if inc.kind == "level_shift"]
    assert shifts
    for inc in shifts:
        sensor, channel, first, last = demo.moved(inc)
        span = slice(first, last + 1)
        moved = (
            demo.values[span, sensor, channel].mean() - clean.values[span, sensor, channel].mean()
        )
        assert moved == pytest.approx(inc.magnitude)
        sigma = demo.plant.sensors[sensor].noise[channel]
        assert 3.0 <= abs(moved) / sigma <= 5.0
        # Outside its incidents a sensor is exactly its clean signal.
        after = slice(last + 1, min(last + 30, DEMO_STEPS))
        assert np.array_equal(demo.values[after, sensor], clean.values[after, sensor])


def test_a_drift_ramps_to_its_magnitude(demo: Run, clean: Run) -> None:
    drift = demo.of("drift")[0]
    sensor, channel, first, last = demo.moved(drift)
    span = slice(first, last + 1)
    offset = demo.values[span, sensor, channel] - clean.values[span, sensor, channel]
    assert offset[0] == pytest.approx(0.0, abs=1e-9)
    assert offset[-1] == pytest.approx(drift.magnitude)
    assert np.all(np.diff(offset) * np.sign(drift.magnitude) > 0)


def test_truth_lists_only_what_was_yielded() -> None:
    plant = Plant(3, seed=0, clean_steps=10, rate=20.0)
    assert plant.truth == []
    list(plant.points(200))
    truth = plant.truth
    assert truth
    assert all(inc.start_ts <= plant.ts(199) and inc.end_ts <= plant.ts(199) for inc in truth)
    assert plant.sensor_days == pytest.approx(3 * 200 * 60 / 86_400)


def test_rate_zero_has_no_incidents() -> None:
    plant = Plant(3, seed=0, clean_steps=0, rate=0.0)
    list(plant.points(3000))
    assert plant.truth == []


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"sensors": 0}, "sensors must be at least 1"),
        ({"interval_s": 0.0}, "interval_s must be a positive"),
        ({"rate": -1.0}, "rate must be >= 0"),
        ({"clean_steps": -5}, "clean_steps and min_gap_steps"),
    ],
)
def test_bad_arguments_say_what_is_wrong(kwargs: dict[str, float], words: str) -> None:
    args: dict[str, float] = {"sensors": 2, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=words):
        Plant(**args)  # type: ignore[arg-type]


def test_negative_steps_fail_at_the_call() -> None:
    with pytest.raises(ValueError, match="n_steps must be >= 0"):
        Plant(1, seed=0).points(-1)


LASTING = [kind for kind in FAULT_KINDS if not SHAPES[kind].hold]
DIRECTIONS = {
    "valve_closing": {"flow": -1, "pressure": 1},
    "leak": {"pressure": -1, "flow": 1},
    "bearing_wear": {"vibration": 1, "temperature": 1},
}


@pytest.mark.parametrize("kind", LASTING)
def test_a_lasting_fault_grows_gradually_then_holds_on_its_channels_only(
    demo: Run, clean: Run, kind: str
) -> None:
    shape = SHAPES[kind]
    for inc in demo.of(kind):
        sensor, channel, first, last = demo.moved(inc)
        length = last - first + 1
        assert 60 <= length <= 600, "minutes to hours"
        offset = demo.values[first : last + 1, sensor] - clean.values[first : last + 1, sensor]
        sigma = np.array(demo.plant.sensors[sensor].noise)
        moved = [CHANNELS.index(c) for c in inc.channels]
        untouched = [c for c in range(len(CHANNELS)) if c not in moved]
        assert np.all(offset[:, untouched] == 0.0)
        top = round(RAMP_SHARE * (length - 1))
        for c, share in zip(moved, shape.coupled, strict=True):
            size = offset[:, c] / sigma[c]
            final = share / shape.coupled[0] * inc.magnitude / sigma[channel]
            assert size[0] == pytest.approx(0.0, abs=1e-9)
            assert size[top:] == pytest.approx(np.full(length - top, final))
            # Linear growth: a quarter of the way up after a quarter of the ramp.
            assert size[top // 4] == pytest.approx(final * (top // 4) / top)
            assert np.all(np.diff(size) * np.sign(final) >= -1e-9)
        for name, way in DIRECTIONS.get(kind, {}).items():
            assert np.sign(offset[-1, CHANNELS.index(name)]) == way


def test_fault_labels_name_kind_span_and_channels(demo: Run) -> None:
    for inc in demo.truth:
        assert inc.kind in PLANT_KINDS
        assert inc.start_ts <= inc.end_ts
        assert inc.channels and set(inc.channels) <= set(CHANNELS)
    valves = demo.of("valve_closing")
    assert {inc.channels for inc in valves} == {("flow", "pressure")}
    assert all(inc.magnitude < 0 for inc in valves), "flow falls"
    assert all(inc.magnitude == 0.0 for inc in demo.of("sensor_stuck"))


def test_channels_are_coupled_so_faults_break_the_coupling_not_the_band(demo: Run) -> None:
    """Predicted from its partners (least squares on the clean steps), a channel is
    within about its noise; at a fault's final size the prediction is far off, while
    the channel's own clean range holds most of the fault's rows."""
    n = demo.plant.clean_steps
    far, outside = [], []
    for inc in [inc for kind in LASTING for inc in demo.of(kind)]:
        sensor, channel, first, last = demo.moved(inc)
        partners = [c for c in range(len(CHANNELS)) if c != channel]

        def design(rows: slice) -> np.ndarray:
            found = demo.values[rows, sensor][:, partners]  # noqa: B023
            return np.c_[found, np.ones(len(found))]

        own = demo.values[:, sensor, channel]
        coef, *_ = np.linalg.lstsq(design(slice(0, n)), own[:n], rcond=None)
        spread = np.std(own[:n] - design(slice(0, n)) @ coef)
        assert spread < 2.5 * demo.plant.sensors[sensor].noise[channel]
        tail = slice(first + round(RAMP_SHARE * (last - first)), last + 1)
        far.append(np.median(np.abs(own[tail] - design(tail) @ coef)) / spread)
        span = own[first : last + 1]
        outside.append(np.mean((span < own[:n].min()) | (span > own[:n].max())))
    assert np.median(far) > 4.0
    assert np.median(outside) < 0.2
