"""SourceBatch: the columns a Kafka batch carries, and what is built from them."""

from __future__ import annotations

import json
import math
import tracemalloc
from typing import NamedTuple

import numpy as np
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from stream_ae.connectors.columnar_wire import DecodedRows
from stream_ae.connectors.kafka_source import KafkaSource, Position, SourceBatch
from stream_ae.core.records import Point
from stream_ae.settings import Settings


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
        series=["x", "y", "z"],
        ts=np.array([4.0, 5.0, 6.0]),
        values=np.array([[1.0], [2.0], [3.0]]),
        taken=[3],
    )
    message = ConsumerRecord("points", 1, 9, 13_500, 0, b"k", b"v", None, 1, 1, ())
    batch.add_rows(rows, 1, 1, [message], [2])
    assert batch.series[3:] == ["y", "z"] and batch.ts[3:] == [5.0, 6.0]
    assert batch.values[3:] == [(2.0,), (3.0,)] and batch.append_ts[3:] == [13.5, 13.5]
    assert batch.origins[3:] == [Position("points", 1, 9)] * 2
    assert batch.messages == 1 and len(batch.columns(1)) == 5


def _record(partition: int, offset: int, ms: int) -> ConsumerRecord:
    return ConsumerRecord("points", partition, offset, ms, 0, b"k", b"v", None, 1, 1, ())


def test_a_run_of_messages_adds_each_row_with_its_own_message() -> None:
    rows = DecodedRows(series=list("abcdef"), ts=np.arange(1.0, 7.0), values=np.zeros((6, 1)))
    single = SourceBatch("points")  # one point per message
    run = [_record(1, 5, 1_000), _record(1, 6, 2_000), _record(1, 9, 3_000)]
    single.add_rows(rows, 2, 1, run, [1, 1, 1])
    assert single.series == ["c", "d", "e"] and single.messages == 3
    assert single.origins == [Position("points", 1, o) for o in (5, 6, 9)]
    assert single.append_ts == [1.0, 2.0, 3.0]
    several = SourceBatch("points")  # messages holding several points each
    several.add_rows(rows, 0, 1, run, [2, 1, 3])
    assert several.series == list("abcdef") and several.messages == 3
    assert [(o.partition, o.offset) for o in several.origins] == [
        (1, 5),
        (1, 5),
        (1, 6),
        (1, 9),
        (1, 9),
        (1, 9),
    ]
    assert several.append_ts == [1.0, 1.0, 2.0, 3.0, 3.0, 3.0]


def _fetch() -> dict[TopicPartition, list[ConsumerRecord]]:
    """Ordinary messages of one and of three points among ones the reference must read,
    over three partitions."""
    bodies: list[object] = []
    for i in range(60):
        ts = 1_700_000_000 + i
        point = {"series": f"s{i % 7}", "ts": ts, "value": i / 10}
        if i % 11 == 5:
            bodies.append([point, {**point, "ts": ts + 0.5}, {**point, "series": "t"}])
        elif i % 13 == 4:
            bodies.append({**point, "value": "high"})  # refused by the reference, with why
        elif i % 17 == 8:
            bodies.append({**point, "ts": "2023-11-14T22:13:20Z"})  # a date: the reference
        else:
            bodies.append(point)
    out: dict[TopicPartition, list[ConsumerRecord]] = {}
    for i, body in enumerate(bodies):
        value = json.dumps(body).encode()
        record = ConsumerRecord("points", i % 3, i, 1_000 * i, 0, b"k", value, None, 1, 1, ())
        out.setdefault(TopicPartition("points", i % 3), []).append(record)
    return out


class Cut(NamedTuple):
    """What one batch cut from a fetch holds."""

    series: list[str]
    ts: list[float]
    values: list[tuple[float, ...]]
    origins: list[Position]
    append_ts: list[float]
    refused: list[str]
    offsets: dict[TopicPartition, int]
    messages: int


def _batches(columnar: bool, limit: int) -> list[Cut]:
    settings = Settings.model_validate(
        {"kafka": {"bootstrap": "unused:1", "input_topic": "points"}}
    )
    source = KafkaSource(settings.kafka, channels=["value"])
    source.decode_budget_s = math.inf  # cut by count only, however slow the machine
    assert source.columnar is not None  # the fast path exists for this format
    if not columnar:
        source.columnar = None
    source._hold(_fetch())
    out = []
    while source._fetched:
        b = SourceBatch("points")
        source._decode(b, limit)
        refused = [d.rejection.reason.value for d in b.dead]
        out.append(
            Cut(b.series, b.ts, b.values, b.origins, b.append_ts, refused, b.offsets, b.messages)
        )
    return out


@pytest.mark.parametrize("limit", [1, 2, 5, 8, 1000])
def test_batches_cut_from_a_fetch_are_the_same_whichever_decoder_takes_each_message(
    limit: int,
) -> None:
    fast, reference = _batches(True, limit), _batches(False, limit)
    assert fast == reference
    # 46 single points, 5 messages of three, 4 with a date; 5 refused for "high".
    assert sum(len(cut.series) for cut in fast) == 46 + 15 + 4
    assert sum(len(cut.refused) for cut in fast) == 5
    assert all(len(cut.series) + len(cut.refused) < limit + 3 for cut in fast)  # one message more


def test_a_flood_of_series_ids_leaves_the_decoder_no_bigger_than_the_store() -> None:
    # The decoder remembers ids it found valid; no more than the store can hold live,
    # or a flood of new ids grows its memory long after the store is full.
    settings = Settings.model_validate(
        {
            "kafka": {"bootstrap": "unused:1", "input_topic": "points"},
            "window": {"max_series": 1_000},
        }
    )
    source = KafkaSource(settings.kafka, channels=["value"], max_series=settings.window.max_series)
    source.decode_budget_s = math.inf

    def flood(first: int, ids: int) -> None:
        records = []
        for offset in range(first, first + ids):
            point = {"series": f"flood-{offset:07d}-{'x' * 80}", "ts": 1, "value": 0.5}
            value = json.dumps(point).encode()
            records.append(ConsumerRecord("points", 0, offset, 0, 0, None, value, None, 1, 1, ()))
        source._hold({TopicPartition("points", 0): records})
        while source._fetched:
            source._decode(SourceBatch("points"), 1_000)

    flood(0, 20_000)  # the store is long full
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        flood(20_000, 20_000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 256 * 1024  # 20,000 ids of ~100 bytes kept would be over 2 MiB


def test_times_and_values_are_joined_once_until_the_batch_changes() -> None:
    # Readers index `ts[i]` row by row (the service's alert latency does): a join on
    # every read made such a loop quadratic in the batch.
    batch = _batch()
    assert batch.ts is batch.ts and batch.values is batch.values
    batch.add(Point("d", 4.0, (2.0,)), Position("points", 1, 4), 13.0)
    assert batch.ts == [1.0, 2.0, 3.0, 4.0] and batch.values[-1] == (2.0,)
    batch.keep_partitions({1})
    assert batch.ts == [2.0, 4.0] and batch.values == [(1.5,), (2.0,)]
