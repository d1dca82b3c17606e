"""A user's own labelled recording, read for `stream-ae bench replay`.

The points are any file `stream-ae detect` reads (CSV or JSONL, one series or many).
The labels are either a column of 0/1 beside the values (CSV only; its runs of 1s are
the anomaly windows) or a windows file `series,start,end` (`connectors.labels`).
Rows the reader refuses, and rows out of time order within their series, are left
out of the replay and counted; a label that cannot be read stops it, naming the line.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from stream_ae.bench.labelled import LabelledSeries, windows_of_flags, windows_of_spans
from stream_ae.connectors.files import DEFAULT_COLUMNS, Columns, CsvPointReader, PointReader
from stream_ae.connectors.labels import LabelError, read_label_windows
from stream_ae.core.records import Point
from stream_ae.errors import InputError

LABEL_COLUMN = "label"
ANOMALY_LABELS = (LABEL_COLUMN, "is_anomaly", "anomaly")
"""Label columns looked for, in this order, when none is named."""
_TRUE = {"1", "1.0", "true", "yes"}
_FALSE = {"0", "0.0", "false", "no", ""}


@dataclass(frozen=True)
class Recording:
    path: Path
    label_column: str
    """Left out of the values (whether or not it held the labels)."""
    columns: Columns
    """How the file's columns are read."""
    series: dict[str, LabelledSeries]
    refused: int
    """Rows the reader refused."""
    out_of_order: int
    """Rows at or before their series' previous time (a detector refuses them)."""

    def reader(self) -> PointReader:
        return self.columns.open(self.path, also_ignore=(self.label_column,))

    def unlabelled(self) -> Recording:
        """The same recording without its windows: what a detector is handed."""
        return replace(self, series={k: s.unlabelled() for k, s in self.series.items()})

    @property
    def channels(self) -> int:
        first = next(iter(self.series.values()), None)
        return 1 if first is None or first.values.ndim == 1 else first.values.shape[1]


def load_recording(
    path: Path,
    labels: Path | None = None,
    label_column: str | None = None,
    columns: Columns = DEFAULT_COLUMNS,
) -> Recording:
    """Read `path` with its labels: a windows file, or a 0/1 label column (by default
    the first of ANOMALY_LABELS the file has). `columns` say how its columns are read."""
    if labels is not None and label_column is not None:
        raise LabelError("give either a windows file or a label column, not both")
    column = label_column or LABEL_COLUMN
    reader = columns.open(path, also_ignore=(column,))
    if labels is None and label_column is None and isinstance(reader, CsvPointReader):
        column = next((c for c in ANOMALY_LABELS if reader.has_column(c)), column)
    cells: dict[int, str] | None = None
    if labels is None:
        if not isinstance(reader, CsvPointReader):
            raise LabelError(
                f"{path.name} is JSONL: give its anomaly windows as a file with --labels "
                "(header series,start,end)"
            )
        try:
            cells = reader.column_cells(column)
        except InputError as exc:
            raise LabelError(
                f"{exc} Give the labels as a 0/1 column (--label-column NAME) or as a "
                "windows file (--labels, header series,start,end)."
            ) from None
    rows, flags, refused, late = _read(reader, cells)
    if not rows:
        raise LabelError(f"{path} holds no readable point to replay ({refused} refused)")
    spans = read_label_windows(labels) if labels is not None else {}
    unknown = sorted(set(spans) - set(rows))
    if unknown:
        raise LabelError(
            f"{labels} labels series the data lacks: {', '.join(unknown[:5])}; series in "
            f"{path.name}: {', '.join(sorted(rows)[:10])}"
        )
    series = {}
    for name, points in rows.items():
        ts = np.array([p.ts for p in points])
        values = np.array([p.values for p in points])
        values = values[:, 0] if values.shape[1] == 1 else values
        windows = (
            windows_of_flags(np.array(flags[name]))
            if cells is not None
            else windows_of_spans(ts, spans.get(name, []))
        )
        series[name] = LabelledSeries(name, path, ts, values, windows)
    return Recording(path, column, columns, series, refused, late)


def _read(
    reader: PointReader, cells: dict[int, str] | None
) -> tuple[dict[str, list[Point]], dict[str, list[int]], int, int]:
    rows: dict[str, list[Point]] = {}
    flags: dict[str, list[int]] = {}
    refused = late = 0
    problems: list[str] = []
    for item in reader:
        if not isinstance(item, Point):
            refused += 1
            continue
        got = rows.setdefault(item.series, [])
        if got and item.ts <= got[-1].ts:
            late += 1
            continue
        got.append(item)
        if cells is not None:
            line = int(reader.last_source.rsplit(":", 1)[1])
            cell = cells.get(line, "").lower()
            if cell not in _TRUE | _FALSE:
                problems.append(f"line {line}: {cell!r}")
            flags.setdefault(item.series, []).append(int(cell in _TRUE))
    if problems:
        raise LabelError(
            f"{reader.path.name}: {len(problems)} label cell(s) are not 0/1 (or true/false): "
            + "; ".join(problems[:5])
        )
    return rows, flags, refused, late
