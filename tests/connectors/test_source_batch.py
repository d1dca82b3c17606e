"""SourceBatch: the columns a Kafka batch carries, and what is built from them."""

from __future__ import annotations

import numpy as np
from aiokafka.structs import ConsumerRecord

from stream_ae.connectors.columnar_wire import DecodedRows
from stream_ae.connectors.kafka_source import Position, SourceBatch
from stream_ae.core.records import Point


def _batch() -> SourceBatch:
    batch = SourceBatch("points")
    batch.add(Point("a", 1.0, (0.5,)), Position("points", 0, 7), 10.0)
    batch.add(Point("b", 2.0, (1.5,)), Position("points", 1, 3), 11.0)
    batch.add(Point("c", 3.0, (1.0, 2.0)), Position("points", 0, 8), 12.0)  # 2 channels
    return batch


def test_rows_come_back_as_columns_points_and_positions() -> None:
    batch = _batch()
    columns = batch.columns(1)
    assert len(batch) == len(columns) == 3
    assert columns.ts.tolist() == [1.0, 2.0, 3.0]
    assert columns.values[:2].tolist() == [[0.5], [1.5]] and np.isnan(columns.values[2, 0])
    assert columns[2] == Point("c", 3.0, (1.0, 2.0))  # as given: refused as wrong channels
    assert batch.points == [columns[0], columns[1], columns[2]]
    assert batch.origin(1) == Position("points", 1, 3)
    assert [str(o) for o in batch.origins] == ["points/0@7", "points/1@3", "points/0@8"]


def test_keeping_partitions_drops_every_column_of_the_others() -> None:
    batch = _batch()
    batch.keep_partitions({0})
    assert batch.series == ["a", "c"] and batch.ts == [1.0, 3.0]
    assert batch.values == [(0.5,), (1.0, 2.0)] and batch.append_ts == [10.0, 12.0]
    assert batch.origins == [Position("points", 0, 7), Position("points", 0, 8)]


def test_a_messages_decoded_rows_join_the_columns_with_its_position() -> None:
    batch = _batch()
    rows = DecodedRows(
        series=["x", "y", "z"], ts=[4.0, 5.0, 6.0], values=[(1.0,), (2.0,), (3.0,)], taken=[3]
    )
    message = ConsumerRecord("points", 1, 9, 13_500, 0, b"k", b"v", None, 1, 1, ())
    batch.add_rows(rows, 1, 3, message)
    assert batch.series[3:] == ["y", "z"] and batch.ts[3:] == [5.0, 6.0]
    assert batch.values[3:] == [(2.0,), (3.0,)] and batch.append_ts[3:] == [13.5, 13.5]
    assert batch.origins[3:] == [Position("points", 1, 9)] * 2
    assert len(batch.columns(1)) == 5
