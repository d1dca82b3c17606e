from pathlib import Path

import pytest

from stream_ae.connectors.labels import LabelError, read_label_windows


def test_windows_are_read_by_series_in_any_time_format(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "series,start,end\n"
        "pump-1,1700000000,1700000600\n"
        "pump-1,2023-11-14 22:30:00,2023-11-14T22:40:00Z\n"
        "\n"
        "fan-3,1700000000000,1700000060000\n"
    )
    assert read_label_windows(path) == {
        "pump-1": [(1700000000.0, 1700000600.0), (1700001000.0, 1700001600.0)],
        "fan-3": [(1700000000.0, 1700000060.0)],
    }


def test_a_missing_header_says_what_the_file_must_start_with(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("pump-1,1,2\n")
    with pytest.raises(LabelError, match="header 'series,start,end'"):
        read_label_windows(path)


def test_every_bad_row_is_named_by_line_and_nothing_is_half_read(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "series,start,end\npump-1,1700000000,1700000600\npump-1,soon,1700000600\n"
        "pump-1,1700000600,1700000000\n,1,2\npump-2,1\n"
    )
    with pytest.raises(LabelError) as caught:
        read_label_windows(path)
    message = str(caught.value)
    assert "4 bad label row(s)" in message
    assert "line 3: The timestamp 'soon'" in message
    assert "line 4: end 1700000000 is before start 1700000600" in message
    assert "line 5: expected series,start,end" in message and "line 6:" in message


def test_an_unreadable_file_is_a_label_error(tmp_path: Path) -> None:
    with pytest.raises(LabelError, match="cannot read labels"):
        read_label_windows(tmp_path / "absent.csv")
