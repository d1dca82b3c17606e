"""The detector service end to end through the embedded broker: points/s and latency.

One embedded (Tansu) broker, one small pre-trained model (window 32, hidden 32, fitted
on synthetic sine + noise windows), and for 1, 100 and 10,000 series one fresh detector
service (by default a `python -m stream_ae.cli run` subprocess; `--service inprocess`
runs `DetectorService` inside this process, as `stream-ae demo` does). The service
writes every scored point to a score topic; this process produces the points (JSON
`{"series","ts","value"}`, key = series, interleaved per time step, batched sends) and
consumes the score and alert topics. Each point's wall-clock send time is kept in a
[step, series] array (the point's `ts` is only its event time: ts = T0 + step), so the
latency of a score is the time it was read back minus the time its point was handed
to the producer; an alert's latency is taken from the point that completed the window
that opened it (spikes are injected so there are alerts).

Each case runs two phases against the same service:

- max rate: the first steps (they also fill the windows and warm up the thresholds)
  are produced as fast as the producer goes; points/s = points / (first send .. last
  score read). The pipeline is saturated, so its latencies are mostly queueing: how
  long the backlog took to drain, not what a point costs.
- paced: the following steps are produced evenly at `--pace` times the measured max
  rate (below capacity, a steady load); these latencies are the meaningful ones.

Beside them, in the same run: the model alone (`AutoencoderScorer.score` on random
windows in batches of `kafka.max_batch_points`, the ceiling) and the detector alone
(`Detector.process` on the same points in the same batches: ring buffers,
normalisation, model, thresholds and alert policy, no Kafka).

    python benchmarks/e2e_kafka.py [--quick] [--service subprocess|inprocess]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder

from stream_ae import wiring
from stream_ae.connectors.kafka_common import ensure_topics
from stream_ae.connectors.kafka_sink import KeyPartitions
from stream_ae.core.records import Point
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.settings import Settings

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")

T0 = 1_700_000_000.0
"""Event time of step 0; step k has ts = T0 + k seconds (exact in a float)."""
WINDOW = 32
HIDDEN = 32
WARMUP = 20
"""Threshold warm-up (scores per series before it may alert): small, so the 10,000
series case alerts within a few dozen points per series."""
SPIKE = 6.0
"""Added to a point to make it anomalous (the clean series have amplitude 1, noise 0.1)."""
SPIKED_SERIES = 20
"""Series spiked once: half in the max-rate phase, half in the paced one (a series
spiked in both would have its second spike inside the first one's incident)."""
FLOOR = 4.0
"""Threshold floor. After `pretrain` on `TRAIN_SERIES` series, 1,000 other series of the
kind scored 0.24 at the median, 1.5 at the 99.9th percentile and 4.9 at most over
400,000 clean windows (about one in 10^5 passes the floor); windows whose newest point
was spiked scored 5.4 and more."""
TRAIN_SERIES, EPOCHS = 64, 15
"""The fit. With 16 series and 8 epochs clean windows of series whose period the fit
did not see scored up to 22 and spiked ones from 5.0; with 64 series and 8 epochs both
reached 2.8. No floor parted them, and the benchmarks paged on clean windows: 2-4% of
`speed.py`'s points, 267 of 273 alerts at 2,000 series in `--quick` here."""
UNPACED_ROUND = 8_000
"""Messages `produce` sends in one round when not paced, each partition's share (about
1,000 at 8 partitions) in one record batch of up to PRODUCER_BATCH_BYTES. The embedded
broker's fetch slows with the record batches its log holds, not with its messages
(`broker_fetch_hold.py`: 1,000,000 messages in 1,000 batches read like an empty log, in
10,000 batches at twice its p50). Rounds of 1,000 wrote the 3.6 million points that
fill and time 100,000 series in about 29,000 batches, and the paced phase after them
measured that: fetches of 33 ms against 8 at 1,000 series, alert p99 250-340 ms. A
producer at these rates batches by bytes and linger, as Kafka producers do; the paced
phase still sends every 2 ms."""
PRODUCER_BATCH_BYTES = 1 << 20
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Case:
    series: int
    max_rate_steps: int
    """Steps produced at max rate: these fill the windows and warm the thresholds too."""


@dataclass
class Phase:
    """What one phase of one case measured."""

    name: str
    points: int
    windows: int
    """Scores expected (points whose series' window was full)."""
    seconds: float = float("nan")
    rate: float | None = None
    """Points/s asked for (paced); None is as fast as the producer goes."""
    scores_seen: int = 0
    score_latency: np.ndarray = field(default_factory=lambda: np.empty(0))
    alert_latency: np.ndarray = field(default_factory=lambda: np.empty(0))
    alerts_open: int = 0
    clean_alerts: int = 0
    """Alerts opened on windows that hold no spike: false pages."""


# -- data and model -----------------------------------------------------------------


def series_values(series: int, steps: int, seed: int) -> np.ndarray:
    """[steps, series] sine waves of random period and phase plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    period = rng.uniform(20.0, 60.0, series)
    phase = rng.uniform(0.0, 2 * np.pi, series)
    t = np.arange(steps)[:, None]
    values = np.sin(2 * np.pi * t / period + phase) + rng.normal(0.0, 0.1, (steps, series))
    return values.round(4)


def kafka_section(
    bootstrap: str, name: str, max_wait_ms: int, max_batch_points: int, score_topic: bool
) -> dict[str, object]:
    """The [kafka] settings of one benchmark case: its own topics and group, `name`.*."""
    return {
        "bootstrap": bootstrap,
        "input_topic": f"{name}.points",
        "alert_topic": f"{name}.alerts",
        "dead_letter_topic": f"{name}.dead-letters",
        "score_topic": f"{name}.scores" if score_topic else None,
        "group_id": name,
        "session_timeout_ms": 6000,
        "max_wait_ms": max_wait_ms,
        "max_batch_points": max_batch_points,
    }


def make_settings(bootstrap: str, root: Path, name: str, args: argparse.Namespace) -> Settings:
    return Settings.model_validate(
        {
            "window": {"length": WINDOW},
            "model": {
                "hidden": HIDDEN,
                "epochs": args.epochs,
                "patience": 3,
                "max_train_windows": args.train_windows,
                "artifact_dir": str(root / "models"),
            },
            "threshold": {"warmup": WARMUP, "history": 500, "floor": args.floor},
            "metrics": {"address": "127.0.0.1:0"},
            "kafka": kafka_section(
                bootstrap, name, args.max_wait_ms, args.max_batch_points, score_topic=True
            ),
        }
    )


def sliding_windows(values: np.ndarray) -> np.ndarray:
    """[windows, WINDOW, 1] float32: every series' (column's) sliding windows, in turn."""
    return np.concatenate(
        [
            np.lib.stride_tricks.sliding_window_view(values[:, k], WINDOW)
            for k in range(values.shape[1])
        ]
    )[:, :, None].astype(np.float32)


def pretrain(settings: Settings, seed: int, series: int = 16) -> tuple[Path, float]:
    """Fit on clean sliding windows of `series` synthetic series (of the kind the
    benchmarks stream, each of its own period and phase); returns (artifact, seconds)."""
    from stream_ae.model.publish import train_and_publish

    started = time.perf_counter()
    values = series_values(series, 600, seed + 1000)
    windows = sliding_windows(values)
    per = len(windows) // series
    names = [f"train-{k}" for k in range(series) for _ in range(per)]
    artifact = train_and_publish(
        names,
        windows,
        channel_names=("value",),
        config=wiring.train_config(settings),
        root=settings.model.artifact_dir,
        lineage={"source": "benchmarks/e2e_kafka.py, synthetic sine + noise"},
        progress=False,
    )
    return artifact, time.perf_counter() - started


# -- the service, in a subprocess or in this process ----------------------------------


class SubprocessService:
    """`python -m stream_ae.cli run`, its log in a file; stats from its last log line."""

    def __init__(self, settings: Settings, artifact: Path, workdir: Path, member: int = 0) -> None:
        name = settings.kafka.group_id + (f"-{member}" if member else "")
        self.config = workdir / f"{name}.toml"
        self.config.write_text(settings.summary(), encoding="utf-8")
        self.log = workdir / f"{name}.log"
        self.artifact = artifact
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self, timeout_s: float = 60.0) -> None:
        command = [sys.executable, "-m", "stream_ae.cli", "run", "--config", str(self.config)]
        command += ["--model", str(self.artifact), "-q"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_AE_")}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        deadline = time.monotonic() + timeout_s
        while "partitions assigned: " not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the detector did not join its group:\n" + self.tail())
            await asyncio.sleep(0.05)

    def check_running(self) -> None:
        """RuntimeError with the log's tail if the service has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"the detector exited with code {self.process.returncode}:\n" + self.tail()
            )

    def metrics_url(self) -> str:
        """Where the running service serves its Prometheus metrics (from its log)."""
        found = re.findall(r"metrics on (http://\S+/metrics)", self.log.read_text(errors="replace"))
        if not found:
            raise RuntimeError("the detector logged no metrics address:\n" + self.tail())
        return found[-1]

    async def stop(self) -> dict[str, int]:
        process, self.process = self.process, None
        if process is None:
            return {}
        process.send_signal(signal.SIGTERM)
        for _ in range(600):
            if process.poll() is not None:
                break
            await asyncio.sleep(0.05)
        else:
            process.kill()
            process.wait()
        found = re.findall(r"detector stopped: ServiceStats\((.*)\)", self.log.read_text())
        if not found:
            raise RuntimeError("the detector did not stop cleanly:\n" + self.tail())
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", found[-1])}

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])


class InProcessService:
    """`DetectorService` on this event loop, as `stream-ae demo` runs it."""

    def __init__(self, settings: Settings, artifact: Path, workdir: Path) -> None:
        from stream_ae.runtime.service import DetectorService

        self.service = DetectorService(settings, artifact=artifact)
        self.stop_event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self, timeout_s: float = 60.0) -> None:
        self.task = asyncio.create_task(self.service.run(self.stop_event))
        deadline = time.monotonic() + timeout_s
        while not self.service.source.assignment():
            if self.task.done() or time.monotonic() > deadline:
                if self.task.done():
                    self.task.result()
                raise RuntimeError("the detector did not join its group")
            await asyncio.sleep(0.05)

    def check_running(self) -> None:
        """Raise the service's own error if it has stopped (RuntimeError if it ended)."""
        if self.task is not None and self.task.done():
            self.task.result()
            raise RuntimeError("the detector stopped before its input was scored")

    async def stop(self) -> dict[str, int]:
        self.stop_event.set()
        if self.task is not None:
            await self.task
        return dataclasses.asdict(self.service.stats)

    def kill(self) -> None:
        self.stop_event.set()


# -- producing and observing ---------------------------------------------------------


class Stream:
    """The points of one case, their send times, and when their scores were read."""

    def __init__(
        self, values: np.ndarray, spikes: Sequence[tuple[int, int]], per_message: int = 1
    ) -> None:
        self.per_message = per_message
        """Points a message carries (a JSON array of one step of that many series, keyed
        by the first: a series always goes to the same partition)."""
        self.values = values.copy()
        self.spiked = np.zeros(values.shape, dtype=bool)
        for step, i in spikes:
            self.values[step, i] += SPIKE
            self.spiked[step, i] = True
        steps, series = values.shape
        self.names = self.names_of(series)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.sent = np.full((steps, series), np.nan)
        self.scored = np.full((steps, series), np.nan)
        self.opened: list[tuple[int, int, float]] = []
        """(step, series index, time read) of every alert that opened."""
        self.opened_stamped: dict[tuple[int, int], float] = {}
        """(step, series index) -> its opening alert's record timestamp, on this process's
        `time.perf_counter` clock: when the service's sink stamped it, on its way out."""
        self._wall_to_clock = time.perf_counter() - time.time()
        self.scores_seen = 0

    def stamp_opened(self, step: int, i: int, timestamp_ms: int) -> None:
        """Keep an opening alert's record timestamp (wall clock, ms)."""
        self.opened_stamped[step, i] = timestamp_ms / 1000 + self._wall_to_clock

    @staticmethod
    def names_of(series: int) -> list[str]:
        """The series' names, by index."""
        return [f"s{i:05d}" for i in range(series)]

    def holds_spike(self, step: int, i: int) -> bool:
        """Whether the window of series `i` ending at `step` holds a spiked point."""
        return bool(self.spiked[max(0, step - WINDOW + 1) : step + 1, i].any())

    def encoded(self, first: int, last: int) -> list[tuple[bytes, bytes]]:
        """Messages of steps [first, last), step by step, `per_message` series each."""
        out = []
        k = self.per_message
        for step in range(first, last):
            ts = T0 + step
            points = [
                {"series": name, "ts": ts, "value": value}
                for name, value in zip(self.names, self.values[step].tolist(), strict=True)
            ]
            for g in range(0, len(points), k):
                body = points[g] if k == 1 else points[g : g + k]
                out.append((self.names[g].encode(), orjson.dumps(body)))
        return out


async def produce(
    producer: AIOKafkaProducer,
    topic: str,
    stream: Stream,
    first: int,
    messages: list[tuple[bytes, bytes]],
    rate: float | None,
) -> float:
    """Send `messages`, `stream.encoded(first, last)`: whole steps from `first` on, at
    `rate` points/s if given; returns the wall time of the first send.

    The caller encodes them beforehand, outside what it times: encoding a phase takes
    this process longer than sending it (15 s for the 500,000 messages of one paced
    phase, against 8 s of sending), and the CPU this process spends while the phase
    is sent is read as the producer's.

    Messages go in record batches, one per partition a chunk touches (a chunk: what
    2 ms of `rate` holds; unpaced, UNPACED_ROUND), each to the
    partition `producer.send` would pick for its key: sending them one by one cost this
    process about as much CPU per point as the service under test (aiokafka hashes each
    key in Python), on the same cores. A chunk's points are stamped sent before its
    batches are built, so the latency measured never leaves out the producer's time."""
    series, k = len(stream.names), stream.per_message
    per_step = -(-series // k)  # messages a step takes
    if len(messages) % per_step:
        raise ValueError(
            f"{len(messages)} messages are not whole steps of {per_step}: pass "
            "stream.encoded(first, last), or the send times land on the wrong points"
        )
    sent = stream.sent
    partition_of = await _partitions_by_key(producer, topic, {key for key, _ in messages})
    clock = time.perf_counter
    started = clock()
    chunk = UNPACED_ROUND if rate is None else max(1, int(rate * 0.002 / k))
    start = 0
    while start < len(messages):
        end = start + chunk
        if rate is not None:
            delay = started + start * k / rate - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            # Whatever is due by now goes at once: a round of sends that took longer
            # than its share (one acknowledged batch per partition at a time) is caught
            # up by the next, not carried as a backlog that never shrinks.
            end = max(end, int((clock() - started) * rate / k) + 1)
        end = min(end, len(messages))
        now = clock()
        batches: dict[int, BatchBuilder] = {}
        for n in range(start, end):
            key, value = messages[n]
            g = (n % per_step) * k
            sent[first + n // per_step, g : g + k] = now
            partition = partition_of[key]
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                # Full: send it and start the partition's next one.
                await producer.send_batch(batch, topic, partition=partition)
                batch = batches[partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        for partition, batch in batches.items():
            await producer.send_batch(batch, topic, partition=partition)
        start = end
        if rate is None:
            await asyncio.sleep(0)  # let the observer read while the backlog is written
    await producer.flush()
    return started


async def _partitions_by_key(
    producer: AIOKafkaProducer, topic: str, keys: set[bytes]
) -> dict[bytes, int]:
    """The partition `producer.send` picks for each key (the sink's own choice)."""
    pick = KeyPartitions()
    pick.use(sorted(await producer.partitions_for(topic)))
    return {key: pick(key) for key in keys}


async def observe(consumer: AIOKafkaConsumer, stream: Stream, score_topic: str) -> None:
    """Read scores and alerts until cancelled, stamping each with the time it was read."""
    index, scored, opened = stream.index, stream.scored, stream.opened
    while True:
        records = await consumer.getmany(timeout_ms=100, max_records=20_000)
        now = time.perf_counter()
        for tp, messages in records.items():
            if tp.topic == score_topic:
                for message in messages:
                    body = orjson.loads(message.value)
                    scored[int(body["ts"] - T0 + 0.5), index[body["series"]]] = now
                stream.scores_seen += len(messages)
            else:
                for message in messages:
                    body = orjson.loads(message.value)
                    if body["state"] == "open":
                        step, i = int(body["ts"] - T0 + 0.5), index[body["series"]]
                        opened.append((step, i, now))
                        stream.stamp_opened(step, i, message.timestamp)


async def read_to_end(consumer: AIOKafkaConsumer, timeout_s: float) -> None:
    """Wait until `observe` has read every message its topics held when called: once a
    batch is committed its alerts are in the topic, and a fixed wait for their reads
    drops the late ones, which are the latency's tail."""
    ends = await consumer.end_offsets(list(consumer.assignment()))
    deadline = time.perf_counter() + timeout_s
    for tp, end in ends.items():
        while await consumer.position(tp) < end:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{tp}: read up to {await consumer.position(tp)} of {end}")
            await asyncio.sleep(0.02)


async def wait_scored(
    stream: Stream,
    first: int,
    last: int,
    timeout_s: float,
    service: SubprocessService | InProcessService,
) -> float:
    """Wait until every expected score of steps [first, last) was read; the last read
    time. A service that stops meanwhile ends the wait at once, with why."""
    lo = max(first, WINDOW - 1)
    block = stream.scored[lo:last]
    deadline = time.perf_counter() + timeout_s
    while np.isnan(block).any() and time.perf_counter() < deadline:
        service.check_running()
        await asyncio.sleep(0.05)
    return float(np.nanmax(block)) if block.size and not np.isnan(block).all() else float("nan")


def phase_result(
    name: str, stream: Stream, first: int, last: int, started: float, rate: float | None
) -> Phase:
    series = len(stream.names)
    lo = max(first, WINDOW - 1)
    seen = stream.scored[lo:last]
    lat = (seen - stream.sent[lo:last])[~np.isnan(seen)]
    opened = [(step, i, t) for step, i, t in stream.opened if first <= step < last]
    alerts = [t - stream.sent[step, i] for step, i, t in opened]
    done = float(np.nanmax(seen)) if (~np.isnan(seen)).any() else float("nan")
    return Phase(
        name,
        points=(last - first) * series,
        windows=seen.size,
        seconds=done - started,
        rate=rate,
        scores_seen=int((~np.isnan(seen)).sum()),
        score_latency=lat,
        alert_latency=np.asarray(alerts),
        alerts_open=len(alerts),
        clean_alerts=sum(not stream.holds_spike(step, i) for step, i, _ in opened),
    )


def clients(bootstrap: str, read: list[str]) -> tuple[AIOKafkaConsumer, AIOKafkaProducer]:
    """A consumer of `read` from the start (no group) and a producer, both not started."""
    consumer = AIOKafkaConsumer(
        *read,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=5,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, acks=1, max_batch_size=PRODUCER_BATCH_BYTES
    )
    return consumer, producer


async def run_case(
    case: Case,
    bootstrap: str,
    artifact: Path,
    workdir: Path,
    args: argparse.Namespace,
) -> tuple[list[Phase], dict[str, int], Stream]:
    name = f"bench-{case.series}"
    settings = make_settings(bootstrap, workdir, name, args)
    k = settings.kafka
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic])
    s1 = case.max_rate_steps
    # Room for the paced steps: --paced-seconds at up to 200k points/s, at least 8 (so
    # a spike in them can alert).
    paced_room = 8 + int(200_000 * args.paced_seconds / case.series)
    values = series_values(case.series, s1 + paced_room, args.seed)
    spiked = range(0, case.series, max(1, case.series // SPIKED_SERIES))
    spikes = [(s1 - 6, i) for i in spiked[0::2]] + [(s1 + 2, i) for i in spiked[1::2]]
    if case.series == 1:  # one series: spike it more often (cooldown 20 between incidents)
        spikes = [(s, 0) for s in range(WINDOW + WARMUP + 5, values.shape[0], 500)]
    stream = Stream(values, spikes)
    service = (SubprocessService if args.service == "subprocess" else InProcessService)(
        settings, artifact, workdir
    )
    consumer, producer = clients(bootstrap, [k.score_topic, k.alert_topic])
    phases: list[Phase] = []
    try:
        await service.start()
        await consumer.start()
        await producer.start()
        observer = asyncio.create_task(observe(consumer, stream, k.score_topic))
        try:
            started = await produce(producer, k.input_topic, stream, 0, stream.encoded(0, s1), None)
            await wait_scored(stream, 0, s1, args.timeout, service)
            await read_to_end(consumer, args.timeout)  # alerts of the last batch
            phases.append(phase_result("max rate", stream, 0, s1, started, None))
            measured = phases[-1].points / phases[-1].seconds
            rate = args.pace * measured
            s2 = s1 + max(8, int(rate * args.paced_seconds / case.series))
            s2 = min(s2, values.shape[0])
            paced = stream.encoded(s1, s2)
            started = await produce(producer, k.input_topic, stream, s1, paced, rate)
            del paced
            await wait_scored(stream, s1, s2, args.timeout, service)
            await read_to_end(consumer, args.timeout)  # alerts of the last batch
            phases.append(phase_result("paced", stream, s1, s2, started, rate))
        finally:
            observer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await observer
        stats = await service.stop()
    finally:
        service.kill()
        await producer.stop()
        await consumer.stop()
    return phases, stats, stream


# -- beside the pipeline: the model alone and the detector alone ------------------------


def ceiling(artifact: Path, settings: Settings, windows: int, batch: int) -> float:
    """Windows/s of `AutoencoderScorer.score` alone on random windows, best of 3 rounds."""
    from stream_ae.model.artifact import load_artifact
    from stream_ae.model.scorer import AutoencoderScorer

    s = settings.scoring
    scorer = AutoencoderScorer.from_artifact(
        load_artifact(artifact),
        device=s.device,
        max_batch=s.max_batch,
        engine=s.engine,
        threads=s.threads,
    )
    x = np.random.default_rng(0).normal(size=(min(windows, batch), WINDOW, 1)).astype(np.float32)
    scorer.score(x[:256])  # warm-up
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        done = 0
        while done < windows:
            n = min(batch, windows - done)
            scorer.score(x[:n])
            done += n
        best = min(best, time.perf_counter() - start)
    return windows / best


def detector_alone(
    artifact: Path, settings: Settings, stream: Stream, last: int, fill: int = 0
) -> float:
    """Points/s of `Detector.process` on steps [fill, last) after untimed [0, fill), in
    service-sized batches (no Kafka, no decoding, no score messages)."""
    detector = wiring.detector(settings, ("value",), artifact)
    batch = settings.kafka.max_batch_points

    def points(first: int, stop: int) -> list[Point]:
        return [
            Point(name, T0 + step, (value,))
            for step in range(first, stop)
            for name, value in zip(stream.names, stream.values[step].tolist(), strict=True)
        ]

    # The fill goes a step at a time: at 100,000 series all its points at once would
    # take gigabytes.
    for step in range(fill):
        chunk = points(step, step + 1)
        for i in range(0, len(chunk), batch):
            detector.process(chunk[i : i + batch])
    timed = points(fill, last)
    start = time.perf_counter()
    for i in range(0, len(timed), batch):
        detector.process(timed[i : i + batch])
    return len(timed) / (time.perf_counter() - start)


# -- report ---------------------------------------------------------------------------


def ms(values: np.ndarray, q: float) -> str:
    return f"{np.percentile(values, q) * 1000:,.0f}" if len(values) else "-"


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} torch thread), "
        f"numpy {np.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller cases (~1 minute)")
    parser.add_argument(
        "--service",
        choices=("subprocess", "inprocess"),
        default="subprocess",
        help="run the detector as `python -m stream_ae.cli run` (default) or in this process",
    )
    parser.add_argument("--pace", type=float, default=0.5, help="paced rate / max rate")
    parser.add_argument("--paced-seconds", type=float, help="length of the paced phase")
    parser.add_argument("--max-wait-ms", type=int, default=200, help="kafka.max_wait_ms")
    parser.add_argument("--max-batch-points", type=int, default=5000, help="kafka.max_batch_points")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="training epochs (at most)")
    parser.add_argument("--train-windows", type=int, default=4000, help="max_train_windows")
    parser.add_argument(
        "--train-series",
        type=int,
        default=TRAIN_SERIES,
        help="synthetic series the model is fitted on",
    )
    parser.add_argument("--floor", type=float, default=FLOOR, help="threshold.floor")
    parser.add_argument("--timeout", type=float, default=180.0, help="per-phase wait for scores")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.paced_seconds is None:
        args.paced_seconds = 4.0 if args.quick else 10.0
    cases = (
        [Case(1, 5_000), Case(100, 100), Case(2_000, 60)]
        if args.quick
        else [Case(1, 20_000), Case(100, 300), Case(10_000, 60)]
    )
    logging.basicConfig(level=logging.WARNING)
    rows: list[dict[str, object]] = []
    extra: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="e2e-kafka-") as tmp,
        EmbeddedBroker() as broker,
    ):
        workdir = Path(tmp)
        base = make_settings(broker.address, workdir, "bench", args)
        artifact, fit_s = pretrain(base, args.seed, args.train_series)
        print(
            f"model: window {WINDOW}, hidden {HIDDEN}, fitted in {fit_s:.1f} s; broker "
            f"{broker.address}; service: {args.service}",
            flush=True,
        )
        for case in cases:
            started = time.perf_counter()
            phases, stats, stream = asyncio.run(
                run_case(case, broker.address, artifact, workdir, args)
            )
            wall = time.perf_counter() - started
            windows = phases[0].windows
            top = ceiling(artifact, base, windows, args.max_batch_points)
            # The first steps untimed: loading the compiled loops is not a cost per point.
            alone = detector_alone(artifact, base, stream, case.max_rate_steps, fill=WINDOW)
            for phase in phases:
                pps = phase.points / phase.seconds
                rows.append(
                    {
                        "case": phase.name
                        + ("" if phase.rate is None else f" {phase.rate:,.0f}/s"),
                        "series": case.series,
                        "points": phase.points,
                        "points_per_s": pps,
                        "windows_per_s": phase.windows / phase.seconds,
                        "detector_alone_points_per_s": alone,
                        "ceiling_windows_per_s": top,
                        "ratio": pps / top,
                        "score_p50_ms": ms(phase.score_latency, 50),
                        "score_p99_ms": ms(phase.score_latency, 99),
                        "alert_p50_ms": ms(phase.alert_latency, 50),
                        "alert_p99_ms": ms(phase.alert_latency, 99),
                        "alerts": phase.alerts_open,
                        "clean_alerts": phase.clean_alerts,
                        "missing_scores": phase.windows - phase.scores_seen,
                    }
                )
            extra.append(
                f"| {case.series:,} | {stats.get('batches', 0):,} | {stats.get('points', 0):,} "
                f"| {stats.get('points', 0) / max(stats.get('batches', 0), 1):,.0f} "
                f"| {stats.get('alerts', 0):,} | {stats.get('dead_letters', 0):,} "
                f"| {stats.get('pauses', 0):,} | {wall:.0f} |"
            )
            print(f"case {case.series:,} series done in {wall:.0f} s", flush=True)
    print(f"\nmachine: {machine()}")
    print(
        f"window {WINDOW}, hidden {HIDDEN}, hop 1; kafka.max_batch_points "
        f"{args.max_batch_points}, kafka.max_wait_ms {args.max_wait_ms}, score topic on; "
        f"service: {args.service}\n"
    )
    print(
        "| case | series | points | points/s | windows/s | detector alone points/s "
        "| ceiling windows/s | ratio | score p50 / p99 (ms) | alert p50 / p99 (ms) "
        "| alerts (on clean windows) | scores missing |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['case']} | {r['series']:,} | {r['points']:,} | {r['points_per_s']:,.0f} "
            f"| {r['windows_per_s']:,.0f} | {r['detector_alone_points_per_s']:,.0f} "
            f"| {r['ceiling_windows_per_s']:,.0f} | {r['ratio']:.2f} "
            f"| {r['score_p50_ms']} / {r['score_p99_ms']} "
            f"| {r['alert_p50_ms']} / {r['alert_p99_ms']} "
            f"| {r['alerts']} ({r['clean_alerts']}) | {r['missing_scores']} |"
        )
    print(
        "\npoints/s: points of the phase / (first send .. last score read); windows/s: "
        "scores of the phase over the same time (the first 31 points of a series fill its "
        "window and get none); ratio: points/s / ceiling. The max-rate rows' latencies are "
        "queueing behind a backlog (the producer outruns the pipeline): read the paced "
        "rows for what a point waits under a steady load below capacity; they include up to "
        "kafka.max_wait_ms of micro-batch filling and the service consumer's fetch waits. "
        "Alert latency: from sending the point that completed the opening window to "
        "reading the alert. Alerts on clean windows: opened on a window that holds no "
        "spike (false pages)."
    )
    print("\nservice stats (whole case, both phases):\n")
    print("| series | batches | points | points/batch | alerts | dead letters | pauses | s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(extra))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
