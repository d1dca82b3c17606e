"""Recorded files in: streaming point readers (CSV, lines of JSON points or of a metrics
format). The result writers are in `writers`.

Readers never load a whole file: they read the header (or the first point) when opened,
then one line at a time while iterated. A bad row becomes a `Rejection` naming the file
and line, and reading goes on; only a file that cannot be read as points at all (missing,
empty, wrong columns) raises `InputError`, when it is opened.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from stream_ae.connectors.csv_columns import epoch_seconds, numbers
from stream_ae.connectors.dead_letters import rejected
from stream_ae.connectors.formats import FORMAT_NAMES, LINE_FORMATS, OWN_JSON, InputFormat
from stream_ae.connectors.point_rules import SERIES_MAX_CHARS, VALUE_LIMIT, series_problem
from stream_ae.connectors.timestamps import parse_ts
from stream_ae.connectors.wire import PointDecoder
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
_FORMATS = {".csv": "csv", ".jsonl": "lines", ".ndjson": "lines", ".lp": "lines"}
_LINE_FORMAT_OF = {".lp": InputFormat("influx")}
"""A line file's format by its suffix, where it is not stream-ae's JSON."""


@dataclass(frozen=True, slots=True)
class ReadChunk:
    """Rows of a file read together: their points as columns, and the rows refused."""

    points: PointColumns
    refused: list[Rejection]
    lines: list[int]
    """The line of each point, for a refusal to name it (`PointReader.source`)."""
    refused_at: list[int]
    """How many of the chunk's points came before each refused row."""


class PointReader(ABC):
    """The points of one file, in file order; iterating again reads the file again."""

    def __init__(self, path: Path, series_default: str, channels: tuple[str, ...]) -> None:
        self.path = path
        self.series_default = series_default
        """Series id of points whose row or object names none."""
        self.channels = channels
        """Value column names (CSV), or the channels of the first valid point (JSONL)."""
        self.last_source = ""
        """'file:line' of the item iteration yielded last, so a later refusal can name it."""
        self.last_line = 0
        """The line of the item iteration yielded last."""

    @abstractmethod
    def __iter__(self) -> Iterator[Point | Rejection]: ...

    @abstractmethod
    def describe(self) -> str:
        """One line saying how the file is read: which columns are the channels."""

    def chunks(self, rows: int) -> Iterator[ReadChunk]:
        """What iterating gives, `rows` points and refusals at a time, the points as
        columns."""
        points: list[Point] = []
        lines: list[int] = []
        refused: list[Rejection] = []
        refused_at: list[int] = []
        for item in self:
            if isinstance(item, Rejection):
                refused.append(item)
                refused_at.append(len(points))
            else:
                points.append(item)
                lines.append(self.last_line)
            if len(points) + len(refused) >= rows:
                columns = PointColumns.of(points, len(self.channels))
                yield ReadChunk(columns, refused, lines, refused_at)
                points, lines, refused, refused_at = [], [], [], []
        if points or refused:
            columns = PointColumns.of(points, len(self.channels))
            yield ReadChunk(columns, refused, lines, refused_at)

    def source(self, line: int) -> str:
        """'file:line', as a refusal names where it came from."""
        return self._source(line)

    def _source(self, line: int) -> str:
        return f"{self.path.name}:{line}"


@dataclass(frozen=True, slots=True)
class Columns:
    """How a recorded file is read: `open_points`' options (the CSV ones are refused for
    JSONL, whose points name their own series, time and channels)."""

    series: str | None = None
    time_column: str | None = None
    value_columns: tuple[str, ...] | None = None
    series_column: str | None = None
    ignore_columns: tuple[str, ...] = ()
    delimiter: str | None = None
    input_format: InputFormat | None = None
    """The format of a line file (default: by its suffix, stream-ae's JSON for .jsonl)."""

    def open(self, path: Path, *, also_ignore: Sequence[str] = ()) -> PointReader:
        """`open_points` on `path` with these options, leaving `also_ignore` out of the
        channels too."""
        return open_points(
            path,
            series=self.series,
            time_column=self.time_column,
            value_columns=self.value_columns,
            series_column=self.series_column,
            ignore_columns=(*self.ignore_columns, *also_ignore),
            delimiter=self.delimiter,
            input_format=self.input_format,
        )


DEFAULT_COLUMNS = Columns()
"""Time and series columns found by name, every other non-label column a channel, the
separator told from the file."""


def open_points(
    path: Path,
    *,
    series: str | None = None,
    time_column: str | None = None,
    value_columns: Sequence[str] | None = None,
    series_column: str | None = None,
    ignore_columns: Sequence[str] = (),
    delimiter: str | None = None,
    input_format: InputFormat | None = None,
) -> PointReader:
    """Open a .csv, .jsonl, .ndjson or .lp file (each optionally .gz) as a stream of points.

    A line file holds a message a line in `input_format` (see
    `stream_ae.connectors.formats`): by default stream-ae's JSON points, Influx line
    protocol for .lp. `series` names every point of a CSV file (no series column is then
    looked for) and is the default series of line points that name none; otherwise the
    file's stem is.
    The column options apply to CSV files: by default the time and series columns are
    found by name and every other column is a value channel, except label columns
    (`LABEL_COLUMNS`, and those in `ignore_columns`). The field separator is
    `delimiter`, or the one of `DELIMITERS` the file's first lines are split by.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "pump-7.csv"
    >>> _ = path.write_text("timestamp,value\\n2013-12-02 21:15:00,73.9\\n")
    >>> reader = open_points(path)
    >>> reader.channels, list(reader)
    (('value',), [Point(series='pump-7', ts=1386018900.0, values=(73.9,))])
    """
    if not path.is_file():
        raise InputError(f"Cannot read points from {path}: it {_missing(path)}.")
    if series is not None and not series.strip():
        raise InputError("series must be a non-empty name, or None to use the file's stem.")
    kind, stem = _format_of(path)
    if kind == "csv" and input_format not in (None, OWN_JSON):
        raise InputError(
            f"{path.name} is CSV, read by its columns; an input format names what the lines "
            "of a .jsonl, .ndjson or .lp file hold."
        )
    if kind == "lines":
        given = [
            name
            for name, value in (
                ("time_column", time_column),
                ("value_columns", value_columns),
                ("series_column", series_column),
                ("delimiter", delimiter),
            )
            if value is not None
        ]
        if given:
            raise InputError(
                f"{', '.join(given)} apply to CSV files only; {path.name} is a "
                "line file, whose points name their series, time and channels."
            )
        return LinePointReader(path, series or stem, input_format or _line_format(path))
    return CsvPointReader(
        path,
        series,
        stem,
        time_column,
        value_columns,
        series_column,
        ignore_columns,
        delimiter,
    )


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
            with _open_text(path) as file:
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
        with _open_text(self.path) as file:
            tap = _LineTap(file)
            rows = csv.reader(tap, delimiter=self.delimiter)
            next(rows, None)
            self._row = -1
            try:
                for row in rows:
                    if row and (len(row) > 1 or row[0].strip()):
                        self._row += 1
                        self.last_line = rows.line_num
                        self.last_source = self._source(rows.line_num)
                        yield self._point(row, tap.last, rows.line_num)
            except (csv.Error, OSError, EOFError) as exc:  # a field too long, a truncated .gz
                raise InputError(f"{self._source(rows.line_num)} cannot be read: {exc}.") from None

    def chunks(self, rows: int) -> Iterator[ReadChunk]:
        """What iterating gives, `rows` rows at a time, parsed a column at a time
        (`csv_columns`); a row those cannot vouch for is read as iterating reads it."""
        with _open_text(self.path) as file:
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
                raise InputError(
                    f"{self._source(reader.line_num)} cannot be read: {exc}."
                ) from None
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
        with _open_text(self.path) as file:
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
        source = self._source(line)
        raw = raw.rstrip("\r\n")
        if len(row) != len(self._header):
            return _bad(
                f"The row has {len(row)} fields but the header has "
                f"{len(self._header)} ({','.join(self._header)}).",
                source,
                raw,
            )
        series = self.series_default
        if self._series is not None:
            series = row[self._series].strip()
            if not series:
                return _bad(
                    f"The series column {self._header[self._series]!r} is empty.", source, raw
                )
            problem = series_problem(series)
            if problem is not None:
                return _bad(
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
                return _bad(f"Column {self._header[self._time]!r}: {exc}", source, raw, series)
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
                    return _bad(
                        f"Column {channel!r} holds {cell[:40]!r}, which is not a number.{hint}",
                        source,
                        raw,
                        series,
                        ts,
                    )
                value = math.nan  # an empty cell is a missing reading, like NaN
            if not math.isfinite(value):
                return _bad(
                    f"Column {channel!r} is {cell.strip() or 'empty'}; only finite "
                    "numbers can be scored.",
                    source,
                    raw,
                    series,
                    ts,
                    RejectReason.NON_FINITE,
                )
            if abs(value) > VALUE_LIMIT:
                return _bad(
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


class LinePointReader(PointReader):
    """A message a line: the point wire format (see `stream_ae.connectors.wire`) or a
    metrics format (`input_format`)."""

    def __init__(self, path: Path, series_default: str, input_format: InputFormat) -> None:
        if input_format.name not in LINE_FORMATS:
            raise InputError(
                f"{input_format.title} has no line framing, so a file cannot hold it; "
                "record OTLP as JSON lines (otlp_json, as the Collector's file exporter "
                f"writes it), or use one of {', '.join(sorted(LINE_FORMATS))}."
            )
        super().__init__(path, series_default, ())
        self.input_format = input_format
        decoder = self.decoder()
        with closing(self._read(decoder)) as items:
            first = next((item for item in items if isinstance(item, Point)), None)
        if first is not None:
            self.channels = decoder.channels_of(first.series) or ()

    def __iter__(self) -> Iterator[Point | Rejection]:
        return self._read(self.decoder())

    def decoder(self) -> PointDecoder:
        """A fresh decoder of the file's format (it learns each series' channels)."""
        return self.input_format.decoder(self.series_default)

    def describe(self) -> str:
        channels = ", ".join(self.channels) or "none (no valid point)"
        return (
            f"{self.path.name}: {self.input_format.title}, channels of the first point: {channels}"
        )

    def _read(self, decoder: PointDecoder) -> Generator[Point | Rejection, None, None]:
        number = 0
        with _open_text(self.path) as file:
            try:
                for number, line in enumerate(file, start=1):
                    if line.strip() and not decoder.ignores(line):
                        self.last_line = number
                        self.last_source = self._source(number)
                        yield from decoder.decode(line.rstrip("\r\n"), self.last_source)
            except (OSError, EOFError) as exc:  # a truncated .gz
                raise InputError(f"{self._source(number + 1)} cannot be read: {exc}.") from None


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


def _bad(
    detail: str,
    source: str,
    raw: str,
    series: str | None = None,
    ts: float | None = None,
    reason: RejectReason = RejectReason.MALFORMED,
) -> Rejection:
    return rejected(reason, detail, source, raw, series, ts)


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


def _missing(path: Path) -> str:
    return "is not a file" if path.exists() else "does not exist"


def _format_of(path: Path) -> tuple[str, str]:
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    for suffix, kind in _FORMATS.items():
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return kind, name[: -len(suffix)]
    raise InputError(
        f"Cannot tell the format of {path.name} from its name; use .csv, .jsonl, .ndjson "
        f"or .lp, optionally followed by .gz (the lines' format: one of {', '.join(FORMAT_NAMES)})."
    )


def _line_format(path: Path) -> InputFormat:
    name = path.name.lower().removesuffix(".gz")
    return next((f for suffix, f in _LINE_FORMAT_OF.items() if name.endswith(suffix)), OWN_JSON)


def _open_text(path: Path) -> IO[str]:
    # utf-8-sig drops a spreadsheet's byte-order mark; undecodable bytes become U+FFFD so
    # they reach a rejection instead of stopping the read.
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return path.open(encoding="utf-8-sig", errors="replace", newline="")
