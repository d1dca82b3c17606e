"""A broker replaced under a running detector (same address, empty storage): the topics
come back, new points are scored and readable, /readyz tells the outage, and the log
stays at a bounded number of warning and error lines per interval."""

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from stream_ae.runtime.broker import EmbeddedBroker

from .conftest import (
    ServiceProcess,
    base_settings,
    prefix,
    produce_points,
    read_to_end,
    sine_points,
    wait_for,
)
from .test_failover import scorable, with_model

SERIES = [f"line-{i}" for i in range(4)]
LINES_PER_10_S = 40
"""Warnings and errors a 10-second stretch may hold while the broker is away (the
unlimited log wrote about 780)."""


def probe(address: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scored(address: str, topic: str) -> set[tuple[str, float]]:
    messages = asyncio.run(read_to_end(address, topic))
    return {(b["series"], b["ts"]) for b in (json.loads(m.value) for m in messages)}


def topics_on(address: str) -> set[str]:
    async def listed() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=address)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    return asyncio.run(listed())


def noisy_stretches(log: str) -> list[int]:
    """Warning and error lines per 10-second stretch of the log."""
    stamps = re.findall(r"^(\S+ \S+),\d+ (?:WARNING|ERROR) ", log, re.MULTILINE)
    per = Counter(int(datetime.fromisoformat(s).timestamp()) // 10 for s in stamps)
    return sorted(per.values(), reverse=True)


def test_a_replaced_broker_gets_its_topics_back_and_the_detector_goes_on(
    artifact: Path, tmp_path: Path
) -> None:
    p = prefix()
    points = sine_points(SERIES, 120, spikes={})
    before, after = points[: len(points) // 2], points[len(points) // 2 :]
    first = EmbeddedBroker().start()
    port = first.port
    settings = with_model(base_settings(tmp_path, first.address, p, topic_check_s=1.0), artifact)
    proc = ServiceProcess(settings, tmp_path, "detector")
    second: EmbeddedBroker | None = None
    try:
        wait_for(lambda: "metrics on http://" in proc.text(), "the metrics server")
        metrics = re.findall(r"metrics on http://(\S+)/metrics", proc.text())[0]
        wait_for(lambda: probe(metrics, "/readyz")[0] == 200, "the detector to be ready")
        produce_points(first.address, f"{p}.points", before)
        wait_for(
            lambda: scored(first.address, f"{p}.scores") >= scorable(before),
            "the first half scored",
        )

        first.stop()
        outage = time.monotonic()
        wait_for(lambda: probe(metrics, "/readyz")[0] == 503, "/readyz to see the outage")
        assert "unreachable" in probe(metrics, "/readyz")[1]
        assert probe(metrics, "/healthz")[0] == 200  # alive: restarting it would not help
        # Long enough for the unlimited log to have written hundreds of lines.
        wait_for(lambda: time.monotonic() - outage > 12, "a stretch of outage")

        second = EmbeddedBroker(port=port).start()
        topics = {f"{p}.points", f"{p}.alerts", f"{p}.dead", f"{p}.scores"}
        wait_for(lambda: topics <= topics_on(second.address), "the topics re-created")
        wait_for(lambda: probe(metrics, "/readyz")[0] == 200, "the detector ready again")
        produce_points(second.address, f"{p}.points", after)
        wait_for(
            lambda: scored(second.address, f"{p}.scores") >= scorable(after),
            "the points sent to the new broker scored and readable there",
        )
        assert proc.terminate() == 0
    finally:
        proc.close()
        first.stop()
        if second is not None:
            second.stop()
    log = proc.text()
    assert "re-creating them" in log
    worst = noisy_stretches(log)
    assert worst and worst[0] <= LINES_PER_10_S, f"warnings and errors per 10 s: {worst[:5]}"


def test_a_lost_topic_that_may_not_be_created_fails_readiness(
    broker: EmbeddedBroker, artifact: Path, tmp_path: Path
) -> None:
    p = prefix()
    settings = with_model(
        base_settings(tmp_path, broker.address, p, topic_check_s=1.0, create_topics=True),
        artifact,
    )
    on = ServiceProcess(settings, tmp_path, "creator")  # makes the topics, then leaves
    try:
        wait_for(lambda: "detector consuming" in on.text(), "the topics to be created")
        assert on.terminate() == 0
    finally:
        on.close()
    off = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"create_topics": False})}
    )
    proc = ServiceProcess(off, tmp_path, "detector")
    try:
        wait_for(lambda: "metrics on http://" in proc.text(), "the metrics server")
        metrics = re.findall(r"metrics on http://(\S+)/metrics", proc.text())[0]
        wait_for(lambda: probe(metrics, "/readyz")[0] == 200, "the detector to be ready")
        asyncio.run(delete_topic(broker.address, f"{p}.scores"))
        wait_for(lambda: probe(metrics, "/readyz")[0] == 503, "/readyz to see the lost topic")
        assert f"{p}.scores" in probe(metrics, "/readyz")[1]
        assert f"{p}.scores gone from" in proc.text()
        assert proc.terminate() == 0
    finally:
        proc.close()


async def delete_topic(address: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=address)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()
