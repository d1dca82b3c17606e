from __future__ import annotations

import numpy as np
import pytest

from stream_ae.connectors.scored import ScoredSeries
from stream_ae.core.records import Alert, AlertState, Severity
from stream_ae.plant.evaluate import Incident, evaluate, open_spans, spans_of_rows

GRACE = 60.0


def alert(series: str, ts: float, state: AlertState = AlertState.OPEN, n: int = 0) -> Alert:
    return Alert(
        f"a{n}", f"i{n}", series, ts, 2.0, 1.0, Severity.WARNING, state, "v1", "lstm-ae", ts
    )


SPIKE = Incident("pump-1", "spike", 1000.0, 1120.0)
SHIFT = Incident("pump-2", "level_shift", 5000.0, 9000.0)


def test_an_alert_at_the_start_has_no_delay() -> None:
    report = evaluate([alert("pump-1", 1000.0)], [SPIKE], grace_s=GRACE)
    (spike,) = report.kinds
    assert (spike.kind, spike.incidents, spike.detected, spike.recall) == ("spike", 1, 1, 1.0)
    assert spike.median_delay_s == spike.max_delay_s == 0.0
    assert (report.true_alerts, report.false_alerts, report.precision) == (1, 0, 1.0)


def test_an_alert_within_the_grace_detects_late() -> None:
    report = evaluate([alert("pump-1", 1120.0 + GRACE)], [SPIKE], grace_s=GRACE)
    assert report.overall.detected == 1
    assert report.overall.max_delay_s == 180.0


def test_an_alert_after_end_plus_grace_misses_and_is_false() -> None:
    late = alert("pump-1", 1120.0 + GRACE + 1.0)
    report = evaluate([late], [SPIKE], grace_s=GRACE)
    assert report.overall.detected == 0
    assert report.recall == 0.0
    assert report.overall.median_delay_s is None
    assert (report.false_alerts, report.precision) == (1, 0.0)
    assert report.missed == (SPIKE,)
    assert report.unmatched == (late,)


def test_an_alert_before_the_start_is_false() -> None:
    report = evaluate([alert("pump-1", 999.0)], [SPIKE], grace_s=GRACE)
    assert (report.overall.detected, report.false_alerts) == (0, 1)


def test_two_alerts_in_one_incident_are_one_detection_and_no_false_alert() -> None:
    # Out of order on purpose: the earliest one sets the delay.
    alerts = [alert("pump-2", 7000.0, n=1), alert("pump-2", 5600.0, n=2)]
    report = evaluate(alerts, [SHIFT], grace_s=GRACE)
    assert report.overall.detected == 1
    assert report.overall.median_delay_s == 600.0
    assert (report.alerts_opened, report.true_alerts, report.false_alerts) == (2, 2, 0)


def test_an_alert_on_another_series_is_false() -> None:
    report = evaluate([alert("pump-2", 1050.0)], [SPIKE], grace_s=GRACE)
    assert (report.overall.detected, report.false_alerts) == (0, 1)


def test_resolve_messages_are_not_counted() -> None:
    alerts = [alert("pump-1", 1010.0), alert("pump-1", 9999.0, AlertState.RESOLVED)]
    report = evaluate(alerts, [SPIKE], grace_s=GRACE)
    assert (report.alerts_opened, report.false_alerts) == (1, 0)


def test_empty_inputs() -> None:
    report = evaluate([], [], grace_s=GRACE, sensor_days=2.0)
    assert report.kinds == ()
    assert (report.overall.incidents, report.overall.recall) == (0, None)
    assert (report.alerts_opened, report.precision, report.false_per_sensor_day) == (0, None, 0.0)
    assert "all" in report.table()


def test_no_alerts_misses_everything() -> None:
    report = evaluate([], [SPIKE, SHIFT], grace_s=GRACE)
    assert report.recall == 0.0
    assert report.precision is None
    assert report.missed == (SPIKE, SHIFT)


def test_per_kind_rows_follow_the_simulator_order_and_sum_to_all() -> None:
    truth = [
        SHIFT,
        SPIKE,
        Incident("pump-3", "spike", 100.0, 100.0),
        Incident("pump-4", "labelled", 0.0, 10.0),
    ]
    alerts = [alert("pump-1", 1060.0), alert("pump-3", 100.0), alert("pump-5", 1.0)]
    report = evaluate(alerts, truth, grace_s=GRACE, sensor_days=4.0)
    assert [k.kind for k in report.kinds] == ["spike", "level_shift", "labelled"]
    spike = report.kinds[0]
    assert (spike.incidents, spike.detected, spike.median_delay_s, spike.max_delay_s) == (
        2,
        2,
        30.0,
        60.0,
    )
    assert (report.overall.incidents, report.overall.detected) == (4, 2)
    assert report.precision == pytest.approx(2 / 3)
    assert report.false_per_sensor_day == 0.25


def test_table_is_aligned() -> None:
    report = evaluate([alert("pump-1", 1030.0)], [SPIKE, SHIFT], grace_s=GRACE)
    lines = report.table().splitlines()
    assert lines[0].split() == [
        "kind",
        "incidents",
        "detected",
        "recall",
        "median",
        "delay",
        "s",
        "max",
        "delay",
        "s",
        "point",
        "recall",
        "open/length",
    ]
    rows = [ln for ln in lines if ln.split() and ln.split()[0] in ("spike", "level_shift", "all")]
    assert len(rows) == 3
    assert len({len(ln) for ln in rows}) == 1
    spike = rows[0].split()
    assert spike == ["spike", "1", "1", "1.00", "30", "30", "-", "-"]
    assert rows[1].split()[-5:] == ["0.00", "-", "-", "-", "-"]
    assert "precision 1.00" in lines[-1]
    assert "per sensor-day -" in lines[-1]


@pytest.mark.parametrize("grace", [-1.0, float("nan")])
def test_bad_grace_is_refused(grace: float) -> None:
    with pytest.raises(ValueError, match="grace_s must be"):
        evaluate([], [], grace_s=grace)


def test_bad_sensor_days_are_refused() -> None:
    with pytest.raises(ValueError, match="sensor_days must be a positive"):
        evaluate([], [], grace_s=0.0, sensor_days=0.0)


STEP = 60.0
# Three lasting faults of 100 rows each (start + 99 steps, inclusive).
VALVES = [
    Incident("pump-1", "valve_closing", 6000.0, 6000.0 + 99 * STEP),
    Incident("pump-2", "valve_closing", 6000.0, 6000.0 + 99 * STEP),
    Incident("pump-3", "valve_closing", 6000.0, 6000.0 + 99 * STEP),
]


def incident(series: str, n: int, opened: float, resolved: float | None) -> list[Alert]:
    found = [alert(series, opened, n=n)]
    if resolved is not None:
        found.append(alert(series, resolved, AlertState.RESOLVED, n=n))
    return found


def lasting_alerts() -> list[Alert]:
    return [
        # pump-1: open over rows 20..49 (the resolving row 50 is no longer open).
        *incident("pump-1", 1, 6000.0 + 20 * STEP, 6000.0 + 50 * STEP),
        # pump-2: missed. pump-3: opened at row 90 and never resolved.
        *incident("pump-3", 2, 6000.0 + 90 * STEP, None),
    ]


def test_point_recall_and_open_share_inside_lasting_faults() -> None:
    report = evaluate(lasting_alerts(), VALVES, grace_s=GRACE, step_s=STEP)
    (valve,) = report.kinds
    assert (valve.kind, valve.incidents, valve.detected) == ("valve_closing", 3, 2)
    assert valve.point_recall == pytest.approx(40 / 300)
    assert valve.median_open_share == pytest.approx(0.10)  # of 0.30, 0.00, 0.10
    assert report.overall.point_recall == pytest.approx(40 / 300)
    row = next(ln for ln in report.table().splitlines() if ln.startswith("valve_closing"))
    assert row.split()[-2:] == ["0.13", "0.10"]


def test_an_incident_opened_before_the_fault_covers_it_from_its_first_row() -> None:
    alerts = incident("pump-1", 1, 3000.0, 6000.0 + 100 * STEP)
    report = evaluate(alerts, VALVES[:1], grace_s=GRACE, step_s=STEP)
    assert report.overall.detected == 0, "it opened before the fault: a false alert"
    assert (report.overall.point_recall, report.overall.median_open_share) == (1.0, 1.0)


def test_scored_rows_give_the_same_spans_as_the_alerts() -> None:
    ts = 6000.0 + STEP * np.arange(-10, 120)
    states: dict[str, list[str]] = {s: [""] * len(ts) for s in ("pump-1", "pump-2", "pump-3")}
    states["pump-1"][30] = "open"
    states["pump-1"][31:60] = ["active"] * 29
    states["pump-1"][60] = "resolved"
    states["pump-3"][100] = "open"
    states["pump-3"][101:] = ["active"] * (len(ts) - 101)
    scored = {
        s: ScoredSeries(
            ts,
            np.zeros((len(ts), 1)),
            np.ones(len(ts)),
            np.ones(len(ts)),
            np.ones(len(ts)),
            tuple(st),
        )
        for s, st in states.items()
    }
    spans = {s: spans_of_rows(rows.ts, rows.in_incident) for s, rows in scored.items()}
    assert spans == open_spans(lasting_alerts()) | {"pump-2": []}
    from_rows = evaluate([], VALVES, grace_s=GRACE, step_s=STEP, spans=spans)
    from_alerts = evaluate(lasting_alerts(), VALVES, grace_s=GRACE, step_s=STEP)
    assert from_rows.kinds[0].point_recall == from_alerts.kinds[0].point_recall
    assert from_rows.kinds[0].median_open_share == from_alerts.kinds[0].median_open_share


def test_without_a_step_there_is_no_point_recall() -> None:
    report = evaluate(lasting_alerts(), VALVES, grace_s=GRACE)
    assert (report.overall.point_recall, report.overall.median_open_share) == (None, None)
    assert report.table().splitlines()[2].split()[-2:] == ["-", "-"]


def test_lasting_fault_kinds_follow_the_one_channel_kinds() -> None:
    truth = [VALVES[0], Incident("pump-9", "sensor_stuck", 0.0, 60.0), SPIKE]
    report = evaluate([], truth, grace_s=GRACE)
    assert [k.kind for k in report.kinds] == ["spike", "valve_closing", "sensor_stuck"]


@pytest.mark.parametrize("step", [0.0, float("inf")])
def test_bad_step_is_refused(step: float) -> None:
    with pytest.raises(ValueError, match="step_s must be"):
        evaluate([], [], grace_s=0.0, step_s=step)
