"""CSV rows a chunk at a time (`PointReader.chunks`): the points and refusals iterating
the same file gives, row for row, whatever the rows hold."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from stream_ae.connectors.csv_columns import epoch_seconds, numbers
from stream_ae.connectors.files import CsvPointReader, PointReader, open_points
from stream_ae.core.records import Point, Rejection
from stream_ae.errors import InputError

TIMES = [
    "2025-01-01 00:00:{s:02d}",
    "2025-01-01T00:00:{s:02d}z",
    "2025-01-01 00:00:{s:02d}ZZ",
    "2025-01-01T00:00:{s:02d}",
    "2025-01-01T00:00:{s:02d}Z",
    "2025-01-01 00:00:{s:02d}+01:00",
    "2025-01-01T00:00:{s:02d}-09:30",
    "2025-01-01T00:00:{s:02d}+24:00",
    "2025-01-01T00:00:{s:02d}+01:60",
    "2025-01-01T00:00:{s:02d}+0100",
    "0001-01-01T00:00:{s:02d}+01:00",
    "9999-12-31T23:59:{s:02d}-01:00",
    "2025-01-01 00:00:{s:02d}.250",
    "{epoch}",
    "{epoch}000",
    "{epoch}.5",
    " {epoch} ",
]
"""Forms a file's times come in; a file mostly keeps to one."""
ODD_TIMES = [
    "2025-02-30 00:00:00",
    "0000-01-01 00:00:00",
    "0000-12-31 23:59:59-00:01",  # numpy's year 0, moved into range by the offset
    "2025-01-01 00:00:00\x00junk",  # csv keeps NUL bytes within a cell
    "2025-01-01 00:00:00\x00+01:00",
    "2025-01-01 24:00:00",
    "2025-1-01 00:00:00x",
    "yesterday",
    "",
    "nan",
    "1e400",
    "-1e300",
]
VALUES = ["1.5", " -2 ", "3e2", "1_000", "+.5", "7."]
ODD_VALUES = ["", " ", "nan", "inf", "-Infinity", "1e31", "-1e30", "1e30", "abc", "4,5", "0x1"]
SERIES = ["a", " b ", "sensor-7"]
ODD_SERIES = ["", "   ", "bad\x01id", "x" * 300]


def random_csv(path: Path, rng: random.Random, delimiter: str, time_form: str) -> Path:
    """A file whose rows are mostly ordinary, with every kind of trouble now and then."""
    lines = [delimiter.join(["timestamp", "series", "temp", "flow", "label"])]
    for n in range(rng.randint(1, 60)):
        form = rng.choice(TIMES) if rng.random() < 0.05 else time_form
        ts = form.format(s=n % 60, epoch=1_735_689_600 + n)
        if rng.random() < 0.05:
            ts = rng.choice(ODD_TIMES)
        series = rng.choice(ODD_SERIES) if rng.random() < 0.04 else rng.choice(SERIES)
        cells = [ts, series]
        for _ in range(2):
            odd = rng.random() < 0.06
            cells.append(rng.choice(ODD_VALUES) if odd else rng.choice(VALUES))
        cells.append(rng.choice(["0", "1"]))
        if rng.random() < 0.03:
            cells = cells[: rng.randint(1, 4)]  # a short row
        elif rng.random() < 0.03:
            cells.append("extra")
        row = delimiter.join(cells)
        lines.append("" if rng.random() < 0.02 else row)
    path.write_text("\n".join(lines) + "\n")
    return path


Read = list[tuple[Point, str] | Rejection]
"""A file's points (with their source) and refusals, in file order."""


def by_iteration(reader: PointReader) -> Read:
    return [item if isinstance(item, Rejection) else (item, reader.last_source) for item in reader]


def by_chunks(reader: PointReader, rows: int) -> Read:
    read: Read = []
    for chunk in reader.chunks(rows):
        refused = list(zip(chunk.refused_at, chunk.refused, strict=True))
        for i in range(len(chunk.points)):
            read += [rejection for at, rejection in refused if at == i]
            read.append((chunk.points[i], reader.source(chunk.lines[i])))
        read += [rejection for at, rejection in refused if at == len(chunk.points)]
    return read


@pytest.mark.parametrize("delimiter", [",", ";"])
@pytest.mark.parametrize(
    "time_form",
    [
        "2025-01-01 00:00:{s:02d}",
        "2025-01-01T00:00:{s:02d}Z",
        "2025-01-01T00:00:{s:02d}+05:45",
        "{epoch}",
        "{epoch}000",
    ],
)
def test_chunks_give_what_iterating_gives_row_for_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, delimiter: str, time_form: str
) -> None:
    read_one_by_one = [0]
    by_row = CsvPointReader._point

    def counted(reader: CsvPointReader, *args: object) -> Point | Rejection:
        read_one_by_one[0] += 1
        return by_row(reader, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(CsvPointReader, "_point", counted)
    rng = random.Random(f"{delimiter}{time_form}")
    compared = in_chunks = 0
    for k in range(120):
        path = random_csv(tmp_path / f"f{k}.csv", rng, delimiter, time_form)
        reader = open_points(path, delimiter=delimiter)
        expected = by_iteration(reader)
        for rows in (1, 3, 7, 1000):
            before = read_one_by_one[0]
            assert by_chunks(reader, rows) == expected, (path.read_text(), rows)
            in_chunks += len(expected) - (read_one_by_one[0] - before)
        compared += 4 * len(expected)
    # Both ways are exercised, on thousands of rows: most rows a column at a time.
    assert compared > 10_000 and 0.5 * compared < in_chunks < 0.95 * compared


def test_a_file_without_time_or_series_column_counts_rows_as_times(tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    path.write_text("a,b\n1,2\nx,3\n\n4,5\n6\n7,8\n")
    reader = open_points(path)
    expected = by_iteration(reader)
    assert [item[0].ts for item in expected if isinstance(item, tuple)] == [0.0, 2.0, 4.0]
    for rows in (1, 2, 10):
        assert by_chunks(reader, rows) == expected


def test_a_gzipped_file_reads_the_same(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "points.csv.gz"
    rows = "".join(f"2025-01-01 00:00:{s:02d},{s * 0.5}\n" for s in range(50))
    path.write_bytes(gzip.compress(("timestamp,value\n" + rows).encode()))
    reader = open_points(path)
    assert by_chunks(reader, 16) == by_iteration(reader)
    assert len(by_iteration(reader)) == 50


def test_plain_dates_are_parsed_at_once_and_other_forms_are_left_to_the_reader() -> None:
    times = epoch_seconds(
        [
            "2013-12-02 21:15:00",
            "2013-12-02T21:15:00",
            "1732262400250",  # a number among dates
            "2013-12-02T21:15:00Z",
            "2013-12-02 21:15:00z",
            "2013-12-02 22:15:00+01:00",
            "2013-12-02T12:45:00-08:30",
            "2013-12-02 21:15",  # shorter
            "2013-12-02 21:15:00+24:00",  # no such offset: the reader says so
            "2013-12-02 21:15:00+0100",  # other forms go to the reader
            "2013-12-02 21:15:00.5Z",  # and fractions of a second
            "2013-12-02 21:15:00ZZ",
            "2013-12-02x21:15:00",
            "2025-02-30 00:00:00",  # no such day: the reader says so
            "0000-01-01 00:00:00",  # numpy has a year 0
            "0000-12-31 23:59:59-00:01",  # and an offset would move it into range
            "2013-12-02 21:15:00\x00junk",  # csv keeps NUL bytes within a cell
            "2013-12-02 21:15:00\x00+01:00",
            "nan",
        ]
    )
    assert times[:7].tolist() == [1386018900.0] * 2 + [1732262400.25] + [1386018900.0] * 4
    assert np.isnan(times[7:]).all()
    ms = epoch_seconds(["1732262400250", "1732262400", "nan", "-1e300"])
    assert ms[:2].tolist() == [1732262400.25, 1732262400.0]
    assert np.isnan(ms[2:]).all()


def test_what_was_read_before_a_read_error_is_given_as_iterating_gives_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "long.csv"
    rows = "".join(f"2025-01-01 00:00:{s:02d},{s}\n" for s in range(10))
    path.write_text("timestamp,value\n" + rows + "2025-01-01 00:01:00," + "9" * 200_000 + "\n")
    reader = open_points(path)

    def until_the_error(read: Iterator[object]) -> list[object]:
        got = []
        with pytest.raises(InputError, match=r"long\.csv:12 cannot be read"):
            for item in read:
                got.append(item)
        return got

    points = until_the_error(iter(reader))
    chunks = until_the_error(reader.chunks(1000))
    assert len(points) == 10 and [chunk.points[i] for chunk in chunks for i in range(10)] == points  # type: ignore[attr-defined]


def test_numbers_beyond_the_limit_or_not_finite_are_left_to_the_reader() -> None:
    values = numbers(["1e30", "-1e30", "1.0000001e30", "nan", "-inf", "2", "", "4,5"])
    assert np.isnan(values).tolist() == [False, False, True, True, True, False, True, True]
