"""`benchmarks/speed.py` counts its spikes' alerts to time the pipeline: its settings
must open an alert on every window that scores above the floor, however many scores
the series has had, or the table counts the threshold instead of the pipeline."""

import time
from pathlib import Path

import numpy as np
import pytest

from stream_ae.core.alerting import OPENED
from stream_ae.core.records import Point
from stream_ae.core.windows import WindowStore

from ..benchmark_modules import benchmark_module
from ..core.doubles import last_step_detector


@pytest.fixture(scope="module")
def speed():  # type: ignore[no-untyped-def]
    with benchmark_module("speed") as module:
        yield module


@pytest.mark.parametrize("scores_before", [1, 5, 200])
@pytest.mark.parametrize("over_floor", [1.05, 1.5])
def test_a_window_over_the_floor_opens_at_once(
    speed, tmp_path: Path, scores_before: int, over_floor: float
) -> None:
    settings = speed.settings_for("127.0.0.1:9", tmp_path, "speed-test", 1, 10)
    detector = last_step_detector(settings)  # score: the newest value squared
    window = settings.window.length
    clean = 0.5 * np.sin(np.arange(window - 1 + scores_before))  # scores up to 0.25
    spike = float(np.sqrt(over_floor * speed.FLOOR))
    points = [Point("s", float(t), (float(v),)) for t, v in enumerate([*clean, spike])]
    out = detector.process(points)
    states = np.concatenate([rows.state for rows in out.scored])
    scores = np.concatenate([rows.score for rows in out.scored])
    assert scores[-1] == pytest.approx(over_floor * speed.FLOOR)
    assert states[-1] == OPENED
    assert (states[:-1] != OPENED).all()


def test_latency_counts_the_alerts_of_spiked_points_alone(speed) -> None:
    values = np.zeros((10, 2))
    stream = speed.e2e.Stream(values, spikes=[(4, 0), (6, 1)])
    stream.sent[:] = np.arange(10)[:, None] + np.array([0.0, 0.5])
    stream.opened += [
        (4, 0, 4.25),  # the spike of series 0, read 0.25 s after its send
        (5, 0, 5.5),  # a window that still holds it, opened again: a clean point
        (6, 1, 6.5 + 0.125),  # the spike of series 1
        (8, 1, 8.5 + 0.1),  # a clean alert
    ]
    assert speed.spike_latencies(stream, 0, 10).tolist() == [0.25, 0.125]
    assert speed.spike_latencies(stream, 5, 10).tolist() == [0.125]


@pytest.mark.parametrize("hop", [1, 8])
def test_every_spike_lands_on_a_point_its_series_scores(speed, hop: int) -> None:
    series, steps = 300, speed.WINDOW + 6 * 64
    names = speed.e2e.Stream.names_of(series)
    phases = speed.phases_of(names, hop)
    first = speed.WINDOW - 1 + hop
    while not speed.scored_step(first, hop):
        first += 1
    planned = speed.spike_schedule(series, hop, first, steps, phases)
    assert {int(phases[i]) for _, i in planned} == set(range(hop))  # every phase spiked
    store = WindowStore(speed.WINDOW, 1, hop=hop, max_series=series)
    scored = set()
    for step in range(steps):
        for name in names:
            assert store.push(name, float(step), (0.0,)) is None
        if store.needs_drain or step == steps - 1:
            got = store.drain().batch
            scored.update(zip(got.end_ts.astype(int).tolist(), got.series, strict=True))
    assert all((step, names[i]) in scored for step, i in planned)
    counted = speed.scored_windows(phases, hop, 0, steps)
    assert counted == len(scored)


def test_the_latency_to_the_alerts_send_takes_its_record_timestamp(speed) -> None:
    stream = speed.e2e.Stream(np.zeros((10, 2)), spikes=[(4, 0), (6, 1)])
    stream.sent[:] = 100.0 + np.arange(10)[:, None]
    wall = time.time() - time.perf_counter()  # this process's clocks, as the reader's
    for step, i, after in [(4, 0, 0.030), (6, 1, 0.050), (8, 1, 0.010)]:  # (8, 1): clean
        stamp_ms = round((stream.sent[step, i] + after + wall) * 1000)
        stream.stamp_opened(step, i, stamp_ms)
    got = speed.spike_stamp_latencies(stream, 0, 10)
    assert got == pytest.approx([0.030, 0.050], abs=0.002)  # the stamp is whole ms
    assert speed.spike_stamp_latencies(stream, 5, 10) == pytest.approx([0.050], abs=0.002)
