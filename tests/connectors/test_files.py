"""File readers: columns found or refused at open, bad rows rejected in place."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import pytest

from stream_ae.connectors.dead_letters import RAW_LIMIT
from stream_ae.connectors.files import open_points
from stream_ae.core.records import Point, Rejection, RejectReason
from stream_ae.errors import InputError

MACHINE_TEMPERATURE = "data/realKnownCause/machine_temperature_system_failure.csv"
T0 = 1386018900.0  # 2013-12-02 21:15:00 UTC


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def points(items: list[Point | Rejection]) -> list[Point]:
    return [item for item in items if isinstance(item, Point)]


def rejections(items: list[Point | Rejection]) -> list[Rejection]:
    return [item for item in items if isinstance(item, Rejection)]


def test_real_nab_file_head(tmp_path: Path, nab_dir: Path) -> None:
    nab = nab_dir / MACHINE_TEMPERATURE
    with nab.open(encoding="utf-8") as source:
        head = "".join(itertools.islice(source, 50))
    path = write(tmp_path, nab.name, head)
    reader = open_points(path)
    items = list(reader)
    assert reader.channels == ("value",)
    assert reader.series_default == "machine_temperature_system_failure"
    assert len(items) == 49 and all(isinstance(item, Point) for item in items)
    first = points(items)[0]
    assert first.series == "machine_temperature_system_failure"
    assert first.ts == T0
    assert first.values == pytest.approx((73.96732207,))
    assert [p.ts for p in points(items)[:3]] == [T0, T0 + 300, T0 + 600]


def test_nab_style_file_and_label_column_ignored(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "nyc_taxi.csv",
        "timestamp,value,label\n2013-12-02 21:15:00,10,0\n2013-12-02 21:20:00,12.5,1\n",
    )
    reader = open_points(path)
    assert reader.channels == ("value",)
    assert list(reader) == [Point("nyc_taxi", T0, (10.0,)), Point("nyc_taxi", T0 + 300, (12.5,))]


def test_reader_can_be_iterated_again(tmp_path: Path) -> None:
    reader = open_points(write(tmp_path, "a.csv", "ts,v\n1386018900,1\n"))
    assert list(reader) == list(reader) == [Point("a", T0, (1.0,))]


def test_multichannel_values_in_column_order(tmp_path: Path) -> None:
    path = write(tmp_path, "pump.csv", "vib,Time,temp\n0.7,1386018900,21.3\n0.8,1386018960,21.4\n")
    reader = open_points(path)
    assert reader.channels == ("vib", "temp")
    assert list(reader) == [
        Point("pump", T0, (0.7, 21.3)),
        Point("pump", T0 + 60, (0.8, 21.4)),
    ]


def test_series_column_is_detected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "plant.csv",
        "sensor,timestamp,value\npump-7,1386018900,1\nfan-2,1386018900,2\npump-7,1386018960,3\n",
    )
    reader = open_points(path)
    assert reader.channels == ("value",)
    assert [(p.series, p.values) for p in points(list(reader))] == [
        ("pump-7", (1.0,)),
        ("fan-2", (2.0,)),
        ("pump-7", (3.0,)),
    ]


def test_explicit_columns_and_series_name(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "when,a,b,c\n1386018900,1,2,3\n")
    reader = open_points(path, series="plant/x", time_column="when", value_columns=["c", "a"])
    assert reader.channels == ("c", "a")
    assert list(reader) == [Point("plant/x", T0, (3.0, 1.0))]


def test_bad_rows_become_rejections_with_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mixed.csv",
        "timestamp,value\n"
        "1386018900,1\n"  # line 2
        "1386018960,warm\n"  # 3: text value
        "1386019020\n"  # 4: missing field
        "not-a-time,4\n"  # 5: bad timestamp
        "1386019140,NaN\n"  # 6: not finite
        "1386019200,\n"  # 7: empty cell, a missing reading
        "1386019260,7\n",  # 8
    )
    items = list(open_points(path))
    assert [p.values for p in points(items)] == [(1.0,), (7.0,)]
    assert [type(item).__name__ for item in items] == ["Point"] + ["Rejection"] * 5 + ["Point"]
    bad = rejections(items)
    assert [r.source for r in bad] == [f"mixed.csv:{n}" for n in (3, 4, 5, 6, 7)]
    assert [r.reason for r in bad] == [RejectReason.MALFORMED] * 3 + [RejectReason.NON_FINITE] * 2
    assert [r.raw for r in bad] == [
        "1386018960,warm",
        "1386019020",
        "not-a-time,4",
        "1386019140,NaN",
        "1386019200,",
    ]
    assert "'warm'" in bad[0].detail and "not a number" in bad[0].detail
    assert "1 fields but the header has 2" in bad[1].detail
    assert "not-a-time" in bad[2].detail
    assert bad[3].series == "mixed" and bad[3].ts == T0 + 240
    assert all(r.detail.endswith(".") for r in bad)


def test_raw_is_truncated(tmp_path: Path) -> None:
    path = write(tmp_path, "long.csv", "timestamp,value\n1386018900," + "x" * 5000 + "\n")
    (rejection,) = rejections(list(open_points(path)))
    assert len(rejection.raw) == RAW_LIMIT


def test_empty_series_cell_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", "series,ts,value\n,1386018900,1\n")
    (rejection,) = list(open_points(path))
    assert (
        isinstance(rejection, Rejection) and "series column 'series' is empty" in rejection.detail
    )


def test_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"empty.*header"):
        open_points(write(tmp_path, "empty.csv", ""))


def test_header_only_gives_no_points(tmp_path: Path) -> None:
    reader = open_points(write(tmp_path, "head.csv", "timestamp,value\n"))
    assert reader.channels == ("value",)
    assert list(reader) == []


def test_unknown_column_is_refused_with_columns_found(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "timestamp,value\n")
    with pytest.raises(InputError, match="no value column 'temp'; columns found: timestamp, value"):
        open_points(path, value_columns=["temp"])
    with pytest.raises(InputError, match="no time column 'when'"):
        open_points(path, time_column="when")
    with pytest.raises(InputError, match="no series column 'sensor'"):
        open_points(path, series_column="sensor")


def test_without_a_time_column_rows_are_records_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, "orders.csv", "amount,items,label\n12.5,3,0\n\n990,1,1\n7,2,0\n")
    reader = open_points(path)
    assert list(reader) == [
        Point("orders", 0.0, (12.5, 3.0)),
        Point("orders", 1.0, (990.0, 1.0)),
        Point("orders", 2.0, (7.0, 2.0)),
    ]
    assert list(reader) == list(reader)  # read again, timed again from 0
    assert "no time column: rows in file order" in reader.describe()
    assert "channels: amount, items; not channels: label" in reader.describe()
    one = write(tmp_path, "one.csv", "value\n1\n2\n")
    assert [p.ts for p in open_points(one)] == [0.0, 1.0]


def test_no_value_columns_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "timestamp,label\n1,0\n")
    with pytest.raises(InputError, match="no value columns"):
        open_points(path)


def test_series_and_series_column_together_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "series,timestamp,value\n")
    with pytest.raises(InputError, match="not both"):
        open_points(path, series="x", series_column="series")


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        open_points(tmp_path / "nope.csv")
    with pytest.raises(InputError, match=r"use \.csv, \.jsonl, \.ndjson or \.lp"):
        open_points(write(tmp_path, "data.parquet", "x"))


def test_gzipped_csv(tmp_path: Path) -> None:
    path = tmp_path / "z.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write("timestamp,value\n1386018900,1.5\n")
    reader = open_points(path)
    assert reader.series_default == "z"
    assert list(reader) == [Point("z", T0, (1.5,))]


def test_byte_order_mark_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbftimestamp,value\r\n1386018900,1\r\n1386018960,x\r\n")
    items = list(open_points(path))
    assert items[0] == Point("excel", T0, (1.0,))
    assert isinstance(items[1], Rejection) and items[1].raw == "1386018960,x"


# JSONL ---------------------------------------------------------------------------------


def test_jsonl_single_point(tmp_path: Path) -> None:
    path = write(
        tmp_path, "p.jsonl", '{"series": "plant-3/pump-7", "ts": 1386018900, "value": 0.7}\n'
    )
    reader = open_points(path)
    assert reader.channels == ("value",)
    assert list(reader) == [Point("plant-3/pump-7", T0, (0.7,))]


def test_jsonl_values_keep_first_order_and_default_series(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.ndjson",
        '{"ts": "2013-12-02T21:15:00Z", "values": {"temp": 21.3, "vib": 0.7}}\n'
        "\n"
        '{"ts": 1386018960000, "values": {"vib": 0.8, "temp": 21.4}, "site": "ignored"}\n',
    )
    reader = open_points(path, series="pump")
    assert reader.channels == ("temp", "vib")
    assert list(reader) == [Point("pump", T0, (21.3, 0.7)), Point("pump", T0 + 60, (21.4, 0.8))]


def test_jsonl_array_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.jsonl",
        '[{"series": "a", "ts": 1386018900, "value": 1}, {"series": "b", "ts": 1386018900, '
        '"value": 2}, {"series": "c", "value": 3}]\n',
    )
    items = list(open_points(path))
    assert points(items) == [Point("a", T0, (1.0,)), Point("b", T0, (2.0,))]
    (bad,) = rejections(items)
    assert bad.source == "a.jsonl:1" and "ts" in bad.detail and '"c"' in bad.raw


def test_jsonl_bad_lines_are_rejected_and_reading_goes_on(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.jsonl",
        '{"ts": 1386018900, "value": 1}\n'  # 1
        '{"ts": 1386018960, "value": \n'  # 2: bad JSON
        '{"ts": 1386018960, "value": "warm"}\n'  # 3: wrong type
        '{"value": 3}\n'  # 4: missing ts
        '{"ts": true, "value": 4}\n'  # 5: bool time
        '{"ts": "soon", "value": 5}\n'  # 6: bad time
        '{"ts": 1386019020, "value": 6, "values": {"a": 1}}\n'  # 7: both
        '{"ts": 1386019080, "value": NaN}\n'  # 8: not finite
        '{"ts": 1386019140, "value": null}\n'  # 9: missing reading
        '"just a string"\n'  # 10
        '{"ts": 1386019200, "value": 10}\n',  # 11
    )
    items = list(open_points(path))
    assert [p.values for p in points(items)] == [(1.0,), (10.0,)]
    bad = rejections(items)
    assert [r.source for r in bad] == [f"bad.jsonl:{n}" for n in range(2, 11)]
    assert [r.reason for r in bad] == (
        [RejectReason.MALFORMED] * 6 + [RejectReason.NON_FINITE] * 2 + [RejectReason.MALFORMED]
    )
    assert "not valid JSON" in bad[0].detail
    assert "value:" in bad[1].detail
    assert "ts: field required" in bad[2].detail
    assert "exactly one of 'value'" in bad[5].detail
    assert bad[6].series == "bad" and bad[6].ts == T0 + 180


def test_jsonl_mixed_channel_sets_are_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "m.jsonl",
        '{"series": "p", "ts": 1386018900, "values": {"temp": 1, "vib": 2}}\n'
        '{"series": "p", "ts": 1386018960, "values": {"temp": 1}}\n'
        '{"series": "p", "ts": 1386019020, "value": 1}\n'
        '{"series": "q", "ts": 1386019020, "value": 1}\n',
    )
    items = list(open_points(path))
    assert [type(i).__name__ for i in items] == ["Point", "Rejection", "Rejection", "Point"]
    assert all(r.reason is RejectReason.WRONG_CHANNELS for r in rejections(items))
    assert "['temp', 'vib']" in rejections(items)[0].detail


def test_jsonl_channels_come_from_first_valid_point(tmp_path: Path) -> None:
    path = write(tmp_path, "c.jsonl", 'oops\n{"ts": 1386018900, "values": {"x": 1, "y": 2}}\n')
    assert open_points(path).channels == ("x", "y")


def test_jsonl_refuses_csv_options(tmp_path: Path) -> None:
    path = write(tmp_path, "c.jsonl", "")
    with pytest.raises(InputError, match="time_column apply to CSV files only"):
        open_points(path, time_column="ts")
    assert open_points(path).channels == ()


def test_a_time_column_under_another_name_is_not_read_as_a_channel(tmp_path: Path) -> None:
    by_name = write(tmp_path, "a.csv", "epoch_s,temp\n1732262400,21.5\n")
    with pytest.raises(InputError, match="'epoch_s' looks like one; name it with time_column"):
        open_points(by_name)
    by_cell = write(tmp_path, "b.csv", "moment,temp\n2024-11-22 08:00:00,21.5\n")
    with pytest.raises(InputError, match="'moment' looks like one"):
        open_points(by_cell)
    assert [p.ts for p in open_points(by_cell, time_column="moment")] == [1732262400.0]
    spaced = write(tmp_path, "c.csv", "Temperature (C)\n21.5\n22.0\n")
    assert [p.values for p in open_points(spaced)] == [(21.5,), (22.0,)]
