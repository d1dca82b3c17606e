"""Service tests run against a real Kafka-protocol broker (the embedded Tansu) and
real `stream-ae run` processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from stream_ae.core.records import Point
from stream_ae.runtime.detect_job import run_detect
from stream_ae.settings import Settings

WINDOW = 16
T0 = 1_700_000_000.0


@pytest.fixture(scope="session")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model fitted once on clean sine data: services start with it."""
    root = tmp_path_factory.mktemp("model")
    values = np.sin(2 * np.pi * np.arange(800) / 25)
    lines = ["timestamp,value"] + [f"{T0 + 60 * i},{v:.5f}" for i, v in enumerate(values)]
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    settings = base_settings(root, "unused:1", "unused")
    summary = run_detect(root / "train.csv", settings, root / "out", echo_alerts=False)
    return Path(summary.model_artifact)


def base_settings(workdir: Path, bootstrap: str, prefix: str, **kafka: Any) -> Settings:
    return Settings.model_validate(
        {
            "window": {"length": WINDOW},
            "model": {
                "hidden": 8,
                "latent": 4,
                "epochs": 6,
                "fit_after_windows": 300,
                "artifact_dir": str(workdir / "models"),
            },
            "threshold": {"history": 300, "warmup": 60, "quantile": 0.995},
            "alerts": {"open_k": 1, "open_n": 1, "resolve_after": 3, "cooldown": 5},
            "cold_start": {"hst_window": 20},
            "metrics": {"address": "127.0.0.1:0"},  # several detectors on one machine
            "kafka": {
                "bootstrap": bootstrap,
                "input_topic": f"{prefix}.points",
                "alert_topic": f"{prefix}.alerts",
                "dead_letter_topic": f"{prefix}.dead",
                "score_topic": f"{prefix}.scores",
                "group_id": f"{prefix}.group",
                "partitions": 4,
                "session_timeout_ms": 6000,
                "max_wait_ms": 100,
                "connect_retry_s": 60,
                **kafka,
            },
        }
    )


def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def sine_points(series: list[str], n: int, spikes: dict[str, int]) -> list[Point]:
    """Interleaved per time step, like a plant; a +6 spike per listed series.

    A little seeded noise keeps scores from repeating exactly: a perfectly
    periodic series ties its scores with its threshold, and the model's last-bit
    differences between batch sizes would then decide which ties alert.
    """
    rng = np.random.default_rng(len(series) * n)
    noise = 0.05 * rng.normal(size=(n, len(series)))
    out = []
    for t in range(n):
        for k, name in enumerate(series):
            v = float(np.sin(2 * np.pi * t / 25) + noise[t, k])
            v += 6.0 if spikes.get(name) == t else 0.0
            out.append(Point(name, T0 + 60 * t, (v,)))
    return out


def encode(point: Point) -> bytes:
    return json.dumps({"series": point.series, "ts": point.ts, "value": point.values[0]}).encode()


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=16_000_000)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def produce_points(bootstrap: str, topic: str, points: list[Point]) -> None:
    asyncio.run(produce(bootstrap, topic, [(p.series.encode(), encode(p)) for p in points]))


async def consume_all(bootstrap: str, topic: str, idle_s: float = 2.0) -> list[Any]:
    """Every message on `topic` from the start, until none arrived for `idle_s`."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    out: list[Any] = []
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle_s:
            got = await consumer.getmany(timeout_ms=300)
            for messages in got.values():
                out.extend(messages)
                quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return out


def wait_for(condition: Any, what: str, limit_s: float = 120.0) -> None:
    """Poll `condition()` until true; the limit only stops a hung test, it asserts no speed."""
    end = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.3)


class ServiceProcess:
    """A real `stream-ae run` process with its own config file and log."""

    def __init__(
        self,
        settings: Settings | str,
        workdir: Path,
        name: str,
        *,
        env: dict[str, str] | None = None,
        verbose: bool = False,
    ) -> None:
        """`settings` or the text of its TOML file; `env` adds STREAM_AE_* variables to an
        environment cleared of them."""
        self.config = workdir / f"{name}.toml"
        self.config.write_text(settings if isinstance(settings, str) else settings.summary())
        self.log = workdir / f"{name}.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_AE_")}
        flags = ["-v"] if verbose else []
        command = ["run", "--config", str(self.config), "-q"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stream_ae.cli", *flags, *command],
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            env=clean | (env or {}),
            cwd=workdir,
        )

    def started(self) -> bool:
        """Consuming, or already ended (see `proc.poll()`)."""
        return "detector consuming" in self.text() or self.proc.poll() is not None

    def text(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()


def scored_by(proc: ServiceProcess, bootstrap: str, topic: str, count: int) -> list[Any]:
    """The JSON messages of the score topic once it holds `count`, for a service fed all
    its input beforehand. The service is then stopped as an operator stops it (SIGTERM),
    so the alerts of its last batch are sent before it exits: a score on its topic does
    not mean the same batch's alerts are on theirs yet."""
    try:
        wait_for(
            lambda: (
                len(asyncio.run(read_to_end(bootstrap, topic))) >= count
                or proc.proc.poll() is not None
            ),
            f"{count} scores on {topic}",
        )
        assert proc.proc.poll() is None, proc.text()
        assert proc.terminate() == 0, proc.text()
    finally:
        proc.close()
    return [json.loads(m.value) for m in asyncio.run(read_to_end(bootstrap, topic))]


async def read_to_end(bootstrap: str, topic: str) -> list[Any]:
    """Every message on `topic` up to its end offsets at the time of the call: a count,
    not a quiet spell, decides when the read is over."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    out: list[Any] = []
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        ends = await consumer.end_offsets(tps)
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            got = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 60)
            for messages in got.values():
                out.extend(messages)
    finally:
        await consumer.stop()
    return out
