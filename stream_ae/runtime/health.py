"""What /healthz and /readyz answer: is the detector's loop alive, is it ready (consuming
with an assignment, its topics present, its brokers reachable); and the tasks that keep
those answers current."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Sequence

from aiokafka.errors import KafkaError

from stream_ae.connectors.kafka_common import ensure_topics, missing_topics
from stream_ae.errors import StreamAEError
from stream_ae.settings import KafkaSettings

log = logging.getLogger(__name__)

STALL_S = 60.0
"""A loop that has not ticked, or a worker task that has not ended, for this long is
stuck: the liveness probe fails (`metrics.stall_s`)."""


class Health:
    """Updated by the service as it runs; read by the probe endpoints (another thread:
    each field is replaced whole, so a reader sees an old or a new value, never half)."""

    def __init__(
        self,
        assignment: Callable[[], Collection[object]],
        *,
        stall_s: float = STALL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._assignment = assignment
        self._clock = clock
        self.stall_s = stall_s
        self.beat_at: float | None = None
        """When the event loop last ticked (None: not running yet)."""
        self.worker_since: float | None = None
        """When the scoring worker started the task it is on (None: idle)."""
        self.consuming = False
        """The consumer started and joined its group."""
        self.broker_error: str | None = None
        """Why the last check could not reach the brokers (None: it could)."""
        self.missing_topics: tuple[str, ...] = ()
        """Topics the last check did not find and could not re-create."""
        self.missing_why = ""
        """Why they were not re-created."""

    def beat(self) -> None:
        self.beat_at = self._clock()

    def working(self) -> None:
        """The scoring worker starts a task (called on the worker thread)."""
        self.worker_since = self._clock()

    def idle(self) -> None:
        """The scoring worker ended its task, however it ended."""
        self.worker_since = None

    def live(self) -> tuple[bool, str]:
        now, since = self._clock(), self.worker_since
        if since is not None and now - since > self.stall_s:
            return False, (
                f"the scoring worker has been on one task for {now - since:.0f} s "
                f"(metrics.stall_s = {self.stall_s:g}): it is stuck"
            )
        if self.beat_at is None:
            return True, "starting"
        stalled = now - self.beat_at
        if stalled > self.stall_s:
            return False, f"the event loop has not run for {stalled:.0f} s"
        return True, "alive"

    def ready(self) -> tuple[bool, str]:
        if not self.consuming:
            return False, "not consuming yet: waiting for Kafka or loading the model"
        if self.broker_error is not None:
            return False, f"Kafka unreachable: {self.broker_error}"
        if self.missing_topics:
            return False, (
                f"topic(s) {', '.join(self.missing_topics)} missing and not re-created "
                f"({self.missing_why}): create them"
            )
        if not self._assignment():
            return False, "no partitions assigned (more detectors than input partitions?)"
        return True, "ready"

    def probes(self) -> dict[str, Callable[[], tuple[bool, str]]]:
        return {"/healthz": self.live, "/readyz": self.ready}


async def keep_beating(health: Health, stop: asyncio.Event, every_s: float = 1.0) -> None:
    """The liveness probe's evidence that the event loop runs."""
    while not stop.is_set():
        health.beat()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)


async def watch_kafka(
    kafka: KafkaSettings, topics: Sequence[str], health: Health, stop: asyncio.Event
) -> None:
    """Every `kafka.topic_check_s`, notice brokers that cannot be reached or lost the
    topics (a broker replaced with empty storage): writes to a missing topic vanish
    without an error. Re-creates them when allowed, else says so and fails readiness."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=kafka.topic_check_s)
        try:
            missing = await missing_topics(kafka, topics)
        except (KafkaError, OSError, TimeoutError) as exc:
            if health.broker_error is None:
                log.warning("Kafka at %s unreachable: %s", kafka.bootstrap, _said(exc))
            health.broker_error = _said(exc)
            continue
        if health.broker_error is not None:
            log.info("Kafka at %s reachable again", kafka.bootstrap)
        health.broker_error = None
        if missing and kafka.create_topics:
            log.warning(
                "topic(s) %s gone from %s (a broker replaced with empty storage?); "
                "re-creating them",
                ", ".join(missing),
                kafka.bootstrap,
            )
            try:
                await ensure_topics(kafka, missing)
                missing = []
            except StreamAEError as exc:
                log.error("%s", exc)
                health.missing_why = f"re-creating them failed: {exc}"
        elif missing:
            health.missing_why = "kafka.create_topics is off"
            log.error(
                "topic(s) %s gone from %s and kafka.create_topics is off: writes to them "
                "are lost; create them (not ready until then)",
                ", ".join(missing),
                kafka.bootstrap,
            )
        health.missing_topics = tuple(missing)


def _said(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
