"""`stream-ae alerts` reads the alert topic back as people read it, against the real
broker: all of it, one series, as JSON, and new alerts as they come with --follow."""

from __future__ import annotations

import asyncio
import json
import queue
import signal
import subprocess
import sys
import threading
import time

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from stream_ae.cli.main import main
from stream_ae.connectors.kafka_common import ensure_topics
from stream_ae.connectors.wire import alert_to_dict
from stream_ae.core.records import Alert, AlertState, Contributor, Severity
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.settings import KafkaSettings

from .conftest import Topics


def alert(series: str, ts: float, state: AlertState = AlertState.OPEN) -> Alert:
    return Alert(
        alert_id=f"{series}-{ts}-{state.value}",
        incident_id=f"{series}-{ts}",
        series=series,
        ts=ts,
        score=9.5,
        threshold=1.25,
        severity=Severity.MAJOR,
        state=state,
        model_version="v1",
        scorer="lstm-ae",
        opened_ts=ts,
        contributors=(Contributor(ts, "flow", 10.0, 3.0, 49.0),),
        channel="flow",
    )


def send(address: str, topic: str, values: list[bytes]) -> None:
    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=address)
        await producer.start()
        try:
            for value in values:
                await producer.send_and_wait(topic, value, key=b"k")
        finally:
            await producer.stop()

    asyncio.run(go())


def encoded(a: Alert) -> bytes:
    return orjson.dumps(alert_to_dict(a))


def test_every_alert_is_printed_once_and_a_stranger_is_skipped(
    broker: EmbeddedBroker,
    topics: Topics,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent = [alert("pump-1", 1.7e9), alert("pump-2", 1.7e9 + 60), alert("pump-1", 1.7e9 + 120)]
    send(broker.address, topics.alerts, [encoded(sent[0]), b"not json", *map(encoded, sent[1:])])
    base = ["alerts", "--bootstrap", broker.address, "--topic", topics.alerts]

    assert main(base) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("2023-11-14 22:13:20Z open     major    pump-1 score 9.5 > 1.25")
    assert "flow was 3, expected 10" in lines[0]
    assert "not an alert" in caplog.text

    assert main([*base, "--series", "pump-2", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line) == alert_to_dict(sent[1])


class Follower:
    """`stream-ae alerts --follow` in its own process, its stdout lines in a queue."""

    def __init__(self, broker: EmbeddedBroker, topic: str, *options: str) -> None:
        command = [sys.executable, "-m", "stream_ae", "alerts", "--follow", *options]
        self.proc = subprocess.Popen(
            [*command, "--bootstrap", broker.address, "--topic", topic],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        stdout = self.proc.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [self.lines.put(x) for x in stdout], daemon=True).start()

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=30)


def test_follow_prints_alerts_as_they_arrive_until_interrupted(
    broker: EmbeddedBroker, topics: Topics
) -> None:
    send(broker.address, topics.alerts, [encoded(alert("old", 1.7e9))])
    follower = Follower(broker, topics.alerts, "--series", "new")
    try:
        time.sleep(3)  # the reader has started and printed nothing: "old" is filtered out
        assert follower.lines.empty()
        send(broker.address, topics.alerts, [encoded(alert("new", 1.7e9 + 60))])
        got = follower.lines.get(timeout=60)
        assert " open " in got and " new score " in got
    finally:
        code = follower.interrupt()
    assert code == 130


def test_follow_waits_for_a_topic_no_detector_has_made_yet(
    broker: EmbeddedBroker, topics: Topics
) -> None:
    later = f"{topics.alerts}.later"
    follower = Follower(broker, later)
    try:
        assert follower.proc.stderr is not None
        waiting = follower.proc.stderr.readline()
        assert f"waiting for topic {later} to appear" in waiting
        asyncio.run(ensure_topics(KafkaSettings(bootstrap_servers=[broker.address]), [later]))
        send(broker.address, later, [encoded(alert("pump-9", 1.7e9))])
        got = follower.lines.get(timeout=60)
        assert " open " in got and " pump-9 score " in got
    finally:
        code = follower.interrupt()
    assert code == 130
