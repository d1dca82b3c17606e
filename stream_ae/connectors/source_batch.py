"""One micro-batch read from Kafka: its points as columns, its refusals, its offsets."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from stream_ae.connectors.columnar_wire import DecodedRows
from stream_ae.connectors.dead_letters import DeadLetter, Position
from stream_ae.core.records import Point, PointColumns

_Block = tuple[np.ndarray, np.ndarray] | tuple[list[float], list[tuple[float, ...]]]
"""Times and values of consecutive rows: a slice of the columnar decoder's arrays, or
the rows the reference decoder gave one point at a time."""


@dataclass(slots=True)
class SourceBatch:
    """One micro-batch: decoded points as columns, refused input, and the offsets it
    covers. Row i is point i: its series, time, values and the partition, offset and
    append time of its message.

    Times and values stay in the blocks they were decoded in (arrays from the columnar
    decoder, lists from the reference one) until `columns` joins them: a batch of
    ordinary messages never builds a tuple per point."""

    topic: str = ""
    series: list[str] = field(default_factory=list)
    _blocks: list[_Block] = field(default_factory=list)
    partitions: list[int] = field(default_factory=list)
    message_offsets: list[int] = field(default_factory=list)
    append_ts: list[float] = field(default_factory=list)
    """Broker append time of each point's message, epoch seconds."""
    rebuild: list[Point] = field(default_factory=list)
    """Points re-read from before the committed offsets: they rebuild windows and
    thresholds after an assignment; their alerts were sent before."""
    rebuild_partitions: list[int] = field(default_factory=list)
    """The partition of each rebuild point (a revocation drops the series it built)."""
    dead: list[DeadLetter] = field(default_factory=list)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    """Next offset per partition once this batch is done: what to commit. Never below
    a partition's committed offset: a rebuild read only re-reads what was committed."""
    messages: int = 0
    fetch_s: float = 0.0
    """Seconds spent waiting for this batch's messages."""
    decode_s: float = 0.0
    """Seconds spent decoding them."""
    read_at: float = field(default_factory=time.monotonic)
    """`time.monotonic()` when the batch was complete: from then on it waits to be scored.
    Set by `KafkaSource.next_batch`; a batch built by hand counts from its creation."""
    _joined_ts: list[float] | None = None
    _joined_values: list[tuple[float, ...]] | None = None
    """`ts` and `values` as lists, each joined on its first read; dropped when rows
    change (readers index them row by row)."""

    def __len__(self) -> int:
        # Dead letters count: a message may fan out into thousands of them, and a batch
        # must stay bounded whatever its messages hold.
        return len(self.series) + len(self.rebuild) + len(self.dead)

    @property
    def ts(self) -> list[float]:
        """Event time of each point, epoch seconds (a list: for readers off the hot path;
        not to be changed)."""
        if self._joined_ts is None:
            joined: list[float] = []
            for ts, _ in self._blocks:
                joined += ts.tolist() if isinstance(ts, np.ndarray) else ts
            self._joined_ts = joined
        return self._joined_ts

    @property
    def values(self) -> list[tuple[float, ...]]:
        """Values of each point as given (for readers off the hot path; not to be
        changed)."""
        if self._joined_values is None:
            joined: list[tuple[float, ...]] = []
            for _, values in self._blocks:
                joined += map(tuple, values.tolist()) if isinstance(values, np.ndarray) else values
            self._joined_values = joined
        return self._joined_values

    def _rows_changed(self) -> None:
        self._joined_ts = self._joined_values = None

    def columns(self, channels: int) -> PointColumns:
        """The points for the detector, in arrival order."""
        blocks = self._blocks
        if blocks and all(
            isinstance(values, np.ndarray) and values.shape[1] == channels for _, values in blocks
        ):
            times = np.concatenate([ts for ts, _ in blocks])
            return PointColumns(self.series, times, np.concatenate([v for _, v in blocks]))
        # A point the reference decoder read, or none at all: row by row, as given.
        return PointColumns.from_rows(self.series, self.ts, self.values, channels)

    def origin(self, i: int) -> Position:
        """Where point i came from."""
        return Position(self.topic, self.partitions[i], self.message_offsets[i])

    @property
    def points(self) -> list[Point]:
        """The points as objects (for readers off the hot path)."""
        return [Point(*row) for row in zip(self.series, self.ts, self.values, strict=True)]

    @property
    def origins(self) -> list[Position]:
        return [self.origin(i) for i in range(len(self.series))]

    def add(self, point: Point, position: Position, append_ts: float) -> None:
        self._rows_changed()
        self.series.append(point.series)
        blocks = self._blocks
        if not blocks or isinstance(blocks[-1][0], np.ndarray):
            blocks.append(([], []))
        ts, values = blocks[-1]
        ts.append(point.ts)  # type: ignore[union-attr]  # a list block, made just above
        values.append(point.values)  # type: ignore[union-attr]
        self.partitions.append(position.partition)
        self.message_offsets.append(position.offset)
        self.append_ts.append(append_ts)

    def add_rebuild(self, point: Point, partition: int) -> None:
        self.rebuild.append(point)
        self.rebuild_partitions.append(partition)

    def add_rows(
        self,
        rows: DecodedRows,
        first: int,
        partition: int,
        messages: Sequence[ConsumerRecord],
        counts: Sequence[int],
    ) -> None:
        """The rows of a decoded fetch from `first` on: `counts[i]` of them (at least
        one) from `messages[i]`, in order, all of one partition (no `Position` per
        message: only a refused row needs one, built by `origin`)."""
        self._rows_changed()
        last = first + sum(counts)
        self.series += rows.series[first:last]
        self._blocks.append((rows.ts[first:last], rows.values[first:last]))
        self.messages += len(messages)
        self.partitions += [partition] * (last - first)
        if last - first == len(messages):  # one point per message, the usual case
            self.message_offsets += [m.offset for m in messages]
            self.append_ts += [m.timestamp / 1000 for m in messages]
            return
        for message, count in zip(messages, counts, strict=True):
            self.message_offsets += [message.offset] * count
            self.append_ts += [message.timestamp / 1000] * count

    def keep_partitions(self, partitions: set[int]) -> None:
        """Drop the points, rebuild points included, of every other partition (revoked
        since they were read)."""
        again = [i for i, p in enumerate(self.rebuild_partitions) if p in partitions]
        self.rebuild = [self.rebuild[i] for i in again]
        self.rebuild_partitions = [self.rebuild_partitions[i] for i in again]
        keep = [i for i, p in enumerate(self.partitions) if p in partitions]
        ts, values = self.ts, self.values
        self._blocks = [([ts[i] for i in keep], [values[i] for i in keep])]
        self._rows_changed()
        self.series = [self.series[i] for i in keep]
        self.partitions = [self.partitions[i] for i in keep]
        self.message_offsets = [self.message_offsets[i] for i in keep]
        self.append_ts = [self.append_ts[i] for i in keep]
