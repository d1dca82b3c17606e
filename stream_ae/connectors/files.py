"""Recorded files in: `open_points` and the reader of lines of JSON points or of a
metrics format; CSV files are read by `csv_file`, and every reader is a `point_reader`.
The result writers are in `writers`.

Readers never load a whole file: they read the header (or the first point) when opened,
then one line at a time while iterated. A bad row becomes a `Rejection` naming the file
and line, and reading goes on; only a file that cannot be read as points at all (missing,
empty, wrong columns) raises `InputError`, when it is opened.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from stream_ae.connectors.csv_file import (
    DELIMITERS,
    LABEL_COLUMNS,
    SERIES_COLUMNS,
    TIME_COLUMNS,
    CsvPointReader,
)
from stream_ae.connectors.formats import FORMAT_NAMES, LINE_FORMATS, OWN_JSON, InputFormat
from stream_ae.connectors.point_reader import PointReader, ReadChunk, open_text
from stream_ae.connectors.wire import PointDecoder
from stream_ae.core.records import Point, Rejection
from stream_ae.errors import InputError

__all__ = [
    "DEFAULT_COLUMNS",
    "DELIMITERS",
    "LABEL_COLUMNS",
    "SERIES_COLUMNS",
    "TIME_COLUMNS",
    "Columns",
    "CsvPointReader",
    "LinePointReader",
    "PointReader",
    "ReadChunk",
    "open_points",
]
"""Opening a recorded file: the readers (`point_reader`, `csv_file`, and line files
here) and the names of the columns they look for."""

_FORMATS = {".csv": "csv", ".jsonl": "lines", ".ndjson": "lines", ".lp": "lines"}
_LINE_FORMAT_OF = {".lp": InputFormat("influx")}
"""A line file's format by its suffix, where it is not stream-ae's JSON."""


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
        with open_text(self.path) as file:
            try:
                for number, line in enumerate(file, start=1):
                    if line.strip() and not decoder.ignores(line):
                        self.last_line = number
                        self.last_source = self.source(number)
                        yield from decoder.decode(line.rstrip("\r\n"), self.last_source)
            except (OSError, EOFError) as exc:  # a truncated .gz
                raise InputError(f"{self.source(number + 1)} cannot be read: {exc}.") from None


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
