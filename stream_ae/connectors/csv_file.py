"""CSV files in: a header naming a time column, maybe a series column, and value
columns; rows read one by one, or a chunk at a time with each column parsed at once
(`csv_columns`)."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import numpy as np

from stream_ae.connectors.csv_columns import epoch_seconds, numbers
from stream_ae.connectors.point_reader import PointReader, ReadChunk, bad_row, open_text
from stream_ae.connectors.point_rules import SERIES_MAX_CHARS, VALUE_LIMIT, series_problem
from stream_ae.connectors.timestamps import parse_ts
from stream_ae.core.records import Point, PointColumns, Rejection, RejectReason
from stream_ae.errors import InputError

TIME_COLUMNS = ("timestamp", "ts", "time", "datetime", "date")
"""Names (any case) taken as the time column, in this order of preference."""
SERIES_COLUMNS = ("series", "series_id", "sensor", "id")
"""Names (any case) taken as the series column, in this order of preference."""
LABEL_COLUMNS = ("label", "anomaly", "is_anomaly", "changepoint")
"""Names (any case) of columns that label rows: never taken as channels."""
DELIMITERS = ",;\t|"
"""The CSV field separators recognised when none is given."""


class CsvPointReader(PointReader):
    """Rows of a CSV file with a header: a time column, maybe a series column, values."""

    def __init__(
        self,
        path: Path,
        series: str | None,
        stem: str,
        time_column: str | None,
        value_columns: Sequence[str] | None,
        series_column: str | None,
        ignore_columns: Sequence[str],
        delimiter: str | None = None,
    ) -> None:
        if delimiter is not None and (len(delimiter) != 1 or delimiter in '\r\n"'):
            raise InputError(
                f"The delimiter must be one character, got {delimiter!r}; for a tab give "
                "'tab' on the command line (--delimiter tab), or '\\t' in Python."
            )
        try:
            with open_text(path) as file:
                sample = file.read(_SAMPLE_CHARS)
            self.delimiter = delimiter or _sniff_delimiter(sample)
            header = [
                name.strip()
                for name in next(csv.reader([_first_line(sample)], delimiter=self.delimiter), [])
            ]
        except (OSError, EOFError, csv.Error) as exc:  # e.g. a damaged .gz
            raise InputError(f"Cannot read the header of {path.name}: {exc}.") from None
        found = f"columns found: {', '.join(header) or 'none'}"
        if len(header) == 1 and delimiter is None:
            found += (
                f" (split by {self.delimiter!r}; if the file separates its fields with "
                "another character, give it with --delimiter)"
            )

        def column(name: str, role: str) -> int:
            if name not in header:
                raise InputError(f"{path.name} has no {role} column {name!r}; {found}.")
            return header.index(name)

        if not header:
            raise InputError(
                f"{path.name} is empty; a CSV file needs a header row naming "
                "its columns, e.g. 'timestamp,value'."
            )
        if len(set(header)) != len(header):
            raise InputError(f"{path.name} repeats a column name; {found}.")
        if series is not None and series_column is not None:
            raise InputError(
                "Give either series (one name for every row) or series_column "
                "(a column naming each row's series), not both."
            )
        time_idx = (
            column(time_column, "time") if time_column is not None else _find(header, TIME_COLUMNS)
        )
        if time_idx is None:
            # Without a time column rows are records in file order, unless a column looks
            # like time under another name, or the header is one line the separator did
            # not split: then a time column would be scored as data.
            timelike = _timelike(header, sample, self.delimiter)
            unsplit = (
                len(header) == 1 and delimiter is None and any(d in header[0] for d in DELIMITERS)
            )
            if timelike or unsplit:
                looks = f", but {timelike[0]!r} looks like one" if timelike else ""
                raise InputError(
                    f"{path.name} has no time column (one of {', '.join(TIME_COLUMNS)}){looks};"
                    f" name it with time_column (--time-column); {found}."
                )
        series_idx = None  # `series` names every row: no column is looked for
        if series_column is not None:
            series_idx = column(series_column, "series")
        elif series is None:
            series_idx = _find(header, SERIES_COLUMNS)
        taken = {time_idx, series_idx} - {None}
        if value_columns is not None:
            value_idx = [column(name, "value") for name in value_columns]
            if taken & set(value_idx):
                raise InputError(
                    f"The value columns of {path.name} must not include its time "
                    f"or series column; {found}."
                )
        else:
            ignored = {name.lower() for name in (*LABEL_COLUMNS, *ignore_columns)}
            value_idx = [
                i for i, name in enumerate(header) if i not in taken and name.lower() not in ignored
            ]
        if not value_idx:
            raise InputError(
                f"{path.name} has no value columns besides time, series and labels; {found}."
            )
        super().__init__(path, series or stem, tuple(header[i] for i in value_idx))
        self._ignored = tuple(
            name for i, name in enumerate(header) if i not in taken and i not in value_idx
        )
        self._header = header
        self._time = time_idx
        """None: no time column; rows are records in arrival order, timed 0, 1, 2..."""
        self._row = -1
        self._series = series_idx
        self._values = tuple(value_idx)
        self._known_series: set[str] = set()

    def describe(self) -> str:
        time = (
            "no time column: rows in file order, timed 0, 1, 2..."
            if self._time is None
            else f"time column {self._header[self._time]!r}"
        )
        series = (
            f"series column {self._header[self._series]!r}"
            if self._series is not None
            else f"series {self.series_default!r}"
        )
        ignored = f"; not channels: {', '.join(self._ignored)}" if self._ignored else ""
        return (
            f"{self.path.name}: fields split by {self.delimiter!r}, {time}, "
            f"{series}, channels: {', '.join(self.channels)}{ignored}"
        )

    def __iter__(self) -> Iterator[Point | Rejection]:
        with open_text(self.path) as file:
            tap = _LineTap(file)
            rows = csv.reader(tap, delimiter=self.delimiter)
            next(rows, None)
            self._row = -1
            try:
                for row in rows:
                    if row and (len(row) > 1 or row[0].strip()):
                        self._row += 1
                        self.last_line = rows.line_num
                        self.last_source = self.source(rows.line_num)
                        yield self._point(row, tap.last, rows.line_num)
            except (csv.Error, OSError, EOFError) as exc:  # a field too long, a truncated .gz
                raise InputError(f"{self.source(rows.line_num)} cannot be read: {exc}.") from None

    def chunks(self, rows: int) -> Iterator[ReadChunk]:
        """What iterating gives, `rows` rows at a time, parsed a column at a time
        (`csv_columns`); a row those cannot vouch for is read as iterating reads it."""
        with open_text(self.path) as file:
            tap = _LineTap(file)
            reader = csv.reader(tap, delimiter=self.delimiter)
            next(reader, None)
            first, cells, lines, raws = 0, [], [], []
            try:
                for row in reader:
                    if row and (len(row) > 1 or row[0].strip()):
                        cells.append(row)
                        lines.append(reader.line_num)
                        raws.append(tap.last)
                        if len(cells) == rows:
                            yield self._chunk(cells, lines, raws, first)
                            first += len(cells)
                            cells, lines, raws = [], [], []
            except (csv.Error, OSError, EOFError) as exc:  # a field too long, a truncated .gz
                if cells:  # what was read before stays read, as iterating gives it
                    yield self._chunk(cells, lines, raws, first)
                raise InputError(f"{self.source(reader.line_num)} cannot be read: {exc}.") from None
        if cells:
            yield self._chunk(cells, lines, raws, first)

    def _chunk(
        self, rows: list[list[str]], lines: list[int], raws: list[str], first: int
    ) -> ReadChunk:
        """Rows `first`... of the file (`lines` theirs, `raws` their text) as columns."""
        n, width = len(rows), len(self._header)
        shaped = [i for i, row in enumerate(rows) if len(row) == width]
        cells = list(zip(*(rows[i] for i in shaped), strict=True)) if shaped else []
        ts = np.full(n, np.nan)
        values = np.full((n, len(self._values)), np.nan)
        at = np.array(shaped, dtype=np.intp)
        if shaped:
            if self._time is None:
                ts[at] = first + at  # records in file order
            else:
                ts[at] = epoch_seconds(cells[self._time])
            for k, index in enumerate(self._values):
                values[at, k] = numbers(cells[index])
        series = [self.series_default] * n
        if self._series is not None:
            for i, name in zip(shaped, cells[self._series] if shaped else (), strict=True):
                series[i] = name.strip()
        slow = np.isnan(ts) | np.isnan(values).any(axis=1)
        slow[[i for i in shaped if not self._good_series(series[i])]] = True
        refused: list[Rejection] = []
        refused_rows: list[int] = []
        read: list[Point] = []
        read_at: list[int] = []
        for i in np.flatnonzero(slow).tolist():
            self._row = first + i
            item = self._point(rows[i], raws[i], lines[i])
            if isinstance(item, Rejection):
                refused.append(item)
                refused_rows.append(i)
            else:
                read.append(item)
                read_at.append(i)
                series[i] = item.series
        if read:  # the rows read one by one join the columns at once
            slow[read_at] = False
            ts[read_at] = [point.ts for point in read]
            values[read_at] = [point.values for point in read]
        keep = np.flatnonzero(~slow)
        points = PointColumns([series[i] for i in keep.tolist()], ts[keep], values[keep])
        kept_lines = [lines[i] for i in keep.tolist()]
        refused_at = np.searchsorted(keep, refused_rows).tolist()  # points before each
        return ReadChunk(points, refused, kept_lines, refused_at)

    def _good_series(self, name: str) -> bool:
        """Whether a series column's cell is a series id the reader takes (cached)."""
        if self._series is None or name in self._known_series:
            return True
        if not name or series_problem(name) is not None:
            return False
        if len(self._known_series) >= _KNOWN_SERIES:
            self._known_series.clear()
        self._known_series.add(name)
        return True

    def has_column(self, name: str) -> bool:
        """Whether the header names this column, in any case."""
        return _find(self._header, [name.lower()]) is not None

    def column_cells(self, name: str) -> dict[int, str]:
        """Another column's cells by line number (e.g. a label column beside the points),
        so that a point can be matched through `last_source`; the name is matched in any
        case."""
        index = _find(self._header, [name.lower()])
        if index is None:
            raise InputError(
                f"{self.path.name} has no column {name!r}; columns found: "
                f"{', '.join(self._header)}."
            )
        cells = {}
        with open_text(self.path) as file:
            rows = csv.reader(file, delimiter=self.delimiter)
            next(rows, None)
            for row in rows:
                if len(row) == len(self._header):
                    cells[rows.line_num] = row[index].strip()
        return cells

    def _decimal_comma(self, cell: str) -> float | None:
        """A number written with a decimal comma ('73,9') in a file split by ';', as
        spreadsheets in many locales export it; None if the cell is not one."""
        cell = cell.strip()
        if self.delimiter != ";" or not _DECIMAL_COMMA.match(cell):
            return None  # beside tabs or '|', '1,050' may as well be a thousand and fifty
        return float(cell.replace(",", "."))

    def _point(self, row: list[str], raw: str, line: int) -> Point | Rejection:
        source = self.source(line)
        raw = raw.rstrip("\r\n")
        if len(row) != len(self._header):
            return bad_row(
                f"The row has {len(row)} fields but the header has "
                f"{len(self._header)} ({','.join(self._header)}).",
                source,
                raw,
            )
        series = self.series_default
        if self._series is not None:
            series = row[self._series].strip()
            if not series:
                return bad_row(
                    f"The series column {self._header[self._series]!r} is empty.", source, raw
                )
            problem = series_problem(series)
            if problem is not None:
                return bad_row(
                    f"The series id in column {self._header[self._series]!r} cannot be used: "
                    f"{problem}; give series ids of 1 to {SERIES_MAX_CHARS} printable characters.",
                    source,
                    raw,
                    reason=RejectReason.INVALID_SERIES,
                )
        if self._time is None:
            ts = float(self._row)
        else:
            try:
                ts = parse_ts(row[self._time])
            except ValueError as exc:
                return bad_row(f"Column {self._header[self._time]!r}: {exc}", source, raw, series)
        values = []
        for index, channel in zip(self._values, self.channels, strict=True):
            cell = row[index]
            value: float | None
            try:
                value = float(cell)
            except ValueError:
                value = self._decimal_comma(cell)
            if value is None:
                if cell.strip():
                    hint = (
                        " Numbers with a decimal comma are read only from files whose fields "
                        "are split by ';'."
                        if _DECIMAL_COMMA.match(cell.strip())
                        else ""
                    )
                    return bad_row(
                        f"Column {channel!r} holds {cell[:40]!r}, which is not a number.{hint}",
                        source,
                        raw,
                        series,
                        ts,
                    )
                value = math.nan  # an empty cell is a missing reading, like NaN
            if not math.isfinite(value):
                return bad_row(
                    f"Column {channel!r} is {cell.strip() or 'empty'}; only finite "
                    "numbers can be scored.",
                    source,
                    raw,
                    series,
                    ts,
                    RejectReason.NON_FINITE,
                )
            if abs(value) > VALUE_LIMIT:
                return bad_row(
                    f"Column {channel!r} holds {cell.strip()[:40]}, beyond ±{VALUE_LIMIT:g}, "
                    f"more than float32 scaling can carry; give values within ±{VALUE_LIMIT:g} "
                    "(in a larger unit, say).",
                    source,
                    raw,
                    series,
                    ts,
                    RejectReason.OUT_OF_RANGE,
                )
            values.append(value)
        return Point(series, ts, tuple(values))


class _LineTap:
    """Hands lines to csv.reader and keeps the last one, so a rejection carries it raw."""

    def __init__(self, lines: IO[str]) -> None:
        self._lines = lines
        self.last = ""

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        self.last = next(self._lines)
        return self.last


_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+(?:[eE][+-]?\d+)?$")
"""A number whose decimal separator is a comma: one comma, no point, no grouping."""
_SAMPLE_CHARS = 64 * 1024
"""How much of a CSV file its separator is told from."""
_KNOWN_SERIES = 100_000
"""Series ids a CSV reader remembers as valid; past that it forgets them all."""


_TIME_WORDS = ("time", "date", "epoch", "zeit")


def _timelike(header: list[str], sample: str, delimiter: str) -> list[str]:
    """Columns that look like times under a name `TIME_COLUMNS` lacks: by name, or by a
    first cell that is a date rather than a number."""
    rows = list(csv.reader(sample.splitlines()[1:2], delimiter=delimiter))
    first = rows[0] if rows else []
    found = []
    for i, name in enumerate(header):
        cell = first[i].strip() if i < len(first) else ""
        if any(word in name.lower() for word in _TIME_WORDS) or _is_date(cell):
            found.append(name)
    return found


def _is_date(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        try:
            parse_ts(cell)
        except ValueError:
            return False
        return True
    return False


def _first_line(sample: str) -> str:
    return sample.splitlines()[0] if sample else ""


def _sniff_delimiter(sample: str) -> str:
    """The one of DELIMITERS that splits the sample's lines into the same number of
    fields, as csv.Sniffer tells; ',' when it cannot tell (one column, or one line)."""
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        sample = "\n".join(lines[:-1])  # the last line may be cut short
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = _first_line(sample)
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _find(header: list[str], names: Sequence[str]) -> int | None:
    lowered = [name.lower() for name in header]
    return next((lowered.index(name) for name in names if name in lowered), None)
