"""CSV files as spreadsheets and pipelines write them: other separators, decimal commas,
label columns beside the readings."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_ae.cli.main import main
from stream_ae.connectors.files import Columns, open_points
from stream_ae.core.records import Point, Rejection
from stream_ae.errors import InputError

T0 = 1386018900.0  # 2013-12-02 21:15:00 UTC


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("sep", [";", "\t", "|", ","])
def test_the_separator_is_told_from_the_file(tmp_path: Path, sep: str) -> None:
    rows = ["timestamp", "flow", "pressure"], ["2013-12-02 21:15:00", "1.5", "7"]
    path = write(tmp_path, "unit.csv", "\n".join(sep.join(r) for r in rows) + "\n")
    reader = open_points(path)
    assert reader.channels == ("flow", "pressure")
    assert list(reader) == [Point("unit", T0, (1.5, 7.0))]


def test_a_semicolon_file_reads_decimal_commas(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pump.csv",
        "timestamp;value\n2013-12-02 21:15:00;73,9\n2013-12-02 21:20:00;-0,5\n",
    )
    assert [p.values for p in open_points(path)] == [(73.9,), (-0.5,)]


@pytest.mark.parametrize("sep", ["\t", "|"])
def test_beside_tabs_and_bars_a_comma_is_no_decimal_point(tmp_path: Path, sep: str) -> None:
    path = write(tmp_path, "x.csv", f"timestamp{sep}value\n2013-12-02 21:15:00{sep}1,050\n")
    (item,) = list(open_points(path))
    assert isinstance(item, Rejection)  # a thousand and fifty, or 1.05: refused, not guessed
    assert "split by ';'" in item.detail


def test_a_decimal_comma_in_a_comma_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = write(tmp_path, "pump.csv", 'timestamp,value\n2013-12-02 21:15:00,"73,9"\n')
    (item,) = list(open_points(path))
    assert isinstance(item, Rejection)
    assert "'73,9'" in item.detail and "decimal comma" in item.detail


def test_label_columns_are_never_channels(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "nab.csv",
        "timestamp,value,Anomaly,is_anomaly,changepoint,label\n2013-12-02 21:15:00,1.0,0,0,0,0\n",
    )
    reader = open_points(path)
    assert reader.channels == ("value",)
    assert list(reader) == [Point("nab", T0, (1.0,))]
    assert "not channels: Anomaly, is_anomaly, changepoint, label" in reader.describe()


def test_more_columns_can_be_left_out_and_named_channels_are_taken(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "timestamp,a,note,anomaly\n2013-12-02 21:15:00,1,2,3\n")
    assert Columns(ignore_columns=("note",)).open(path).channels == ("a",)
    # channels named on purpose are the user's choice, labels or not
    assert Columns(value_columns=("a", "anomaly")).open(path).channels == ("a", "anomaly")


def test_an_unsplit_header_says_which_separator_was_used(tmp_path: Path) -> None:
    path = write(tmp_path, "one.csv", "timestamp value\n2013-12-02 21:15:00 1\n")
    with pytest.raises(InputError, match=r"no time column.*--delimiter"):
        open_points(path)


def test_a_given_separator_wins_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "timestamp;a,b\n2013-12-02 21:15:00;1,5\n")
    assert open_points(path, delimiter=";").channels == ("a,b",)
    assert open_points(path, delimiter=";").describe().startswith("x.csv: fields split by ';'")
    with pytest.raises(InputError, match="one character"):
        open_points(path, delimiter=";;")
    jsonl = write(tmp_path, "x.jsonl", '{"series": "a", "ts": 1, "values": [1]}\n')
    with pytest.raises(InputError, match="delimiter"):
        open_points(jsonl, delimiter=";")


def test_detect_says_how_it_reads_the_file_on_its_first_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["time;temp;label"] + [f"{i * 60};2{i % 7},5;0" for i in range(80)]
    path = write(tmp_path, "room.csv", "\n".join(lines) + "\n")
    code = main(["detect", str(path), "--out", str(tmp_path / "out"), "--no-progress", "-q"])
    first = capsys.readouterr().out.splitlines()[0]
    assert code == 0
    assert first == (
        "room.csv: fields split by ';', time column 'time', series 'room', channels: temp; "
        "not channels: label"
    )
