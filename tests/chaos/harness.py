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
import os
import re
import shutil
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from stream_ae import wiring
from stream_ae.connectors.kafka_common import ensure_topics
from stream_ae.core.records import Point
from stream_ae.runtime.broker import EmbeddedBroker, _free_port
from stream_ae.settings import Settings

from ..service.conftest import WINDOW, T0, ServiceProcess, base_settings, encode, prefix

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


QUICK = Sizes(3, 4, 900, 200, 1_000, 4, 60, 2, 100_000, 500, 25.0)
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
    return "\n".join(lines + ([""] + notes if notes else []))


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
    the embedded broker); a drop below the highest seen counts as a regression."""

    def __init__(self, address: str, group: str, topic: str, partitions: int) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=address, group_id=group)
        self.tps = [TopicPartition(topic, p) for p in range(partitions)]
        self.highest: dict[TopicPartition, int] = {}
        self.regressions: list[str] = []

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
            top = self.highest.get(tp, -1)
            if offset < top:
                self.regressions.append(f"p{tp.partition} {top}->{offset}")
            self.highest[tp] = max(top, offset)
        return now


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


# -- scenarios --------------------------------------------------------------------------


def _settings(ctx: Context, name: str, **kafka: Any) -> Settings:
    workdir = ctx.workdir / name
    workdir.mkdir(parents=True, exist_ok=True)
    return base_settings(workdir, ctx.broker.address, prefix(), **kafka)


async def sigkill(ctx: Context, live: bool) -> list[Row]:
    """SIGKILL the detector `kills` times at random moments, then let one finish."""
    name = "sigkill-live" if live else "sigkill-backlog"
    rng = np.random.default_rng(ctx.seed + (1 if live else 0))
    batch = 50
    s = with_model(_settings(ctx, name, max_batch_points=batch), ctx.artifact)
    k, sz = s.kafka, ctx.sizes
    names = [f"{name}-{i}" for i in range(sz.kill_series)]
    points = sine(names, sz.live_steps if live else sz.backlog_steps, rng, spikes=3)
    want = scorable(points)
    workdir = s.model.artifact_dir.parent
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic])
    kills = 0
    address = ctx.broker.address
    with services(s, workdir, name) as group:
        async with (
            Offsets(address, k.group_id, k.input_topic, k.partitions) as offs,
            Reader(address, [k.score_topic, k.alert_topic]) as reader,
        ):

            async def watch_offsets() -> None:
                # All along, so a regression between kills shows too (it may last only
                # until the re-read is done).
                while True:
                    await offs.read()
                    await asyncio.sleep(0.05)

            async def watch_scores() -> None:
                while True:
                    await reader.poll(1)
                    await asyncio.sleep(0.2)

            watchers = [asyncio.create_task(watch_offsets()), asyncio.create_task(watch_scores())]
            producer: asyncio.Task[Any] | None = None
            everything = point_messages(points)
            sent, stop = [0], asyncio.Event()
            if live:
                per_step = len(names)
                pace = 8.0 * sz.kills / (len(points) // per_step)  # spread over the kills

                async def trickle() -> None:
                    while sent[0] < len(everything) and not stop.is_set():
                        step = everything[sent[0] : sent[0] + per_step]
                        await send_all(address, k.input_topic, step)
                        sent[0] += len(step)
                        await asyncio.sleep(pace)

                producer = asyncio.create_task(trickle())
            chunk = -(-len(everything) // sz.kills)
            started = time.monotonic()
            for n in range(sz.kills):
                if not live:  # each detector starts with a backlog of its own to work on
                    more = everything[sent[0] : sent[0] + chunk]
                    await send_all(address, k.input_topic, more)
                    sent[0] += len(more)
                service = group.start()
                await wait_joined(service)
                before = len(reader.got[k.score_topic])
                if n % 3 == 1:
                    await asyncio.sleep(float(rng.uniform(0.0, 1.0)))  # while re-reading
                else:
                    # Killed part way through its work: after a random share of a chunk's
                    # scores (backlog), or a random time after its first score (live).
                    share = 1 if live else max(1, int(rng.uniform(0.05, 0.9) * chunk))

                    async def scoring(before: int = before, share: int = share) -> bool:
                        return len(reader.got[k.score_topic]) >= before + share

                    await until(scoring, 20)
                    if live:
                        await asyncio.sleep(float(rng.uniform(0.2, 2.5)))
                service.kill()
                kills += 1
            kill_s = time.monotonic() - started
            if producer is not None:
                stop.set()
                await producer
                # The rest at once: the kills are over.
                await send_all(address, k.input_topic, everything[sent[0] :])
            final = group.start()

            def have() -> set[tuple[str, float]]:
                return {(b["series"], b["ts"]) for b in reader.bodies(k.score_topic)}

            def progress() -> int:
                return len(reader.got[k.score_topic])

            await settle(reader, progress, lambda: have() >= want, sz.settle_s)
            await asyncio.sleep(1.0)
            code = final.terminate()
            await asyncio.sleep(0.5)
            for watcher in watchers:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            await reader.poll()
            await offs.read()
            scores = Counter((b["series"], b["ts"]) for b in reader.bodies(k.score_topic))
            alerts = reader.bodies(k.alert_topic)
    expected = {a.alert_id: a for a in wiring.detector(s, ("value",), ctx.artifact).process(points).alerts}
    got_ids = Counter(a["alert_id"] for a in alerts)
    missing = [i for i in expected if i not in got_ids]
    dupes = sum(n - 1 for n in got_ids.values())
    rescored = sum(n - 1 for n in scores.values())
    # A kill may lose the one batch sent but not yet committed: that much is re-scored,
    # and its alerts re-sent, legitimately (at least once).
    allowed_scores = kills * batch
    order = {(p.series, p.ts): i for i, p in enumerate(points)}
    at = sorted(order[(a.series, a.ts)] for a in expected.values())
    span = batch * len(names)
    per_batch = max((sum(1 for y in at if x <= y < x + span) for x in at), default=0)
    unscored = len(want - set(scores))
    ctx.log(
        f"{name}: {kills} kills, {len(points)} points, {len(scores)} scored, "
        f"{sum(scores.values())} score messages, kills took {kill_s:.0f} s, final exit {code}"
    )
    what = "during live traffic" if live else "during a backlog"
    return [
        Row(name, f"SIGKILLs {what}", kills, f">={sz.kills}"),
        Row(name, "points unscored", unscored, "0", f"of {len(want):,} scorable"),
        Row(name, "alerts of a clean run missing", len(missing), "0", f"of {len(expected)}"),
        Row(name, "duplicate alert messages", dupes, f"<={kills * per_batch}"),
        Row(
            name,
            "offset regressions",
            len(offs.regressions),
            "0",
            ", ".join(offs.regressions[:4]),
        ),
        Row(
            name,
            "re-scored points",
            rescored,
            f"<={allowed_scores}",
            f"{rescored / max(1, len(want)):.0%} of the scorable points",
        ),
        Row(name, "exit code of the last detector on SIGTERM", code, "0"),
    ]


async def sigkill_backlog(ctx: Context) -> list[Row]:
    return await sigkill(ctx, live=False)


async def sigkill_live(ctx: Context) -> list[Row]:
    return await sigkill(ctx, live=True)


POISON = ("lone surrogate", "huge number")
"""The two kinds of message the issue found crashing the detector."""


async def fuzz_input(ctx: Context) -> list[Row]:
    """Malformed messages mixed with good points; a crashed detector is restarted. A
    second pass leaves out the two known poison kinds, so that what else goes missing
    shows even while those still crash the detector."""
    from .fuzz import fuzz

    rng = np.random.default_rng(ctx.seed + 2)
    bad = fuzz(rng, ctx.sizes.fuzz_bad)
    rows = await _fuzz_pass(ctx, "fuzz", bad, rng)
    tame = [f for f in bad if f.kind not in POISON]
    return rows + await _fuzz_pass(ctx, "fuzz (no poison)", tame, rng)


async def _fuzz_pass(ctx: Context, name: str, bad: list[Any], rng: np.random.Generator) -> list[Row]:
    sz = ctx.sizes
    s = with_model(_settings(ctx, name.split()[0], max_message_bytes=65_536), ctx.artifact)
    k = s.kafka
    good = sine([f"good-{i}" for i in range(sz.fuzz_good_series)], sz.fuzz_good_steps, rng)
    slots = np.sort(rng.choice(len(good) + len(bad), len(bad), replace=False))
    messages: list[Message] = []
    kinds: list[tuple[str, bool] | None] = []
    goods = iter(point_messages(good))
    bads = iter(bad)
    it = iter(slots.tolist())
    nxt = next(it, -1)
    for pos in range(len(good) + len(bad)):
        if pos == nxt:
            f = next(bads)
            messages.append((f.key, f.value))
            kinds.append((f.kind, f.must))
            nxt = next(it, -1)
        else:
            messages.append(next(goods))
            kinds.append(None)
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic])
    where = await send_all(ctx.broker.address, k.input_topic, messages)
    want = scorable(good)
    must = {where[i]: kind for i, kind in enumerate(kinds) if kind is not None and kind[1]}
    crashes, errors = 0, Counter[str]()
    with services(s, s.model.artifact_dir.parent, name) as group:
        service = group.start()
        async with Reader(ctx.broker.address, [k.score_topic, k.dead_letter_topic]) as reader:

            def state() -> tuple[set[tuple[str, float]], set[tuple[int, int]]]:
                scored = {(b["series"], b["ts"]) for b in reader.bodies(k.score_topic)}
                dead = {
                    (b["source"]["partition"], b["source"]["offset"])
                    for b in reader.bodies(k.dead_letter_topic)
                }
                return scored, dead

            def done() -> bool:
                scored, dead = state()
                return scored >= want and set(must) <= dead

            quiet_since, last = time.monotonic(), -1
            while time.monotonic() - quiet_since < sz.settle_s:
                await reader.poll()
                if done():
                    break
                if service.proc.poll() is not None:
                    crashes += 1
                    errors[last_error(service.text()) or f"exit {service.proc.returncode}"] += 1
                    if crashes > sz.fuzz_restarts:
                        break  # a crash loop: no point restarting it again
                    service = group.start()
                progress = sum(len(v) for v in reader.got.values())
                if progress != last:
                    last, quiet_since = progress, time.monotonic()
                await asyncio.sleep(0.3)
            await reader.poll()
            scored, dead = state()
    missing = [kind[0] for pos, kind in must.items() if pos not in dead]
    by_kind = Counter(missing)
    ctx.log(f"{name}: {len(bad)} bad, {len(good)} good; crashes {dict(errors)}; no dead letter {dict(by_kind)}")
    return [
        Row(name, "malformed messages sent", len(bad), f">={min(len(bad), sz.fuzz_bad)}", f"{len(good):,} good points among them"),
        Row(
            name,
            "detector crashes",
            crashes,
            "0",
            "; ".join(f"{n}x {e}" for e, n in errors.most_common(2))
            + (f" (gave up after {crashes} restarts)" if crashes > sz.fuzz_restarts else ""),
        ),
        Row(
            name,
            "bad messages without a dead letter",
            len(missing),
            "0",
            ", ".join(f"{k} {n}" for k, n in by_kind.most_common(6)),
        ),
        Row(name, "good points unscored", len(want - scored), "0", f"of {len(want):,}"),
    ]


async def flood(ctx: Context) -> list[Row]:
    """Many distinct series ids through a small store: resident memory over time."""
    name = "flood"
    sz = ctx.sizes
    s = _settings(ctx, name, score_topic=None, max_batch_points=5000)
    s = with_model(s, ctx.artifact, window={"max_series": 1000, "idle_evict_s": 60.0})
    k = s.kafka
    per = sz.flood_per_message
    messages: list[Message] = []
    for first in range(0, sz.flood_ids, per):
        body = [
            {"series": f"flood-{i:07d}", "ts": T0 + i, "value": 0.5}
            for i in range(first, min(first + per, sz.flood_ids))
        ]
        messages.append((None, json.dumps(body).encode()))
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic])
    samples: list[tuple[float, float, int]] = []  # (seconds, fraction committed, RSS KiB)
    with services(s, s.model.artifact_dir.parent, name) as group:
        service = group.start()
        await wait_joined(service)
        where = await send_all(ctx.broker.address, k.input_topic, messages)
        ends = Counter(p for p, _ in where)
        async with Offsets(ctx.broker.address, k.group_id, k.input_topic, k.partitions) as offs:
            started = time.monotonic()
            limit = 60 + sz.flood_ids / 2_000  # at least 2,000 points/s, or it stops
            while time.monotonic() - started < limit and service.proc.poll() is None:
                now = await offs.read()
                done = sum(now.get(tp, 0) for tp in offs.tps) / len(messages)
                samples.append((time.monotonic() - started, done, rss_kib(service.proc.pid)))
                if done >= 1:
                    break
                await asyncio.sleep(0.5)
        exited = service.proc.poll()
        code = service.terminate() if exited is None else exited
    del ends
    filled = next((x for x in samples if x[1] >= 0.2), samples[-1] if samples else (0, 0, 0))
    end = samples[-1] if samples else (0, 0, 0)
    growth = (end[2] - filled[2]) / 1024
    curve = [
        next((f"{x[2] / 1024:.0f}" for x in samples if x[1] >= q), "-") for q in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]
    ctx.log(f"flood: {len(samples)} samples over {end[0]:.0f} s, final fraction {end[1]:.2f}")
    return [
        Row(name, "series ids sent", sz.flood_ids, f">={sz.flood_ids}", "window.max_series 1000"),
        Row(name, "ids consumed (share)", round(end[1] * 100), "100", f"in {end[0]:.0f} s"),
        Row(
            name,
            "RSS growth after the store filled (MiB)",
            round(growth, 1),
            "<=16",
            f"RSS MiB at 0/25/50/75/100% of the ids: {' / '.join(curve)}; growth from 20% to the end",
        ),
        Row(name, "exit code on SIGTERM", code, "0"),
    ]


async def _score_until(reader: Reader, topic: str, want: set[Any], quiet_s: float) -> set[Any]:
    def have() -> set[Any]:
        return {(b["series"], b["ts"]) for b in reader.bodies(topic)}

    await settle(reader, lambda: len(reader.got[topic]), lambda: have() >= want, quiet_s)
    return have()


def _dead_of(reader: Reader, topic: str) -> list[Any]:
    return reader.bodies(topic)


async def clock_skew(ctx: Context) -> list[Row]:
    """One point ten years ahead among live series, then new series arrive."""
    name = "clock-skew"
    rng = np.random.default_rng(ctx.seed + 3)
    s = with_model(_settings(ctx, name), ctx.artifact, window={"max_series": 10})
    k = s.kafka
    live = [f"live-{i}" for i in range(7)]
    points = sine(live, 120, rng)
    half = len(points) // 2
    skew = Point("skew", T0 + TEN_YEARS, (0.5,))
    after: list[Point] = []
    for j, p in enumerate(points[half:]):
        after.append(p)
        if j % len(live) == 0:
            after.append(Point(f"new-{j}", p.ts, (0.5,)))
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic])
    with services(s, s.model.artifact_dir.parent, name) as group:
        service = group.start()
        await wait_joined(service)
        async with Reader(ctx.broker.address, [k.score_topic, k.dead_letter_topic]) as reader:
            await send_all(ctx.broker.address, k.input_topic, point_messages(points[:half]))
            await _score_until(reader, k.score_topic, scorable(points[:half]), ctx.sizes.settle_s)
            await send_all(ctx.broker.address, k.input_topic, point_messages([skew]))
            await asyncio.sleep(1.0)
            await send_all(ctx.broker.address, k.input_topic, point_messages(after))
            want = scorable(points) - scorable(points[:half])
            scored = await _score_until(reader, k.score_topic, want, ctx.sizes.settle_s / 2)
            dead = _dead_of(reader, k.dead_letter_topic)
        code = service.terminate()
    lost = want - scored
    dead_at = {(d["series"], d["ts"]) for d in dead}
    silent = [x for x in lost if x not in dead_at]
    skew_refused = any(d["series"] == "skew" for d in dead)
    return [
        Row(name, "points of live series unscored", len(lost), "0", f"of {len(want)}"),
        Row(name, "of them without a dead letter", len(silent), "0"),
        Row(name, "the point 10 years ahead dead-lettered", int(skew_refused), "yes"),
        Row(name, "exit code on SIGTERM", code, "0"),
    ]


async def channel_mismatch(ctx: Context) -> list[Row]:
    """A series whose first point names the wrong channel, then only correct points."""
    name = "channel-mismatch"
    rng = np.random.default_rng(ctx.seed + 4)
    s = with_model(_settings(ctx, name), ctx.artifact)
    k = s.kafka
    points = sine(["pinned"], 60, rng)
    first = json.dumps({"series": "pinned", "ts": T0 - 60, "values": {"temp": 0.1}}).encode()
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic])
    with services(s, s.model.artifact_dir.parent, name) as group:
        service = group.start()
        await wait_joined(service)
        async with Reader(ctx.broker.address, [k.score_topic, k.dead_letter_topic]) as reader:
            await send_all(ctx.broker.address, k.input_topic, [(b"pinned", first)])
            await send_all(ctx.broker.address, k.input_topic, point_messages(points))
            want = scorable(points)
            scored = await _score_until(reader, k.score_topic, want, ctx.sizes.settle_s / 2)
            dead = _dead_of(reader, k.dead_letter_topic)
        code = service.terminate()
        text = service.text()
    later = [d for d in dead if d.get("ts") is not None and d["ts"] >= T0]
    names_setting = any("window.channels" in d["detail"] for d in dead)
    carries_raw = all(d.get("raw") for d in dead) and bool(dead)
    logged = "pinned" in text
    return [
        Row(name, "later correct points refused", len(later), "0", f"of {len(points)}"),
        Row(name, "correct points unscored", len(want - scored), "0", f"of {len(want)}"),
        Row(name, "a refusal names window.channels", int(names_setting), "yes"),
        Row(name, "dead letters carry the raw message", int(carries_raw), "yes"),
        Row(name, "the refusal is logged", int(logged), "yes"),
        Row(name, "exit code on SIGTERM", code, "0"),
    ]


async def broker_pause(ctx: Context) -> list[Row]:
    """SIGSTOP the broker for longer than a session, SIGCONT it, keep producing."""
    name = "broker-pause"
    rng = np.random.default_rng(ctx.seed + 5)
    s = with_model(_settings(ctx, name), ctx.artifact)
    k = s.kafka
    points = sine([f"pause-{i}" for i in range(4)], 160, rng)
    half = len(points) // 2
    pid = ctx.broker.pid
    assert pid is not None
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic])
    with services(s, s.model.artifact_dir.parent, name) as group:
        service = group.start()
        await wait_joined(service)
        await send_all(ctx.broker.address, k.input_topic, point_messages(points[:half]))
        await asyncio.sleep(1.0)
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(10.0)
        finally:
            os.kill(pid, signal.SIGCONT)
        await send_all(ctx.broker.address, k.input_topic, point_messages(points[half:]))
        async with Reader(ctx.broker.address, [k.score_topic]) as reader:
            want = scorable(points)
            scored = await _score_until(reader, k.score_topic, want, ctx.sizes.settle_s)
        alive = service.proc.poll() is None
        code = service.terminate() if alive else service.proc.returncode
    return [
        Row(name, "points unscored after a 10 s pause", len(want - scored), "0", f"of {len(want)}"),
        Row(name, "detector still running", int(alive), "yes"),
        Row(name, "exit code on SIGTERM", code, "0"),
    ]


def _errors_after(text: str, offset: int) -> int:
    return sum(1 for line in text[offset:].splitlines() if " ERROR " in line)


async def broker_replacement(ctx: Context) -> list[Row]:
    """Stop the broker, start a new empty one on the same port, keep producing."""
    name = "broker-replace"
    rng = np.random.default_rng(ctx.seed + 6)
    points = sine([f"repl-{i}" for i in range(4)], 160, rng)
    half = len(points) // 2
    first = EmbeddedBroker().start()
    second: EmbeddedBroker | None = None
    try:
        workdir = ctx.workdir / name
        workdir.mkdir(parents=True, exist_ok=True)
        s = with_model(base_settings(workdir, first.address, prefix()), ctx.artifact)
        k = s.kafka
        topics = [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic]
        await ensure_topics(k, topics)
        with services(s, workdir, name) as group:
            service = group.start()
            await wait_joined(service)
            await send_all(first.address, k.input_topic, point_messages(points[:half]))
            async with Reader(first.address, [k.score_topic]) as reader:
                await _score_until(reader, k.score_topic, scorable(points[:half]), ctx.sizes.settle_s)
            mark = len(service.text())
            stopped = time.monotonic()
            port = first.port
            first.stop()
            await asyncio.sleep(3.0)
            second = EmbeddedBroker(port).start()
            # The upstream producer's topic comes back (as its owner would recreate it);
            # the detector's own topics are the detector's business.
            await ensure_topics(k, [k.input_topic])
            await send_all(second.address, k.input_topic, point_messages(points[half:]))
            want = scorable(points) - scorable(points[:half])
            async with Reader(second.address, [k.score_topic]) as reader:
                scored = await _score_until(reader, k.score_topic, want, ctx.sizes.settle_s)
            elapsed = time.monotonic() - stopped
            errors = _errors_after(service.text(), mark)
            alive = service.proc.poll() is None
            code = service.terminate() if alive else service.proc.returncode
    finally:
        first.stop()
        if second is not None:
            second.stop()
    return [
        Row(name, "new points unscored (not readable)", len(want - scored), "0", f"of {len(want)}"),
        Row(
            name,
            "ERROR log lines per second",
            round(errors / elapsed, 1),
            "<=1",
            f"{errors} lines in {elapsed:.0f} s",
        ),
        Row(name, "exit code on SIGTERM", code, "0"),
    ]


async def sigterm(ctx: Context) -> list[Row]:
    """SIGTERM during a backlog, then a second detector finishes; and SIGTERM while
    Kafka cannot be reached."""
    name = "sigterm"
    rng = np.random.default_rng(ctx.seed + 7)
    s = with_model(_settings(ctx, name, max_batch_points=50), ctx.artifact)
    k = s.kafka
    points = sine([f"term-{i}" for i in range(4)], 600, rng)
    want = scorable(points)
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic])
    await send_all(ctx.broker.address, k.input_topic, point_messages(points))
    with services(s, s.model.artifact_dir.parent, name) as group:
        async with Reader(ctx.broker.address, [k.score_topic]) as reader:
            first = group.start()
            await wait_joined(first)

            async def scoring() -> bool:
                await reader.poll(1)
                return len(reader.got[k.score_topic]) > len(want) // 5

            await until(scoring, 60)
            asked = time.monotonic()
            code = first.terminate()
            took = time.monotonic() - asked
            second = group.start()
            await _score_until(reader, k.score_topic, want, ctx.sizes.settle_s)
            second.terminate()
            scores = Counter((b["series"], b["ts"]) for b in reader.bodies(k.score_topic))
        # Kafka unreachable: the detector waits to connect; SIGTERM must still end it.
        dead_end = with_model(
            base_settings(s.model.artifact_dir.parent, f"127.0.0.1:{_free_port()}", prefix()),
            ctx.artifact,
        )
        waiting = group.start(dead_end)
        await asyncio.sleep(4.0)
        waiting.proc.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        try:
            waiting.proc.wait(timeout=12)
            wait_exit = time.monotonic() - asked
        except Exception:
            wait_exit = math.inf
    return [
        Row(name, "exit code", code, "0"),
        Row(name, "seconds to exit under load", round(took, 1), "<=10"),
        Row(name, "points re-scored after the restart (uncommitted work)", sum(n - 1 for n in scores.values()), "0"),
        Row(name, "points unscored after the restart", len(want - set(scores)), "0", f"of {len(want)}"),
        Row(
            name,
            "seconds to exit while Kafka is unreachable",
            round(wait_exit, 1) if math.isfinite(wait_exit) else math.inf,
            "<=5",
            "never = still running 12 s after SIGTERM, then killed",
        ),
    ]


async def corrupt_current(ctx: Context) -> list[Row]:
    """The registry's `current` model.pt is garbage; an older version loads."""
    from stream_ae.registry import ModelRegistry

    name = "corrupt-current"
    rng = np.random.default_rng(ctx.seed + 8)
    s = _settings(ctx, name)
    k = s.kafka
    root = s.model.artifact_dir
    older, newer = ctx.artifact.name, ctx.artifact.name + "-b"
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ctx.artifact, root / older)
    shutil.copytree(ctx.artifact, root / newer)
    registry = ModelRegistry(root)
    registry.promote(older)
    registry.promote(newer)
    (root / newer / "model.pt").write_bytes(rng.bytes(4096))
    points = sine([f"cur-{i}" for i in range(3)], 60, rng)
    want = scorable(points)
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic])
    with services(s, root.parent, name) as group:
        service = group.start()
        up = await wait_joined(service, limit_s=60)
        scored: set[Any] = set()
        if up:
            await send_all(ctx.broker.address, k.input_topic, point_messages(points))
            async with Reader(ctx.broker.address, [k.score_topic]) as reader:
                scored = await _score_until(reader, k.score_topic, want, ctx.sizes.settle_s / 2)
        alive = service.proc.poll() is None
        code = service.terminate() if alive else service.proc.returncode
        why = last_error(service.text())
    return [
        Row(name, "detector serves", int(alive and up), "yes", "" if alive else f"exit {code}: {why}"),
        Row(name, "points unscored", len(want - scored), "0", f"of {len(want)}"),
    ]


SCENARIOS: dict[str, Callable[[Context], Awaitable[list[Row]]]] = {
    "sigkill-backlog": sigkill_backlog,
    "sigkill-live": sigkill_live,
    "fuzz": fuzz_input,
    "flood": flood,
    "clock-skew": clock_skew,
    "channel-mismatch": channel_mismatch,
    "broker-pause": broker_pause,
    "broker-replace": broker_replacement,
    "sigterm": sigterm,
    "corrupt-current": corrupt_current,
}


def run_scenario(ctx: Context, name: str) -> tuple[list[Row], float]:
    """One scenario on its own event loop; its rows and seconds."""
    started = time.monotonic()
    rows = asyncio.run(SCENARIOS[name](ctx))
    return rows, time.monotonic() - started


def fit_model(root: Path) -> Path:
    """The small model the service tests use (tests/service/conftest.py `artifact`)."""
    from stream_ae.runtime.detect_job import run_detect

    values = np.sin(2 * np.pi * np.arange(800) / 25)
    lines = ["timestamp,value"] + [f"{T0 + 60 * i},{v:.5f}" for i, v in enumerate(values)]
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    settings = base_settings(root, "unused:1", "unused")
    summary = run_detect(root / "train.csv", settings, root / "out", echo_alerts=False)
    return Path(summary.model_artifact)
