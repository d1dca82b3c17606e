"""`stream-ae alerts`: the alert topic printed for a person, or as JSON lines."""

from __future__ import annotations

import logging
import sys
from collections.abc import Collection

import orjson

from stream_ae.connectors.alert_feed import alert_messages
from stream_ae.connectors.wire import alert_from_dict
from stream_ae.ratelimit import RateLimitedLog
from stream_ae.runtime.console import describe
from stream_ae.settings import KafkaSettings

log = logging.getLogger(__name__)


async def show_alerts(
    kafka: KafkaSettings,
    topic: str,
    *,
    follow: bool = False,
    series: Collection[str] | None = None,
    as_json: bool = False,
) -> int:
    """Print the alerts of `topic` (only those of `series`, when given) to stdout, one
    line each; returns how many were printed. A message that is not an alert is named
    on stderr and skipped: the topic may be shared, or written by a newer version."""
    shown = 0
    limited = RateLimitedLog(log)
    async for message in alert_messages(kafka, topic, follow=follow):
        try:
            alert = alert_from_dict(orjson.loads(message.value))
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
            limited.warning(
                "not-an-alert",
                "skipping message %d of partition %d: not an alert (%s)",
                message.offset,
                message.partition,
                exc,
            )
            continue
        if series is not None and alert.series not in series:
            continue
        line = message.value.decode() if as_json else describe(alert)
        print(line, file=sys.stdout, flush=True)
        shown += 1
    return shown
