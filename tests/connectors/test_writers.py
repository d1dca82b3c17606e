"""Writers and the alert / rejection wire formats."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from stream_ae.connectors.scored import ScoredCsvWriter, read_scored
from stream_ae.connectors.wire import alert_from_dict, alert_to_dict
from stream_ae.connectors.writers import AlertWriter, RejectWriter
from stream_ae.core.records import (
    Alert,
    AlertState,
    Contributor,
    Point,
    Rejection,
    RejectReason,
    Severity,
)

T0 = 1386018900.0


def make_alert(**changes: object) -> Alert:
    fields: dict[str, object] = {
        "alert_id": "a-1",
        "incident_id": "i-1",
        "series": "plant-3/pump-7",
        "ts": T0,
        "score": 4.5,
        "threshold": 1.25,
        "severity": Severity.MAJOR,
        "state": AlertState.OPEN,
        "model_version": "v3",
        "scorer": "lstm-ae",
        "opened_ts": T0,
        "contributors": (
            Contributor(ts=T0 - 60, channel="temp", expected=21.0, actual=35.5, error=2.1),
        ),
        "channel": "temp",
    }
    fields.update(changes)
    return Alert(**fields)  # type: ignore[arg-type]


def test_alert_round_trip_through_writer(tmp_path: Path) -> None:
    alert = make_alert()
    resolved = make_alert(alert_id="a-2", state=AlertState.RESOLVED, contributors=(), channel=None)
    path = tmp_path / "out" / "deep" / "alerts.jsonl"  # parent dirs are created
    with AlertWriter(path) as writer:
        writer.write(alert)
        writer.write(resolved)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first == {
        "format": 1,
        "alert_id": "a-1",
        "incident_id": "i-1",
        "series": "plant-3/pump-7",
        "ts": T0,
        "score": 4.5,
        "threshold": 1.25,
        "severity": "major",
        "state": "open",
        "model_version": "v3",
        "scorer": "lstm-ae",
        "opened_ts": T0,
        "contributors": [
            {"ts": T0 - 60, "channel": "temp", "expected": 21.0, "actual": 35.5, "error": 2.1}
        ],
        "channel": "temp",
    }
    assert alert_from_dict(first) == alert
    second = json.loads(lines[1])
    assert second["channel"] is None
    assert alert_from_dict(second) == resolved


def test_an_alert_written_before_the_driving_channel_was_named_still_reads() -> None:
    data = alert_to_dict(make_alert())
    del data["channel"]
    assert alert_from_dict(data) == make_alert(channel=None)


def test_alert_dict_covers_every_alert_field() -> None:
    assert set(alert_to_dict(make_alert())) == set(Alert.__dataclass_fields__) | {"format"}


def test_non_finite_numbers_become_null() -> None:
    data = alert_to_dict(make_alert(score=math.inf))
    assert data["score"] is None
    json.dumps(data, allow_nan=False)  # strict JSON


def test_unknown_alert_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format 2"):
        alert_from_dict({**alert_to_dict(make_alert()), "format": 2})


def test_scored_csv_header_and_rows(tmp_path: Path) -> None:
    path = tmp_path / "scored.csv"
    with ScoredCsvWriter(path, ["temp", "vib"]) as writer:
        writer.write(Point("pump", T0, (21.5, 0.75)), 3.5, 1.25, "open", "lstm-ae", 0.75)
        writer.write(Point("pump", T0 + 0.5, (21.0, 0.5)), None, None)
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    assert rows == [
        [
            *("series", "timestamp", "temp", "vib"),
            *("score", "threshold", "level", "alert_state", "scorer"),
        ],
        ["pump", "2013-12-02T21:15:00Z", "21.5", "0.75", "3.5", "1.25", "0.75", "open", "lstm-ae"],
        ["pump", "2013-12-02T21:15:00.500000Z", "21.0", "0.5", "", "", "", "", ""],
    ]
    _, read = read_scored(path)
    assert read["pump"].level[0] == 0.75 and np.isnan(read["pump"].level[1])


def test_a_scored_csv_without_the_level_column_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    path.write_text(
        "series,timestamp,value,score,threshold,alert_state,scorer\n"
        "pump,2013-12-02T21:15:00Z,1.0,3.5,1.25,open,lstm-ae\n"
    )
    _, read = read_scored(path)
    assert read["pump"].score.tolist() == [3.5] and np.isnan(read["pump"].level[0])


def test_scored_csv_refuses_misuse(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="score"):
        ScoredCsvWriter(tmp_path / "x.csv", ["score"])
    with ScoredCsvWriter(tmp_path / "y.csv", ["value"]) as writer:
        with pytest.raises(ValueError, match="alert_state"):
            writer.write(Point("s", T0, (1.0,)), 1.0, 1.0, "opened")
        with pytest.raises(ValueError, match="2 values"):
            writer.write(Point("s", T0, (1.0, 2.0)), 1.0, 1.0)


def test_reject_writer(tmp_path: Path) -> None:
    rejection = Rejection(
        RejectReason.NON_FINITE,
        "Column 'value' is NaN; only finite numbers can be scored.",
        series="pump",
        ts=T0,
        source="pump.csv:7",
        raw="1386018900,NaN",
    )
    path = tmp_path / "rejects.jsonl"
    writer = RejectWriter(path)
    writer.write(rejection)
    writer.close()
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "format": 1,
        "source": "pump.csv:7",
        "reason": "non_finite",
        "detail": "Column 'value' is NaN; only finite numbers can be scored.",
        "raw": "1386018900,NaN",
        "series": "pump",
        "ts": T0,
    }
