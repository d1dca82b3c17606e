"""Known anomaly windows, from a CSV file with the header `series,start,end`.

Times are epoch seconds, epoch milliseconds or RFC 3339 dates (as in point files);
`end` is inclusive. Every bad row is reported with its line number, and none is
dropped silently: a label file that cannot be read whole is refused.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from stream_ae.connectors.timestamps import parse_ts
from stream_ae.errors import StreamAEError

Windows = dict[str, list[tuple[float, float]]]
"""series -> [(start, end)] event times, end inclusive."""

HEADER = ["series", "start", "end"]


class LabelError(StreamAEError):
    """A label file that cannot be used as it is."""


def read_label_windows(path: Path) -> Windows:
    """The labelled windows of `path`, by series."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"cannot read labels {path}: {exc}") from exc
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip().lower() for c in rows[0]] != HEADER:
        raise LabelError(
            f"{path}: the first line must be the header 'series,start,end' (one anomaly "
            "window per line after it)"
        )
    out: Windows = defaultdict(list)
    problems = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        try:
            if len(row) != 3 or not row[0].strip():
                raise ValueError(f"expected series,start,end, got {len(row)} field(s)")
            start, end = parse_ts(row[1].strip()), parse_ts(row[2].strip())
            if end < start:
                raise ValueError(f"end {row[2].strip()} is before start {row[1].strip()}")
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        out[row[0].strip()].append((start, end))
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        raise LabelError(
            f"{path}: {len(problems)} bad label row(s), fix them and run again: {shown}"
        )
    return dict(out)
