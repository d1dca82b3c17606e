"""`stream-ae replay`: recorded files onto a real broker, paced by an injected clock."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from pathlib import Path

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from stream_ae.cli.main import main
from stream_ae.core.records import Point
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.runtime.replay import connect, encode_point, replay, run_replay
from stream_ae.settings import Settings

from .conftest import ConsumeAll, Topics

T0 = 1_700_000_000


class FakeTime:
    """A clock that moves only when slept on: pacing becomes a list of requested sleeps."""

    def __init__(self) -> None:
        self.now = 5000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def settings_for(bootstrap: str, **kafka: object) -> Settings:
    return Settings.model_validate(
        {"kafka": {"bootstrap": bootstrap, "partitions": 3, "connect_retry_s": 30, **kafka}}
    )


def two_series_csv(path: Path, steps: int) -> list[tuple[str, float, float]]:
    rows = [(name, float(T0 + t), t * 0.5 + k) for t in range(steps) for k, name in enumerate("ab")]
    lines = ["timestamp,series,value"] + [f"{ts},pump-{s},{v}" for s, ts, v in rows]
    lines.insert(4, "not-a-time,pump-a,1.0")  # line 5 of the file
    path.write_text("\n".join(lines) + "\n")
    return [(f"pump-{s}", ts, v) for s, ts, v in rows]


def test_csv_of_two_series_arrives_once_with_key_and_body(
    broker: EmbeddedBroker, topics: Topics, consume: ConsumeAll, tmp_path: Path
) -> None:
    path = tmp_path / "plant.csv"
    expected = two_series_csv(path, steps=300)
    summary = run_replay(path, settings_for(broker.address), topic=topics.points, progress=False)
    assert summary.points_sent == len(expected)
    assert summary.rejected == 1 and summary.first_rejections[0].source == "plant.csv:5"
    assert "plant.csv:5" in summary.text() and f"sent {len(expected)} points" in summary.text()

    records = consume(topics.points, len(expected))
    bodies = [orjson.loads(r.value or b"") for r in records]
    assert all(r.key == b["series"].encode() for r, b in zip(records, bodies, strict=True))
    assert Counter((b["series"], b["ts"], b["value"]) for b in bodies) == Counter(expected)
    assert all(set(b) == {"series", "ts", "value"} for b in bodies)
    by_partition = sorted(records, key=lambda r: (r.partition, r.offset))
    for series in ("pump-a", "pump-b"):  # each series in time order on its partition
        times = [
            orjson.loads(r.value or b"")["ts"] for r in by_partition if r.key == series.encode()
        ]
        assert times == sorted(times)


def test_jsonl_multichannel_creates_the_topic(
    broker: EmbeddedBroker, consume: ConsumeAll, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [
        {"series": "m", "ts": T0 + i, "values": {"temp": 20.0 + i, "vib": 0.5}} for i in range(5)
    ] + [{"series": "s", "ts": T0 + i, "value": float(i)} for i in range(5)]
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    topic = f"fresh-{tmp_path.name}"
    summary = run_replay(path, settings_for(broker.address), topic=topic, progress=False)
    assert summary.points_sent == 10
    bodies = [orjson.loads(r.value or b"") for r in consume(topic, 10)]
    assert sorted(bodies, key=lambda b: (b["series"], b["ts"])) == lines
    assert asyncio.run(_partition_count(broker.address, topic)) == 3  # kafka.partitions


def test_speed_sleeps_by_event_time(
    broker: EmbeddedBroker, topics: Topics, consume: ConsumeAll, tmp_path: Path
) -> None:
    path = tmp_path / "sensor.csv"
    path.write_text("timestamp,value\n" + "".join(f"{T0 + i},{i}\n" for i in range(8)))
    fake = FakeTime()
    summary = asyncio.run(
        replay(
            path,
            settings_for(broker.address),
            topic=topics.points,
            speed=60,
            progress=False,
            clock=fake.clock,
            sleep=fake.sleep,
        )
    )
    assert fake.sleeps == pytest.approx([1 / 60] * 7)  # points 1 s apart at 60x
    assert summary.elapsed_s == pytest.approx(7 / 60)
    assert len(consume(topics.points, 8)) == 8


def test_speed_zero_never_sleeps(
    broker: EmbeddedBroker, topics: Topics, consume: ConsumeAll, tmp_path: Path
) -> None:
    path = tmp_path / "sensor.csv"
    path.write_text("timestamp,value\n" + "".join(f"{T0 + 3600 * i},{i}\n" for i in range(20)))
    fake = FakeTime()
    settings = settings_for(broker.address)
    asyncio.run(replay(path, settings, topic=topics.points, clock=fake.clock, sleep=fake.sleep))
    assert fake.sleeps == []
    assert len(consume(topics.points, 20)) == 20


def test_unreachable_broker_exits_1_with_a_sentence(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "sensor.csv"
    path.write_text(f"timestamp,value\n{T0},1.0\n")
    monkeypatch.setenv("STREAM_AE_KAFKA__CONNECT_RETRY_S", "0.6")
    caplog.set_level(logging.WARNING, logger="stream_ae.runtime.replay")
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed.getsockname()[1]}"
        code = main(["replay", str(path), "--bootstrap", address, "--no-progress"])
    assert code == 1  # a run that failed, not a wrong invocation
    error = capsys.readouterr().err
    assert f"stream-ae: Kafka at {address} did not answer within 0.6 s" in error
    assert "stream-ae broker" in error
    assert f"waiting for Kafka at {address} (attempt 1): " in caplog.text


def test_connect_backs_off_until_the_deadline(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        kafka = settings_for(f"127.0.0.1:{closed.getsockname()[1]}", connect_retry_s=2).kafka
        fake = FakeTime()
        caplog.set_level(logging.WARNING, logger="stream_ae.runtime.replay")
        with pytest.raises(Exception, match="did not answer within 2 s"):
            asyncio.run(connect(kafka, clock=fake.clock, sleep=fake.sleep))
    assert fake.sleeps == [0.25, 0.5, 1.0, 0.25]  # doubling, cut at the deadline
    assert caplog.text.count("waiting for Kafka at") == 4


def test_speed_must_be_a_non_negative_number(tmp_path: Path) -> None:
    for bad in ("-1", "fast", "inf"):
        with pytest.raises(SystemExit) as exit_info:
            main(["replay", str(tmp_path / "x.csv"), "--speed", bad])
        assert exit_info.value.code == 2


def test_encode_point_names_channels() -> None:
    point = Point("m", 1.5, (20.0, 0.5))
    assert encode_point(point, ("temp", "vib")) == (
        b"m",
        b'{"series":"m","ts":1.5,"values":{"temp":20.0,"vib":0.5}}',
    )


async def _partition_count(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        return len(described["partitions"])
    finally:
        await admin.close()
