"""Series that start together at a hop above 1 score on different points: each series'
scored windows are offset by its own phase, the same for its name in every process."""

import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np

from stream_ae.core.windows import WindowStore, hop_phase

WINDOW, HOP, SERIES = 6, 4, 400


def scored_points(store: WindowStore, names: list[str], steps: int) -> dict[str, list[int]]:
    """Every series pushed one point a step, together; the steps each one's windows
    were scored on."""
    ends: dict[str, list[int]] = {name: [] for name in names}
    for step in range(steps):
        for name in names:
            assert store.push(name, float(step), (float(step),)) is None
        got = store.drain().batch
        for name, end in zip(got.series, got.end_ts.tolist(), strict=True):
            ends[name].append(int(end))
    return ends


def test_series_that_start_together_spread_their_windows_over_the_hop() -> None:
    names = [f"sensor-{i}" for i in range(SERIES)]
    ends = scored_points(WindowStore(WINDOW, 1, hop=HOP), names, WINDOW + 5 * HOP)
    per_step = Counter(end for scored in ends.values() for end in scored[1:])
    # Beyond each series' first window, a step holds about SERIES / HOP windows, not
    # every series' window once in HOP steps.
    assert max(per_step.values()) < 1.5 * SERIES / HOP
    assert len(per_step) >= 4 * HOP


def test_each_series_scores_every_hop_from_its_phase_after_its_window_fills() -> None:
    names = [f"sensor-{i}" for i in range(40)]
    steps = WINDOW + 5 * HOP
    ends = scored_points(WindowStore(WINDOW, 1, hop=HOP), names, steps)
    phases = {hop_phase(name, HOP) for name in names}
    assert phases == set(range(HOP))  # 40 names reach every phase
    for name, scored in ends.items():
        first = WINDOW - 1 + hop_phase(name, HOP)  # the window fills at step WINDOW - 1
        assert scored == list(range(first, steps, HOP)), name


def test_a_hop_above_the_window_waits_for_the_hop_then_the_phase() -> None:
    ends = scored_points(WindowStore(3, 1, hop=5), ["x", "y"], 20)
    for name, scored in ends.items():
        first = 5 - 1 + hop_phase(name, 5)
        assert scored == list(range(first, 20, 5)), name


def test_hop_one_scores_every_point_from_the_first_full_window() -> None:
    names = [f"sensor-{i}" for i in range(20)]
    assert {hop_phase(name, 1) for name in names} == {0}
    ends = scored_points(WindowStore(WINDOW, 1, hop=1), names, 15)
    assert all(scored == list(range(WINDOW - 1, 15)) for scored in ends.values())


def test_a_series_phase_is_the_same_in_another_process() -> None:
    names = ["sensor-1", "pump/7 vibration", "ünïcode", "", "\ud800 lone surrogate"]
    code = (
        "import json, sys; from stream_ae.core.windows import hop_phase; "
        "print(json.dumps([hop_phase(n, 8) for n in json.loads(sys.argv[1])]))"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(names)], env=env, capture_output=True, check=True
    )
    assert json.loads(out.stdout) == [hop_phase(n, 8) for n in names]


def test_phases_spread_evenly_over_many_names() -> None:
    counts = np.bincount([hop_phase(f"s{i:05d}", 8) for i in range(8000)], minlength=8)
    assert counts.min() > 0.8 * 1000 and counts.max() < 1.2 * 1000


def test_without_stagger_hop_equal_to_the_window_tumbles_from_the_first_point() -> None:
    names = [f"sensor-{i}" for i in range(20)]
    assert {hop_phase(name, 3) for name in names} != {0}
    ends = scored_points(WindowStore(3, 1, hop=3, stagger=False), names, 15)
    assert all(scored == [2, 5, 8, 11, 14] for scored in ends.values())


def test_a_gap_shared_by_every_series_does_not_line_them_up_again() -> None:
    names = [f"sensor-{i}" for i in range(SERIES)]
    store = WindowStore(WINDOW, 1, hop=HOP, gap_policy="reset")
    per_step: Counter[int] = Counter()
    outage = 30
    for step in [*range(outage), *range(outage + 100, outage + 100 + WINDOW + 4 * HOP)]:
        for name in names:
            assert store.push(name, float(step), (float(step),)) is None
        per_step.update(int(end) for end in store.drain().batch.end_ts.tolist())
    after = {step: n for step, n in per_step.items() if step > outage}
    assert after  # the windows started again after the outage
    assert max(after.values()) < 1.5 * SERIES / HOP
