"""Alerts, dead letters and (optionally) scores to Kafka, acknowledged before anyone commits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from stream_ae.connectors.dead_letters import DeadLetter, encode_dead_letter
from stream_ae.connectors.kafka_common import client_options, start_patiently
from stream_ae.connectors.wire import alert_to_dict
from stream_ae.core.alerting import STATE_NAMES
from stream_ae.core.detector import Scored
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
    """Key = the input message's key, the reason in a header (see `dead_letters`)."""
    headers = [("reason", dead.rejection.reason.value.encode())]
    return topic, dead.key, encode_dead_letter(dead), headers


def score_messages(topic: str, scored: Sequence[Scored]) -> list[Message]:
    """One message per scored window, keyed by series (see the README's wire formats)."""
    messages: list[Message] = []
    for rows in scored:
        for i, series in enumerate(rows.series):
            threshold = float(rows.threshold[i])
            body = {
                "series": series,
                "ts": float(rows.ts[i]),
                "score": float(rows.score[i]),
                "threshold": None if threshold != threshold else threshold,
                "alert_state": STATE_NAMES[int(rows.state[i])],
                "scorer": rows.scorer[i],
            }
            messages.append((topic, series.encode(), orjson.dumps(body), []))
    return messages


class KafkaSink:
    """Sends batches of messages and returns only once the brokers acknowledged all.

    A failed send is retried with backoff while the error is retriable; after
    that the error propagates, the batch's offsets stay uncommitted, and the
    input is read again after a restart (at least once).
    """

    def __init__(self, kafka: KafkaSettings, attempts: int = 5) -> None:
        self.kafka = kafka
        self.attempts = attempts
        self._producer: AIOKafkaProducer | None = None

    def _make_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **client_options(self.kafka),
            acks="all",
            linger_ms=5,
            # Idempotence needs InitProducerId, which the embedded broker refuses;
            # duplicates after a retry are harmless: alert ids are deterministic.
            enable_idempotence=False,
        )

    async def start(self) -> None:
        self._producer = await start_patiently(self._make_producer, self.kafka, "producer")

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def send(self, messages: Sequence[Message]) -> None:
        pending = list(messages)
        delay = 0.2
        for attempt in range(1, self.attempts + 1):
            failed = await self._send_once(pending)
            if not failed:
                return
            pending = [m for m, _ in failed]
            error = failed[0][1]
            retriable = isinstance(error, KafkaError) and error.retriable
            if not retriable or attempt == self.attempts:
                raise error
            log.warning(
                "%d message(s) to %s not acknowledged (%s); retry %d in %.1f s",
                len(pending),
                pending[0][0],
                error,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _send_once(self, messages: list[Message]) -> list[tuple[Message, BaseException]]:
        if self._producer is None:
            raise RuntimeError("KafkaSink.start() must run before sending")
        futures: list[asyncio.Future[Any]] = []
        for topic, key, value, headers in messages:
            futures.append(await self._producer.send(topic, value, key=key, headers=headers))
        results = await asyncio.gather(*futures, return_exceptions=True)
        return [
            (m, r) for m, r in zip(messages, results, strict=True) if isinstance(r, BaseException)
        ]
