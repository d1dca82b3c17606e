"""The chaos harness: scenarios against the embedded broker and real `stream-ae run`
processes, shared by `benchmarks/chaos.py` (full sizes) and tests/chaos (quick sizes).

Each scenario returns rows (scenario, measurement, value, right value, pass). Inputs
are seeded, every loop is bounded (a limit ends a stuck wait and the row then says
what was missing), and every process a scenario starts is stopped before it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from stream_ae.core.records import Point
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.settings import Settings

from ..service.conftest import T0, WINDOW, ServiceProcess, base_settings, encode, prefix

TEN_YEARS = 10 * 365.25 * 86400
MIB = 1024 * 1024


# -- sizes and rows -------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """How big each scenario runs: `QUICK` in CI, `FULL` in the benchmark."""

    kills: int
    """SIGKILLs per phase (backlog, live)."""
    kill_series: int
    backlog_steps: int
    live_steps: int
    fuzz_bad: int
    fuzz_good_series: int
    fuzz_good_steps: int
    fuzz_restarts: int
    """Restarts after a crash before the fuzz scenario gives up (a crash loop)."""
    flood_ids: int
    flood_per_message: int
    settle_s: float
    """Longest wait without progress for scores to arrive before a row counts them missing."""


QUICK = Sizes(3, 4, 900, 200, 1_000, 4, 60, 2, 500_000, 200, 10.0)
FULL = Sizes(20, 6, 4_000, 900, 10_000, 8, 300, 4, 1_000_000, 500, 60.0)


@dataclass(frozen=True)
class Row:
    scenario: str
    measurement: str
    value: float
    right: str
    """'0', '<= N' or '>= N' (a number), 'yes'/'no' (value 1/0)."""
    note: str = ""

    @property
    def ok(self) -> bool:
        if self.right in ("yes", "no"):
            return self.value == (1 if self.right == "yes" else 0)
        if self.right.startswith("<="):
            return self.value <= float(self.right[2:])
        if self.right.startswith(">="):
            return self.value >= float(self.right[2:])
        return self.value == float(self.right)

    def shown(self) -> str:
        if self.right in ("yes", "no"):
            return "yes" if self.value else "no"
        if math.isinf(self.value):
            return "never"
        return f"{self.value:,.0f}" if self.value == int(self.value) else f"{self.value:,.1f}"


def table(rows: list[Row], seconds: dict[str, float]) -> str:
    lines = ["| scenario | measurement | value | right | pass |", "|---|---|---:|---:|:---:|"]
    for r in rows:
        mark = "pass" if r.ok else "FAIL"
        lines.append(f"| {r.scenario} | {r.measurement} | {r.shown()} | {r.right} | {mark} |")
    lines += ["", "| scenario | seconds |", "|---|---:|"]
    lines += [f"| {name} | {s:.0f} |" for name, s in seconds.items()]
    notes = [f"- {r.scenario}, {r.measurement}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["", *notes] if notes else []))


@dataclass
class Context:
    broker: EmbeddedBroker
    artifact: Path
    """A fitted one-channel ("value") model, window `WINDOW`."""
    workdir: Path
    sizes: Sizes
    seed: int = 0
    log: Callable[[str], None] = field(default=lambda line: None)


# -- Kafka helpers ----------------------------------------------------------------------


Message = tuple[bytes | None, bytes]


async def send_all(address: str, topic: str, messages: list[Message]) -> list[tuple[int, int]]:
    """Produce in order; the (partition, offset) each message landed at."""
    producer = AIOKafkaProducer(
        bootstrap_servers=address, max_request_size=16_000_000, linger_ms=5, acks=1
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        done = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in done]


def point_messages(points: list[Point]) -> list[Message]:
    return [(p.series.encode(), encode(p)) for p in points]


class Reader:
    """Every message of some topics from the start, read incrementally."""

    def __init__(self, address: str, topics: list[str]) -> None:
        self.consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=address,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
            metadata_max_age_ms=1000,
        )
        self.got: dict[str, list[Any]] = {t: [] for t in topics}

    async def __aenter__(self) -> Reader:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def poll(self, rounds: int = 3) -> None:
        for _ in range(rounds):
            batches = await self.consumer.getmany(timeout_ms=100, max_records=50_000)
            for tp, messages in batches.items():
                self.got[tp.topic].extend(messages)

    def bodies(self, topic: str) -> list[Any]:
        return [json.loads(m.value) for m in self.got[topic]]


class Offsets:
    """The group's committed offsets, read with `committed(tp)` (the admin call fails on
    the embedded broker). Each drop of a partition's offset below the one read before
    it is one regression."""

    def __init__(self, address: str, group: str, topic: str, partitions: int) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=address, group_id=group)
        self.tps = [TopicPartition(topic, p) for p in range(partitions)]
        self.last: dict[TopicPartition, int] = {}
        self.regressions: list[tuple[int, int, int]] = []
        """(partition, offset before, offset after) of each drop."""

    async def __aenter__(self) -> Offsets:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def read(self) -> dict[TopicPartition, int]:
        now = {}
        for tp in self.tps:
            offset = await self.consumer.committed(tp)
            if offset is None:
                continue
            now[tp] = offset
            before = self.last.get(tp, -1)
            if offset < before:
                self.regressions.append((tp.partition, before, offset))
            self.last[tp] = offset
        return now

    def worst(self, count: int = 3) -> str:
        drops = sorted(self.regressions, key=lambda r: r[2] - r[1])[:count]
        return ", ".join(f"p{p} {a}->{b}" for p, a, b in drops)


# -- data -----------------------------------------------------------------------------


def sine(names: list[str], steps: int, rng: np.random.Generator, spikes: int = 0) -> list[Point]:
    """Interleaved per step; seeded noise, and `spikes` +6 spikes per series after warm-up."""
    noise = 0.05 * rng.normal(size=(steps, len(names)))
    phase = rng.uniform(0, 2 * np.pi, len(names))
    jumps = {
        (int(t), k)
        for k in range(len(names))
        for t in rng.integers(WINDOW + 80, max(WINDOW + 81, steps), spikes)
    }
    out = []
    for t in range(steps):
        for k, name in enumerate(names):
            v = float(np.sin(2 * np.pi * t / 25 + phase[k]) + noise[t, k])
            out.append(Point(name, T0 + 60 * t, (v + (6.0 if (t, k) in jumps else 0.0),)))
    return out


def scorable(points: list[Point]) -> set[tuple[str, float]]:
    """Every point that ends a full window of its series."""
    seen: Counter[str] = Counter()
    out = set()
    for p in points:
        seen[p.series] += 1
        if seen[p.series] >= WINDOW:
            out.add((p.series, p.ts))
    return out


def with_model(settings: Settings, artifact: Path | None, **sections: dict[str, Any]) -> Settings:
    data = settings.model_dump()
    data["model"]["artifact"] = artifact
    for name, values in sections.items():
        data[name].update(values)
    return Settings.model_validate(data)


# -- processes ------------------------------------------------------------------------


class Services:
    """Every `stream-ae run` a scenario starts, numbered, all stopped on exit."""

    def __init__(self, settings: Settings, workdir: Path, tag: str) -> None:
        self.settings, self.workdir, self.tag = settings, workdir, tag
        self.started: list[ServiceProcess] = []

    def start(self, settings: Settings | None = None) -> ServiceProcess:
        name = re.sub(r"\W+", "-", f"{self.tag}-{len(self.started)}")
        self.started.append(ServiceProcess(settings or self.settings, self.workdir, name))
        return self.started[-1]

    def close(self) -> None:
        for service in self.started:
            service.close()


@contextlib.contextmanager
def services(settings: Settings, workdir: Path, tag: str) -> Iterator[Services]:
    group = Services(settings, workdir, tag)
    try:
        yield group
    finally:
        group.close()


def joined(service: ServiceProcess) -> bool:
    found = re.findall(r"partitions assigned: (.*)", service.text())
    return bool(found) and found[-1].strip() != "none"


async def until(check: Callable[[], Awaitable[bool]], limit_s: float, every_s: float = 0.3) -> bool:
    """Poll `check` until true or `limit_s` passed; whether it came true."""
    end = time.monotonic() + limit_s
    while True:
        if await check():
            return True
        if time.monotonic() > end:
            return False
        await asyncio.sleep(every_s)


async def wait_joined(service: ServiceProcess, limit_s: float = 90.0) -> bool:
    async def check() -> bool:
        return joined(service) or service.proc.poll() is not None

    return await until(check, limit_s) and service.proc.poll() is None


async def settle(
    reader: Reader, progress: Callable[[], int], done: Callable[[], bool], quiet_s: float
) -> None:
    """Read until `done()` or `progress()` stopped growing for `quiet_s`."""
    last, since = -1, time.monotonic()
    while time.monotonic() - since < quiet_s:
        await reader.poll()
        if done():
            return
        now = progress()
        if now != last:
            last, since = now, time.monotonic()
        await asyncio.sleep(0.3)


def free_port() -> int:
    """A TCP port nothing listens on (for a detector that must not reach Kafka)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def last_error(text: str) -> str:
    lines = [
        x
        for x in text.splitlines()
        if x.startswith("stream-ae: ") or re.match(r"^\w+(\.\w+)*(Error|Exception)\b", x)
    ]
    return lines[-1][:160] if lines else ""


def scenario_settings(ctx: Context, name: str, **kafka: Any) -> Settings:
    workdir = ctx.workdir / name
    workdir.mkdir(parents=True, exist_ok=True)
    return base_settings(workdir, ctx.broker.address, prefix(), **kafka)


async def scored_until(reader: Reader, topic: str, want: set[Any], quiet_s: float) -> set[Any]:
    def have() -> set[Any]:
        return {(b["series"], b["ts"]) for b in reader.bodies(topic)}

    await settle(reader, lambda: len(reader.got[topic]), lambda: have() >= want, quiet_s)
    return have()


def fit_model(root: Path) -> Path:
    """The small model the service tests use (tests/service/conftest.py `artifact`)."""
    from stream_ae.runtime.detect_job import run_detect

    values = np.sin(2 * np.pi * np.arange(800) / 25)
    lines = ["timestamp,value"] + [f"{T0 + 60 * i},{v:.5f}" for i, v in enumerate(values)]
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    settings = base_settings(root, "unused:1", "unused")
    summary = run_detect(root / "train.csv", settings, root / "out", echo_alerts=False)
    return Path(summary.model_artifact)
