"""Alerts, dead letters and (optionally) scores to Kafka, acknowledged before anyone commits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from stream_ae.connectors.dead_letters import KEY_LIMIT, DeadLetter, encode_dead_letter
from stream_ae.connectors.kafka_common import client_options, start_patiently
from stream_ae.connectors.wire import alert_to_dict
from stream_ae.core.alerting import STATE_NAMES
from stream_ae.core.output import Scored
from stream_ae.core.records import Alert
from stream_ae.settings import KafkaSettings

log = logging.getLogger(__name__)

Message = tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]
"""(topic, key, value, headers)."""


def alert_message(topic: str, alert: Alert) -> Message:
    """Key = series, `alert_id` in a header and in the body (see the README's wire formats)."""
    body = orjson.dumps(alert_to_dict(alert), option=orjson.OPT_SERIALIZE_NUMPY)
    return topic, alert.series.encode(), body, [("alert_id", alert.alert_id.encode())]


def dead_letter_message(topic: str, dead: DeadLetter) -> Message:
    """Key = the input message's key (its first `KEY_LIMIT` bytes), the reason in a header
    (see `dead_letters`)."""
    headers = [("reason", dead.rejection.reason.value.encode())]
    key = dead.key if dead.key is None else dead.key[:KEY_LIMIT]
    return topic, key, encode_dead_letter(dead), headers


def score_messages(topic: str, scored: Sequence[Scored]) -> list[Message]:
    """One message per scored window, keyed by series (see the README's wire formats)."""
    messages: list[Message] = []
    for rows in scored:
        for i, series in enumerate(rows.series):
            threshold, level = float(rows.threshold[i]), float(rows.level[i])
            body = {
                "series": series,
                "ts": float(rows.ts[i]),
                "score": float(rows.score[i]),
                "threshold": None if threshold != threshold else threshold,
                "level": None if level != level else level,
                "alert_state": STATE_NAMES[int(rows.state[i])],
                "scorer": rows.scorer[i],
            }
            messages.append((topic, series.encode(), orjson.dumps(body), []))
    return messages


class KafkaSink:
    """Sends batches of messages and returns only once the brokers acknowledged all.

    Per key and topic, messages reach the topic in the order given, retries
    included: after a failure each key's messages are sent again from its first
    unacknowledged one onward (a duplicate is harmless, a reorder is not), and
    alerts go out in rounds of one message per series, each round acknowledged
    before the next, so no later alert of a series (its `resolved`) can land
    while an earlier one (its `open`) is still being retried. A failed send is
    retried with backoff while the error is retriable; after that the error
    propagates, the batch's offsets stay uncommitted, and the input is read
    again after a restart (at least once).
    """

    def __init__(self, kafka: KafkaSettings, attempts: int = 5) -> None:
        self.kafka = kafka
        self.attempts = attempts
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, KeyPartitions] = {}
        """Per topic, the partition of each key, as `send` would pick it."""

    def _make_producer(self) -> AIOKafkaProducer:
        # Idempotence needs InitProducerId, which the embedded broker refuses;
        # duplicates after a retry are harmless: alert ids are deterministic.
        tuning = {"linger_ms": 0, **self.kafka.producer_options}
        return AIOKafkaProducer(
            **client_options(self.kafka), acks="all", enable_idempotence=False, **tuning
        )

    async def start(self) -> None:
        self._producer = await start_patiently(self._make_producer, self.kafka, "producer")

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def send(self, messages: Sequence[Message]) -> None:
        for round_ in ordered_rounds(messages, self.kafka.alert_topic):
            await self._send_round(round_)

    async def _send_round(self, messages: list[Message]) -> None:
        pending = messages
        delay = 0.2
        for attempt in range(1, self.attempts + 1):
            failed = await self._send_once(pending)
            if not failed:
                return
            error = failed[0][1]
            pending = resend_from_first_failure(pending, {i for i, _ in failed})
            retriable = isinstance(error, KafkaError) and error.retriable
            if not retriable or attempt == self.attempts:
                raise error
            log.warning(
                "%d message(s) to %s not acknowledged (%s); retry %d in %.1f s",
                len(failed),
                pending[0][0],
                error,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _send_once(self, messages: list[Message]) -> list[tuple[int, BaseException]]:
        """(index, error) of each message the brokers did not acknowledge.

        Messages go in record batches, one per partition they go to, each to the
        partition `send` would pick for its key: one `send` per message cost the event
        loop tens of µs each (the key hashed in Python, a future per message), and a
        storm of alerts comes when the detector is busiest."""
        producer = self._producer
        if producer is None:
            raise RuntimeError("KafkaSink.start() must run before sending")
        sends: list[tuple[asyncio.Future[Any], list[int]]] = []
        for (topic, partition), indices in (await self._by_partition(messages)).items():
            batch, members = producer.create_batch(), list[int]()
            for i in indices:
                _, key, value, headers = messages[i]
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    # Full: send it and start the partition's next one.
                    sends.append(
                        (await producer.send_batch(batch, topic, partition=partition), members)
                    )
                    batch, members = producer.create_batch(), list[int]()
                    batch.append(key=key, value=value, timestamp=None, headers=headers)
                members.append(i)
            sends.append((await producer.send_batch(batch, topic, partition=partition), members))
        results = await asyncio.gather(*(sent for sent, _ in sends), return_exceptions=True)
        return [
            (i, result)
            for (_, members), result in zip(sends, results, strict=True)
            if isinstance(result, BaseException)
            for i in members
        ]

    async def _by_partition(self, messages: list[Message]) -> dict[tuple[str, int], list[int]]:
        """The messages' indices, in order, by the (topic, partition) `send` would pick."""
        producer = self._producer
        assert producer is not None
        for topic in {m[0] for m in messages}:
            pick = self._partitions.setdefault(topic, KeyPartitions())
            pick.use(sorted(await producer.partitions_for(topic)))
        groups: dict[tuple[str, int], list[int]] = {}
        for i, (topic, key, _, _) in enumerate(messages):
            groups.setdefault((topic, self._partitions[topic](key)), []).append(i)
        return groups


class KeyPartitions:
    """The partition aiokafka's default partitioner gives each key (murmur2 of the key,
    a random available one without a key), remembered: it hashes in Python, and the
    same few series page again and again in a storm."""

    def __init__(self, most: int = 100_000) -> None:
        self.most = most
        self._partitions: list[int] = []
        self._of: dict[bytes, int] = {}
        self._pick = DefaultPartitioner()

    def use(self, partitions: list[int]) -> None:
        """The topic's partitions now (when it grew, keys move)."""
        if partitions != self._partitions:
            self._partitions = partitions
            self._of.clear()

    def __call__(self, key: bytes | None) -> int:
        if key is None:
            return int(self._pick(None, self._partitions, self._partitions))
        partition = self._of.get(key)
        if partition is None:
            if len(self._of) >= self.most:
                self._of.clear()
            partition = self._of[key] = int(self._pick(key, self._partitions, self._partitions))
        return partition


def ordered_rounds(messages: Sequence[Message], alert_topic: str) -> list[list[Message]]:
    """Round r holds the r-th alert of each series (the first round also everything
    else), so each round has at most one alert per series.

    Alerts are few per batch, so rounds cost little; scores and dead letters, many
    per key, are sent at once and kept in order by `resend_from_first_failure`.
    """
    rounds: list[list[Message]] = [[]]
    seen: dict[bytes | None, int] = {}
    for message in messages:
        topic, key = message[0], message[1]
        r = 0
        if topic == alert_topic:
            r = seen.get(key, 0)
            seen[key] = r + 1
        if r == len(rounds):
            rounds.append([])
        rounds[r].append(message)
    return [r for r in rounds if r]


def resend_from_first_failure(messages: list[Message], failed: set[int]) -> list[Message]:
    """What to send again: per (topic, key), everything from its first failed message
    on, in order; a key's later messages that got through are sent again after it."""
    first: dict[tuple[str, bytes | None], int] = {}
    for i in sorted(failed):
        first.setdefault((messages[i][0], messages[i][1]), i)
    return [m for i, m in enumerate(messages) if i >= first.get((m[0], m[1]), len(messages))]
