"""What every recorded-file reader is: points in file order, or in chunks of columns.

`files.open_points` opens one; `csv_file` and `files` hold the readers of CSV and of
line files.
"""

from __future__ import annotations

import gzip
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from stream_ae.connectors.dead_letters import rejected
from stream_ae.core.records import Point, PointColumns, Rejection, RejectReason


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
        return f"{self.path.name}:{line}"


def bad_row(
    detail: str,
    source: str,
    raw: str,
    series: str | None = None,
    ts: float | None = None,
    reason: RejectReason = RejectReason.MALFORMED,
) -> Rejection:
    """A row of a file refused, named by its source and kept raw."""
    return rejected(reason, detail, source, raw, series, ts)


def open_text(path: Path) -> IO[str]:
    # utf-8-sig drops a spreadsheet's byte-order mark; undecodable bytes become U+FFFD so
    # they reach a rejection instead of stopping the read.
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return path.open(encoding="utf-8-sig", errors="replace", newline="")
