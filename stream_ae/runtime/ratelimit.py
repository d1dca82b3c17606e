"""Log lines that repeat (a broker down, a flood of bad input) as one line per interval
with a count, so the log stays readable and cheap while the cause lasts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Sequence

CONNECTION_LOGGERS = ("aiokafka", "stream_ae.connectors")
"""Loggers whose warnings and errors repeat for as long as Kafka is unreachable."""


class RateLimitedLog:
    """At most one line per key per `interval_s`; the lines held back in between are
    counted, and the next line of that key says how many there were.

    >>> now = [0.0]
    >>> seen = []
    >>> limited = RateLimitedLog(interval_s=10, clock=lambda: now[0])
    >>> [limited.allow("broker down") for _ in range(3)]
    [(True, 0), (False, 0), (False, 0)]
    >>> now[0] = 11.0
    >>> limited.allow("broker down")
    (True, 2)
    """

    def __init__(
        self, interval_s: float = 10.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if interval_s < 0:
            raise ValueError(f"interval_s must be 0 or more (got {interval_s})")
        self.interval_s = interval_s
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}

    def allow(self, key: Hashable) -> tuple[bool, int]:
        """(whether to write this line now, how many of its kind were held back since
        the last one written)."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False, 0
        self._last[key] = now
        return True, self._held.pop(key, 0)

    def log(
        self, logger: logging.Logger, level: int, key: Hashable, msg: str, *args: object
    ) -> None:
        """`logger.log(level, msg, *args)`, rate-limited per key."""
        write, held = self.allow(key)
        if write:
            suffix = f" ({held} more like this in the last {self.interval_s:g} s)" if held else ""
            logger.log(level, msg + suffix, *args)


class RepeatFilter(logging.Filter):
    """A handler filter: warnings and errors of the named loggers (and their children)
    pass once per interval per message template, with the count held back since.

    Put on handlers, not loggers: a logger's filter misses its children's records,
    and aiokafka logs from many (aiokafka.conn, aiokafka.consumer.fetcher, ...).
    """

    def __init__(
        self,
        prefixes: Sequence[str] = CONNECTION_LOGGERS,
        interval_s: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.prefixes = tuple(prefixes)
        self.limit = RateLimitedLog(interval_s, clock=clock)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self.prefixes):
            return True
        write, held = self.limit.allow((record.name, str(record.msg)))
        if write and held:
            record.msg = (
                f"{record.msg} ({held} more like this in the last {self.limit.interval_s:g} s)"
            )
        return write


def limit_connection_logs(interval_s: float = 10.0) -> RepeatFilter:
    """Rate-limit Kafka connection warnings and errors on every root handler."""
    repeat = RepeatFilter(CONNECTION_LOGGERS, interval_s)
    for handler in logging.getLogger().handlers:
        handler.addFilter(repeat)
    return repeat
