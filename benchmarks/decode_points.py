"""Decoding the point wire format: pydantic PointDecoder vs orjson FastPointDecoder, beside
the well-kept typed decoders.

Every variant decodes the same messages of ~100 bytes (bytes, as Kafka hands them over)
into `Point`s; raw `orjson.loads` is the floor (parsing only, no checks, no Point). The
typed decoders, msgspec (a Struct of the wire schema) and pydantic's `validate_json` (the
`PointIn` model, parsed in Rust), check the schema only: types, one of value or values,
no booleans. What FastPointDecoder checks beyond that (series ids, finite and in-range
values, the time range, each series' channels) they leave to Python after them, so they
are floors for a decoder built on them, not rivals of equal work. The variants run
interleaved, round after round in one process, so drifting machine load hits them alike;
the table gives the median µs per point and the speed-up over PointDecoder.
`ColumnarDecoder` (what the Kafka source runs when the model's channels are known) reads
into columns rather than Points: its figure is the whole of that decode, checks included;
"message by message" is the same decoder checking each message on its own, as it does for
a fetch that holds an unusual message (the usual fetch, one point a message, is checked
a column at a time).
"KafkaSource batches" is all the source does with a fetch: records as aiokafka hands
them over (made once, outside the timing), decoded and cut into batches with each
point's partition, offset and append time, and each batch's columns made as the
service hands them to the detector.

    python benchmarks/decode_points.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable

import msgspec
import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import TypeAdapter

from stream_ae.connectors.columnar_wire import ColumnarDecoder
from stream_ae.connectors.fastwire import FastPointDecoder
from stream_ae.connectors.kafka_source import KafkaSource, SourceBatch
from stream_ae.connectors.wire import PointDecoder, PointIn
from stream_ae.core.records import Point, Rejection
from stream_ae.settings import Settings

Messages = list[bytes]
Variant = Callable[[Messages, list[str]], int]


SERIES = "eu-west-1/plant-03/line-2/pump-{:04d}"
"""1000 series with realistic ids; random values give full-precision floats (~100 bytes)."""


def single(n: int) -> Messages:
    rng = random.Random(0)
    return [
        orjson.dumps(
            {"series": SERIES.format(i % 1000), "ts": 1732262400.25 + i, "value": rng.random()}
        )
        for i in range(n)
    ]


def rfc3339(n: int) -> Messages:
    rng = random.Random(1)
    return [
        orjson.dumps(
            {
                "series": SERIES.format(i % 1000),
                "ts": f"2024-11-22T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z",
                "value": rng.random(),
            }
        )
        for i in range(n)
    ]


def multichannel(n: int) -> Messages:
    rng = random.Random(2)
    return [
        orjson.dumps(
            {
                "series": SERIES.format(i % 1000),
                "ts": 1732262400 + i,
                "values": {"temp": 21.3 + i % 5, "vib": rng.random(), "rpm": 1480.0},
            }
        )
        for i in range(n)
    ]


def arrays(n: int) -> Messages:
    # n points as arrays of 10: per point it should approach the single-point cost.
    points = [orjson.loads(m) for m in single(n)]
    return [orjson.dumps(points[i : i + 10]) for i in range(0, n, 10)]


BATCH = 5_000
"""Messages per consumer batch (kafka.max_batch_points): points are held until scored."""


def floor(messages: Messages, sources: list[str]) -> int:
    loads = orjson.loads
    for message in messages:
        loads(message)
    return 0


def unchecked(messages: Messages, sources: list[str]) -> int:
    """orjson plus building the Points, no checks: what any decoder must at least pay."""
    count = 0
    for start in range(0, len(messages), BATCH):
        out = []
        for message in messages[start : start + BATCH]:
            parsed = orjson.loads(message)
            for item in parsed if type(parsed) is list else [parsed]:
                values = item["values"].values() if "values" in item else [item["value"]]
                ts = item["ts"]
                out.append(Point(item["series"], ts if type(ts) is float else 0.0, tuple(values)))
        count += len(out)
    return count


class _Wire(msgspec.Struct, frozen=True):
    """The wire schema as msgspec checks it (strict: true is not a number)."""

    ts: float | str
    series: str | None = None
    value: float | msgspec.UnsetType | None = msgspec.UNSET
    values: dict[str, float | None] | None = None


_MSGSPEC = msgspec.json.Decoder(_Wire | list[_Wire])
_PYDANTIC = TypeAdapter(PointIn | list[PointIn])


def typed(decode: Callable[[bytes], object], messages: Messages) -> int:
    """A typed decoder's parse and schema checks, then the Points (ts as given)."""
    count = 0
    for start in range(0, len(messages), BATCH):
        out = []
        for message in messages[start : start + BATCH]:
            parsed = decode(message)
            for item in parsed if type(parsed) is list else [parsed]:
                values = [item.value] if item.values is None else list(item.values.values())
                ts = item.ts
                out.append(Point(item.series, ts if type(ts) is float else 0.0, tuple(values)))
        count += len(out)
    return count


def decoded(decoder: PointDecoder, messages: Messages, sources: list[str]) -> int:
    # Points are kept per batch, as a consumer does: holding objects costs the garbage
    # collector time that a loop discarding them would not pay.
    count = 0
    for start in range(0, len(messages), BATCH):
        out: list[Point | Rejection] = []
        for message, source in zip(
            messages[start : start + BATCH], sources[start : start + BATCH], strict=True
        ):
            out += decoder.decode(message, source)
        count += len(out)
    return count


def columnar(messages: Messages, sources: list[str], by_message: bool = False) -> int:
    """The Kafka source's path: channels known up front (the served model's), a fetch
    of messages at a time into columns; messages it does not take (here: RFC 3339
    times) go to FastPointDecoder, as in the source. `by_message`: each message checked
    on its own, the way a fetch goes when one of its messages is not ordinary."""
    channels = ("temp", "vib", "rpm") if b'"values"' in messages[0] else ("value",)
    decoder = ColumnarDecoder(FastPointDecoder("default", channels))
    count = 0
    for start in range(0, len(messages), BATCH):
        chunk = messages[start : start + BATCH]
        keys = [None] * len(chunk)
        rows = (
            decoder._one_by_one(keys, chunk, None, [])
            if by_message
            else decoder.decode(keys, chunk)
        )
        count += len(rows.series)
        for message, source, taken in zip(chunk, sources[start:], rows.taken, strict=False):
            if taken < 0:
                count += len(decoder.reference.decode(message, source))
    return count


Fetch = dict[TopicPartition, list[ConsumerRecord]]
_FETCHED: list[tuple[Messages, Fetch]] = []
"""The last case's messages and their records (holding the messages, so no other list
can take their id)."""


def _fetch(messages: Messages) -> Fetch:
    """The messages as fetched records of four partitions (made once per case)."""
    if not _FETCHED or _FETCHED[0][0] is not messages:
        records: Fetch = {}
        for i, m in enumerate(messages):
            records.setdefault(TopicPartition("points", i % 4), []).append(_record(i, m))
        _FETCHED[:] = [(messages, records)]
    return _FETCHED[0][1]


def _record(i: int, value: bytes) -> ConsumerRecord:
    return ConsumerRecord(
        "points", i % 4, i // 4, 1_700_000_000_000 + i, 0, None, value, None, 0, len(value), ()
    )


def batches(messages: Messages, sources: list[str]) -> int:
    """The Kafka source's whole work on a fetch, batches of BATCH points, up to the
    detector's columns."""
    channels = ["temp", "vib", "rpm"] if b'"values"' in messages[0] else ["value"]
    settings = Settings.model_validate(
        {"kafka": {"bootstrap": "unused:1", "input_topic": "points"}}
    )
    source = KafkaSource(settings.kafka, channels=channels)
    source._hold(_fetch(messages))
    count = 0
    while source._fetched:
        batch = SourceBatch("points")
        source._decode(batch, BATCH)
        count += len(batch.columns(len(channels)))
    return count


VARIANTS: dict[str, Variant] = {
    "orjson.loads": floor,
    "orjson + Point, no checks": unchecked,
    "msgspec, schema only": lambda m, s: typed(_MSGSPEC.decode, m),
    "pydantic validate_json, schema only": lambda m, s: typed(_PYDANTIC.validate_json, m),
    "PointDecoder (pydantic)": lambda m, s: decoded(PointDecoder("default"), m, s),
    "FastPointDecoder": lambda m, s: decoded(FastPointDecoder("default"), m, s),
    "ColumnarDecoder, message by message": lambda m, s: columnar(m, s, by_message=True),
    "ColumnarDecoder (the Kafka path)": columnar,
    "KafkaSource batches": batches,
}
TYPED = ("msgspec, schema only", "pydantic validate_json, schema only")
CASES: dict[str, Callable[[int], Messages]] = {
    "one value, epoch ts": single,
    "one value, RFC 3339 ts": rfc3339,
    "three channels": multichannel,
    "arrays of 10 points": arrays,
}


def measure(points: int, rounds: int) -> dict[str, dict[str, float]]:
    """Median µs per point of every variant, by case."""
    results: dict[str, dict[str, float]] = {}
    for case, make in CASES.items():
        messages = make(points)
        sources = [f"points/0@{i}" for i in range(len(messages))]
        fast, reference = VARIANTS["FastPointDecoder"], VARIANTS["PointDecoder (pydantic)"]
        assert fast(messages, sources) == reference(messages, sources) == points
        assert all(VARIANTS[name](messages, sources) == points for name in TYPED)
        assert columnar(messages, sources) == batches(messages, sources) == points
        assert columnar(messages, sources, by_message=True) == points
        timings: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(rounds):
            for name, variant in VARIANTS.items():
                start = time.perf_counter()
                variant(messages, sources)
                timings[name].append((time.perf_counter() - start) / points * 1e6)
        results[case] = {name: statistics.median(t) for name, t in timings.items()}
    return results


def table(results: dict[str, dict[str, float]], size: float) -> str:
    names = list(VARIANTS)
    lines = [
        f"µs per point (median), messages of ~{size:.0f} bytes; "
        "speed-up over PointDecoder in brackets",
        "",
        "| case | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for case, row in results.items():
        base = row["PointDecoder (pydantic)"]
        cells = [f"{row[name]:.2f} ({base / row[name]:.1f}x)" for name in names]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few points, 3 rounds")
    args = parser.parse_args()
    points, rounds = (2_000, 3) if args.quick else (50_000, 9)
    size = statistics.mean(len(m) for m in single(1000))
    print(table(measure(points, rounds), size))
    python = sys.version.split()[0]
    print(f"\n{points:,} points per case, {rounds} interleaved rounds, Python {python}")


if __name__ == "__main__":
    main()
