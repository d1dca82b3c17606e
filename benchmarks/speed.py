"""Speed: points/s and produce-to-alert latency through the embedded broker, beside the
ceilings and the peers, for 1 to 100,000 series at hop 1 and a larger hop.

For each case one `stream-ae run` subprocess (score topic off, as deployed) reads the
points this process produces to the embedded broker. Three phases, one service:

- fill: every series' window is filled (no timing);
- max rate: `timed` steps produced as fast as the producer goes; points/s = points /
  (first send .. the service's committed offsets reach the last point). A commit
  follows the batch's alerts being acknowledged, so this is work finished, not read;
- paced: steps at `--pace` x that rate, with spikes at points that complete a scored
  window; alert latency = alert read - that point's send (p50, p99), and its p99 up to
  the alert's record timestamp (the service's send; the rest is the alert's way back
  through the broker to this process's reader). The rate the
  points were sent at is printed beside the rate asked: where it is lower, this
  process fell behind, and its backlog is in the latency.

Beside it, in the same session: the model alone on windows in the pipeline's batch
size (the ceiling; as points/s it is windows/s x hop), the consumer alone reading and
decoding the same topic through `KafkaSource` (the broker's ceiling), the detector
alone without Kafka, and the peers of `peers.py`. Memory per series is the service's
resident memory after the max-rate phase less before the first point, per series. CPU
per point is the service's CPU time over the max-rate phase per point: its main thread
(event loop: fetch, decode, send, commit) and the whole process. Beside it, over the
same phase: the broker's CPU per point, this process's (producing and reading alerts),
and how many of the machine's cores were busy: where that is all of them, the service
can only go faster by needing less CPU, not by waiting less.

With `--points-per-message K` each message carries a JSON array of K points (one step of
K series), as a gateway that batches its readings sends them: the event loop's cost is
per message as much as per point.

With `--processes N`, N services share the consumer group (and the input's partitions)
on this machine; the memory and CPU columns then sum over them.

Alerts open 1-of-1 above a fixed floor (threshold warm-up of 1 score) so that every
spike alerts at once: latency is the pipeline's, not the k-of-n policy's wait. The floor
lies above all but about one in 10^4 clean windows' scores (7-26 clean alerts in
30,000-400,000 points at hop 1, 2026-12-05) and below most spiked ones', so the
max-rate phase, which has no spikes, pages on few of its points: the table counts those
that do ("clean alerts"), since each alert costs both threads work that clean points
do not. A spike stays in its series' window for a window's length, and once its
incident resolved a later window may open another on a clean point: the latency and
the count of spikes that paged take only the alerts of spiked points.

    python benchmarks/speed.py [--quick] [--series 1,100,10000,100000] [--hops 1,8]
                               [--processes N] [--points-per-message K]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
import urllib.request
import warnings
from dataclasses import asdict, dataclass, field
from math import nan
from pathlib import Path

import e2e_kafka as e2e
import numpy as np
import peers
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from stream_ae.connectors.kafka_common import ensure_topics
from stream_ae.connectors.kafka_source import KafkaSource
from stream_ae.core.windows import hop_phase
from stream_ae.core.windows.phase import count_to_first_window
from stream_ae.metrics import STAGES
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.settings import Settings

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")

WINDOW, HIDDEN, T0 = e2e.WINDOW, e2e.HIDDEN, e2e.T0
FLOOR, TRAIN_SERIES, EPOCHS = e2e.FLOOR, e2e.TRAIN_SERIES, e2e.EPOCHS
"""The fit and the floor that part clean windows from spiked ones (see `e2e_kafka`)."""
TIMED_POINTS = {1: 30_000, 100: 100_000}
"""Points of the max-rate phase (default 200,000, and at least 4 steps): enough for
several seconds at each count's rate, so batching waits do not dominate."""
BATCH = 5000
HERE = Path(__file__).resolve().parent


@dataclass
class Row:
    series: int
    hop: int
    points: int
    points_per_s: float
    windows_per_s: float
    ceiling_windows_per_s: float
    ratio: float
    """points/s over the model's ceiling as points/s (windows/s x hop)."""
    decode_points_per_s: float
    detector_alone_points_per_s: float
    alert_p50_ms: float
    alert_p99_ms: float
    alerts: int
    """Spikes of the paced phase that opened an alert on their own point."""
    spikes: int
    clean_alerts: int
    """Alerts opened in the max-rate phase, on points that carry no spike."""
    memory_kib_per_series: float
    seconds: float
    processes: int = 1
    points_per_message: int = 1
    main_thread_us_per_point: float = float("nan")
    process_us_per_point: float = float("nan")
    broker_us_per_point: float = float("nan")
    producer_us_per_point: float = float("nan")
    """This benchmark's process: sending the points and reading the alerts (their
    messages are encoded before the counters are read, and not counted)."""
    cores_busy: float = float("nan")
    """Cores the machine kept busy over the max-rate phase (of os.cpu_count())."""
    paced_stage_ms: dict[str, float] = field(default_factory=dict)
    """Over the paced phase, the services' own `stage_seconds` metric: mean ms a batch
    spent in each stage, and `points` a batch (`batch_points`)."""
    max_rate_stage_ms: dict[str, float] = field(default_factory=dict)
    """The same over the max-rate phase."""
    alert_stamped_p99_ms: float = float("nan")
    """p99 from a spike's send to its alert's record timestamp (`spike_stamp_latencies`):
    what of the p99 lies before the alert leaves the service."""
    paced_asked_points_per_s: float = float("nan")
    paced_sent_points_per_s: float = float("nan")
    """The paced phase's rate as sent: below the rate asked, this process's producer fell
    behind, and its backlog is in the latency measured."""


def settings_for(bootstrap: str, root: Path, name: str, hop: int, series: int) -> Settings:
    return Settings.model_validate(
        {
            "window": {"length": WINDOW, "hop": hop, "max_series": max(20_000, 2 * series)},
            "model": {
                "hidden": HIDDEN,
                "epochs": EPOCHS,
                "patience": 3,
                "max_train_windows": 4000,
                "artifact_dir": str(root / "models"),
            },
            "threshold": {"warmup": 1, "history": 100, "floor": FLOOR},
            # open_ratio 1: a score past the floor opens. The default (1.5) needs about
            # 2.2 times a floor that holds the threshold far above a series' own scores
            # (see threshold.floor): 40 of 200 spikes did not page at 100,000 series,
            # and the table counted that rather than the pipeline.
            "alerts": {
                "open_k": 1,
                "open_n": 1,
                "open_ratio": 1.0,
                "resolve_after": 1,
                "cooldown": 0,
            },
            "metrics": {"address": "127.0.0.1:0"},
            "kafka": e2e.kafka_section(bootstrap, name, 200, BATCH, score_topic=False),
        }
    )


def scored_step(step: int, hop: int, phase: int = 0) -> bool:
    """True where the point of a series of this `hop_phase` completes a window that is
    scored (every series sends its first point at step 0), by the store's own rule: its
    counter starts at `count_to_first_window` and scores on reaching the hop."""
    first = hop - count_to_first_window(WINDOW, hop, phase) - 1
    return step >= first and (step - first) % hop == 0


def phases_of(names: list[str], hop: int) -> np.ndarray:
    """Each series' `hop_phase`: how many steps after phase 0 its windows are scored."""
    return np.array([hop_phase(name, hop) for name in names], dtype=np.int64)


def scored_windows(phases: np.ndarray, hop: int, first: int, last: int) -> int:
    """Windows the series of these phases score over steps [first, last)."""
    per_phase = np.bincount(phases, minlength=hop)
    return sum(
        int(per_phase[p]) * sum(scored_step(s, hop, p) for s in range(first, last))
        for p in range(hop)
    )


SPIKE_CADENCE = 64
"""Steps between the paced phase's spike steps, at most."""
SPIKES_A_STEP = 200
"""Series spiked at one spike step, at most."""


def spike_spacing(hop: int) -> int:
    """Steps between two spikes of one series: 512 at hop 1, 256 scored windows from hop
    2 up. Closer, a series' threshold learns its spikes as its usual level and stops
    paging on them (RESULTS.md, "A spike that comes back stops paging"), and the table
    would count that instead of the pipeline's latency."""
    return max(512, 256 * hop)


def spike_schedule(
    series: int, hop: int, first: int, last: int, phases: np.ndarray
) -> list[tuple[int, int]]:
    """(step, series) of every spike in steps [first, last), `first` a step that phase 0
    scores: each lands on a point that its series scores (`phases`, by series).

    A spike step comes every SPIKE_CADENCE steps (fewer series: less often), and each
    spikes the next group of series in turn, at most SPIKES_A_STEP of them spread over
    the ids, so that however long the paced phase runs (longer the faster the machine)
    no series is spiked again within `spike_spacing` steps. A series' spike comes its
    phase's steps after the spike step."""
    spacing = spike_spacing(hop)
    cadence = max(SPIKE_CADENCE, -(-spacing // series))
    cadence = -(-cadence // hop) * hop  # from a scored step, only whole hops land on one
    turns = -(-spacing // cadence)  # spike steps before a series' next spike, at least
    group = max(1, min(SPIKES_A_STEP, series // turns))
    stride = max(turns, series // group)  # a group's members lie `stride` ids apart
    order = [(k % group) * stride + k // group for k in range(group * stride)]
    steps = [s for s in range(first, last, cadence) if scored_step(s, hop)]
    planned = [
        (step, order[(n * group + j) % len(order)])
        for n, step in enumerate(steps)
        for j in range(group)
    ]
    shifted = [(step + int(phases[i]), i) for step, i in planned]
    return [(step, i) for step, i in shifted if step < last]


def spike_stamp_latencies(stream: e2e.Stream, first: int, last: int) -> np.ndarray:
    """Seconds from each spiked point's send to its alert's record timestamp (the
    service's send), for spikes of steps [first, last): the latency less the alert's
    way back through the broker to this process."""
    return np.array(
        [
            t - stream.sent[step, i]
            for (step, i), t in stream.opened_stamped.items()
            if first <= step < last and stream.spiked[step, i]
        ]
    )


def spike_latencies(stream: e2e.Stream, first: int, last: int) -> np.ndarray:
    """Seconds from each spiked point's send to the read of the alert it opened, for
    spikes of steps [first, last). Only spiked points count: a window holds its spike
    for WINDOW steps, and one of those may open another incident once the first has
    resolved, on a point that is clean."""
    return np.array(
        [
            t - stream.sent[step, i]
            for step, i, t in stream.opened
            if first <= step < last and stream.spiked[step, i]
        ]
    )


def cpu_s(pid: int, thread: int | None = None) -> float:
    """CPU seconds (user + system) of process `pid`, or of its thread `thread`."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds all cores of the machine spent running something (user, nice, system,
    irq and softirq time: not idle, not waiting on I/O, not stolen by a hypervisor)."""
    user, nice, system, _idle, _iowait, irq, softirq = (
        int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]
    )
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


class Commits:
    """The service group's committed offsets on the input topic, read by a consumer of
    the same group that never subscribes (so it never joins or rebalances the group)."""

    def __init__(self, settings: Settings) -> None:
        k = settings.kafka
        self.partitions = [TopicPartition(k.input_topic, p) for p in range(k.partitions)]
        self.group = k.group_id
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=k.bootstrap, group_id=k.group_id, enable_auto_commit=False
        )

    async def total(self) -> int:
        got = await asyncio.gather(*(self.consumer.committed(tp) for tp in self.partitions))
        return sum(offset or 0 for offset in got)

    async def wait(self, total: int, limit: float, services: list[e2e.SubprocessService]) -> float:
        """Wait until `total` messages are committed; the time that was first seen. A
        service that exits meanwhile ends the wait at once, with its log's tail."""
        deadline = time.perf_counter() + limit
        while await self.total() < total:
            for service in services:
                service.check_running()
            if time.perf_counter() > deadline:
                raise RuntimeError(
                    f"{self.group}: {await self.total()} of {total} messages processed in {limit} s"
                )
            await asyncio.sleep(0.02)
        return time.perf_counter()


async def decode_alone(settings: Settings, total: int) -> float:
    """Points/s of `KafkaSource` alone (fetch, decode, commit) over the whole topic, with
    the channels known as the service knows them (its model's), so the same decoder."""
    kafka = settings.kafka.model_copy(update={"group_id": f"{settings.kafka.group_id}-decode"})

    async def nothing(_: object) -> None:
        return None

    source = KafkaSource(
        kafka,
        on_revoke=nothing,
        channels=settings.window.channels,
        max_series=settings.window.max_series,
    )
    await source.start()
    try:
        for _ in range(600):  # the group join runs in the background: up to 30 s
            if source.assignment():
                break
            await asyncio.sleep(0.05)
        seen, started = 0, time.perf_counter()
        while seen < total:
            batch = await source.next_batch()
            seen += len(batch.series)  # as the service reads it: no Point objects
            await source.commit(batch.offsets)
        return seen / (time.perf_counter() - started)
    finally:
        await source.stop()


async def run_case(
    series: int,
    hop: int,
    timed: int,
    bootstrap: str,
    artifact: Path,
    workdir: Path,
    args: argparse.Namespace,
    broker_pid: int | None = None,
) -> tuple[Row, e2e.Stream, tuple[int, int]]:
    name = f"speed-{series}-{hop}"
    settings = settings_for(bootstrap, workdir, name, hop, series)
    k = settings.kafka
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic])
    fill = WINDOW - 1 + hop  # every series has one score: thresholds are warm
    s1 = fill + timed
    while not scored_step(s1, hop):  # the paced phase starts on a scored step
        s1 += 1
    paced_room = max(2 * hop, int(150_000 * args.paced_seconds / series))
    values = e2e.series_values(series, s1 + paced_room, args.seed)
    phases = phases_of(e2e.Stream.names_of(series), hop)
    spikes_planned = spike_schedule(series, hop, s1, values.shape[0], phases)
    stream = e2e.Stream(values, spikes_planned, args.points_per_message)
    services = [
        e2e.SubprocessService(settings, artifact, workdir, member)
        for member in range(args.processes)
    ]
    consumer, producer = e2e.clients(bootstrap, [k.alert_topic])
    commits = Commits(settings)
    wall = time.perf_counter()
    try:
        for service in services:
            await service.start()
        pids = [service.process.pid for service in services if service.process is not None]
        await asyncio.gather(consumer.start(), producer.start(), commits.consumer.start())
        observer = asyncio.create_task(e2e.observe(consumer, stream, score_topic=""))
        try:
            before = sum(rss_kib(pid) for pid in pids)
            await e2e.produce(producer, k.input_topic, stream, 0, stream.encoded(0, fill), None)
            per_step = -(-series // args.points_per_message)  # messages a step takes
            await commits.wait(fill * per_step, args.timeout, services)
            urls = [service.metrics_url() for service in services]
            stages_start = await asyncio.to_thread(stage_totals, urls)
            timed_messages = stream.encoded(fill, s1)  # before the CPU is read
            main_before = sum(cpu_s(pid, pid) for pid in pids)
            all_before = sum(cpu_s(pid) for pid in pids)
            broker_before = cpu_s(broker_pid) if broker_pid else nan
            producer_before = cpu_s(os.getpid())
            machine_before = machine_busy_s()
            started = await e2e.produce(producer, k.input_topic, stream, fill, timed_messages, None)
            done = await commits.wait(s1 * per_step, args.timeout, services)
            main_s = sum(cpu_s(pid, pid) for pid in pids) - main_before
            all_s = sum(cpu_s(pid) for pid in pids) - all_before
            broker_s = cpu_s(broker_pid) - broker_before if broker_pid else nan
            producer_s = cpu_s(os.getpid()) - producer_before
            cores_busy = (machine_busy_s() - machine_before) / (done - started)
            memory = (sum(rss_kib(pid) for pid in pids) - before) / series
            del timed_messages  # freed after the counters: it takes a while
            # Read after the counters above: the scrape is not in the timed figures.
            stages_max = await asyncio.to_thread(stage_totals, urls)
            rate = (s1 - fill) * series / (done - started)
            # At least a hop: every phase's spikes of the first spike step are sent.
            paced_steps = max(2, hop, int(args.pace * rate * args.paced_seconds / series))
            s2 = min(values.shape[0], s1 + paced_steps)
            stages_before = await asyncio.to_thread(stage_totals, urls)
            paced = stream.encoded(s1, s2)
            await e2e.produce(producer, k.input_topic, stream, s1, paced, args.pace * rate)
            del paced  # not alive through the measurements in this process below
            await commits.wait(s2 * per_step, args.timeout, services)
            await e2e.read_to_end(consumer, args.timeout)
            stages = await asyncio.to_thread(stage_totals, urls)
        finally:
            observer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await observer
        for service in services:
            await service.stop()
        decode = await decode_alone(settings, s2 * series)
    finally:
        for service in services:
            service.kill()
        await asyncio.gather(producer.stop(), consumer.stop(), commits.consumer.stop())
    latency = spike_latencies(stream, s1, s2)
    stamped = spike_stamp_latencies(stream, s1, s2)
    spikes = sum(1 for step, _ in spikes_planned if step < s2)
    windows = scored_windows(phases, hop, fill, s1)
    top = e2e.ceiling(artifact, settings, min(200_000, max(windows, 20_000)), BATCH)
    points = (s1 - fill) * series
    row = Row(
        series=series,
        hop=hop,
        points=points,
        points_per_s=rate,
        windows_per_s=windows / (done - started),
        ceiling_windows_per_s=top,
        ratio=rate / (top * hop),
        decode_points_per_s=decode,
        detector_alone_points_per_s=e2e.detector_alone(artifact, settings, stream, s1, fill),
        alert_p50_ms=float(np.percentile(latency, 50) * 1000) if len(latency) else float("nan"),
        alert_p99_ms=float(np.percentile(latency, 99) * 1000) if len(latency) else float("nan"),
        alert_stamped_p99_ms=float(np.percentile(stamped, 99) * 1000) if len(stamped) else nan,
        alerts=len(latency),
        spikes=spikes,
        clean_alerts=sum(1 for step, _, _ in stream.opened if fill <= step < s1),
        memory_kib_per_series=memory,
        seconds=time.perf_counter() - wall,
        processes=args.processes,
        points_per_message=args.points_per_message,
        main_thread_us_per_point=main_s / points * 1e6,
        process_us_per_point=all_s / points * 1e6,
        broker_us_per_point=broker_s / points * 1e6,
        producer_us_per_point=producer_s / points * 1e6,
        cores_busy=cores_busy,
        paced_stage_ms=stage_means(stages_before, stages),
        max_rate_stage_ms=stage_means(stages_start, stages_max),
        paced_asked_points_per_s=args.pace * rate,
        paced_sent_points_per_s=sent_rate(stream.sent[s1:s2]),
    )
    return row, stream, (s1, s2)


def stage_totals(urls: list[str]) -> dict[str, tuple[float, float]]:
    """(sum, count) of each stage's seconds, and of the points a batch, over the
    services' metrics: what a dashboard reads."""
    totals: dict[str, list[float]] = {}
    for url in urls:
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            if family.name not in ("stream_ae_stage_seconds", "stream_ae_batch_points"):
                continue
            for sample in family.samples:
                key = sample.labels.get("stage", "points")
                total = totals.setdefault(key, [0.0, 0.0])
                if sample.name.endswith("_sum"):
                    total[0] += sample.value
                elif sample.name.endswith("_count"):
                    total[1] += sample.value
    return {key: (total[0], total[1]) for key, total in totals.items()}


def stage_means(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, float]:
    """Mean per batch between two `stage_totals`: ms for a stage, points for `points`."""
    means = {}
    for key, (total, count) in after.items():
        total_before, count_before = before.get(key, (0.0, 0.0))
        batches = count - count_before
        mean = (total - total_before) / batches if batches else float("nan")
        means[key] = mean if key == "points" else mean * 1000
    return means


def sent_rate(sent: np.ndarray) -> float:
    """Points/s over the span of their send times."""
    span = float(np.nanmax(sent) - np.nanmin(sent)) if sent.size else 0.0
    return sent.size / span if span > 0 else float("nan")


def table(rows: list[Row], hst: float, per_point: float) -> str:
    lines = [
        "| series | hop | processes | points a message | points timed | points/s "
        "| model ceiling (points/s) "
        "| end to end / model | decode alone | end to end / decode | detector alone "
        "| detector / model | vs HST | vs per-point torch | alert p50 / p99 ms "
        "| p99 to the alert's send ms "
        "| alerts / spikes | clean alerts | KiB per series "
        "| CPU µs/point main thread / process "
        "| CPU µs/point broker / producer | cores busy | paced points/s asked / sent |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:"
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        model = r.ceiling_windows_per_s * r.hop
        lines.append(
            f"| {r.series:,} | {r.hop} | {r.processes} | {r.points_per_message} "
            f"| {r.points:,} | {r.points_per_s:,.0f} "
            f"| {model:,.0f} | {r.ratio:.2f} "
            f"| {r.decode_points_per_s:,.0f} | {r.points_per_s / r.decode_points_per_s:.2f} "
            f"| {r.detector_alone_points_per_s:,.0f} "
            f"| {r.detector_alone_points_per_s / model:.2f} "
            f"| {r.points_per_s / hst:.1f}x | {r.points_per_s / per_point:.1f}x "
            f"| {r.alert_p50_ms:,.0f} / {r.alert_p99_ms:,.0f} | {r.alert_stamped_p99_ms:,.0f} "
            f"| {r.alerts} / {r.spikes} "
            f"| {r.clean_alerts} | {r.memory_kib_per_series:,.1f} "
            f"| {r.main_thread_us_per_point:.1f} / {r.process_us_per_point:.1f} "
            f"| {r.broker_us_per_point:.1f} / {r.producer_us_per_point:.1f} "
            f"| {r.cores_busy:.2f} of {os.cpu_count()} "
            f"| {r.paced_asked_points_per_s:,.0f} / {r.paced_sent_points_per_s:,.0f} |"
        )
    lines += [
        "",
        "Where a batch's time goes: the services' `stage_seconds`, mean ms a batch, "
        "pooled over the processes "
        "(a point waits for the broker before `fetch`, and for the alert's read after "
        "`send`):",
        "",
        "| series | hop | phase | points a batch | " + " | ".join(STAGES) + " |",
        "|---:|---:|---|---:|" + "---:|" * len(STAGES),
    ]
    for r in rows:
        for phase, ms in (("max rate", r.max_rate_stage_ms), ("paced", r.paced_stage_ms)):
            lines.append(
                f"| {r.series:,} | {r.hop} | {phase} | {ms.get('points', nan):,.0f} | "
                + " | ".join(f"{ms.get(stage, nan):.1f}" for stage in STAGES)
                + " |"
            )
    return "\n".join(lines)


def plot(rows: list[Row], hst: float, per_point: float, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.series:,} series\nhop {r.hop}" for r in rows]
    x = np.arange(len(rows))
    bars = [
        ("model alone (ceiling)", [r.ceiling_windows_per_s * r.hop for r in rows], "#bbbbbb"),
        ("consume + decode alone", [r.decode_points_per_s for r in rows], "#9ecae1"),
        ("detector alone, no Kafka", [r.detector_alone_points_per_s for r in rows], "#6baed6"),
        ("stream-ae pipeline", [r.points_per_s for r in rows], "#08519c"),
        ("HalfSpaceTrees per point", [hst] * len(rows), "#fdae6b"),
        ("torch per point (tutorial loop)", [per_point] * len(rows), "#e6550d"),
    ]
    width = 0.8 / len(bars)
    fig, ax = plt.subplots(figsize=(12, 5))
    for k, (name, heights, colour) in enumerate(bars):
        ax.bar(x + (k - len(bars) / 2 + 0.5) * width, heights, width, label=name, color=colour)
    ax.set_yscale("log")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("points / s (log)")
    ax.set_title("stream-ae end to end through the embedded broker, beside ceilings and peers")
    ax.legend(fontsize=8, ncol=6, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    throughput = out / "speed_throughput.png"
    fig.savefig(throughput, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(12, 4))
    ax.bar(x - 0.2, [r.alert_p50_ms for r in rows], 0.4, label="p50", color="#6baed6")
    ax.bar(x + 0.2, [r.alert_p99_ms for r in rows], 0.4, label="p99", color="#08519c")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("produce to alert, ms")
    ax.set_title("Alert latency under a paced load (half the measured maximum rate)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    latency = out / "speed_latency.png"
    fig.savefig(latency, dpi=110)
    plt.close(fig)
    return [throughput, latency]


def report(rows: list[Row], hst: float, per_point: float, out: Path) -> None:
    """The table so far, and its JSON and plots (written after every case)."""
    print(f"\nmachine: {e2e.machine()}\n")
    print(table(rows, hst, per_point))
    print(
        f"\npeers (steady state, one series, points/s): HalfSpaceTrees {hst:,.0f}; "
        f"eager LSTM autoencoder per point {per_point:,.0f}\n",
        flush=True,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed.json").write_text(
        json.dumps(
            {
                "machine": e2e.machine(),
                "hst_points_per_s": hst,
                "torch_per_point_points_per_s": per_point,
                "rows": [asdict(r) for r in rows],
            },
            indent=1,
        )
    )
    plot(rows, hst, per_point, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1,000 series, a tenth of the points, 3 s paced"
    )
    parser.add_argument("--series", help="comma-separated series counts")
    parser.add_argument("--hops", default="1,8", help="comma-separated hops")
    parser.add_argument("--pace", type=float, default=0.5, help="paced rate / max rate")
    parser.add_argument("--paced-seconds", type=float, default=8.0)
    parser.add_argument("--timeout", type=float, default=900.0, help="per-phase limit, s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--processes", type=int, default=1, help="detector processes in the consumer group"
    )
    parser.add_argument(
        "--points-per-message",
        type=int,
        default=1,
        help="points a message carries (a JSON array of one step of that many series)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="JSON and PNGs (default: benchmarks/results, the recorded run; out/speed-quick "
        "with --quick, so a smoke run never replaces it)",
    )
    args = parser.parse_args()
    if args.out is None:
        args.out = Path("out/speed-quick") if args.quick else HERE / "results"
    default = "1000" if args.quick else "1,100,10000,100000"
    if args.quick:
        args.paced_seconds = min(args.paced_seconds, 3.0)
    counts = [int(s) for s in (args.series or default).split(",")]
    hops = [int(h) for h in args.hops.split(",")]
    logging.basicConfig(level=logging.WARNING)
    values = e2e.series_values(1, 20_500, args.seed)[:, 0]
    hst = peers.half_space_trees_rate(values)
    per_point = peers.torch_per_point_rate(values[:5_000], WINDOW, HIDDEN)
    print(f"peers, points/s: HalfSpaceTrees {hst:,.0f}, torch per point {per_point:,.0f}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="speed-") as tmp, EmbeddedBroker() as broker:
        workdir = Path(tmp)
        base = settings_for(broker.address, workdir, "speed", 1, 1)
        artifact, fit_s = e2e.pretrain(base, args.seed, TRAIN_SERIES)
        print(f"model: window {WINDOW}, hidden {HIDDEN}, fitted in {fit_s:.1f} s", flush=True)
        for series in counts:
            for hop in hops:
                timed = max(4, TIMED_POINTS.get(series, 200_000) // series)
                if args.quick:
                    timed = max(2, timed // 10)
                row, _, _ = asyncio.run(
                    run_case(
                        series, hop, timed, broker.address, artifact, workdir, args, broker.pid
                    )
                )
                rows.append(row)
                print(
                    f"{series:,} series hop {hop}: {row.points_per_s:,.0f} points/s, ratio "
                    f"{row.ratio:.2f}, alert p50 {row.alert_p50_ms:,.0f} ms ({row.seconds:.0f} s)",
                    flush=True,
                )
                report(rows, hst, per_point, args.out)


if __name__ == "__main__":
    main()
