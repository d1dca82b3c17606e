"""Log lines that cannot flood: at most one per key per interval, with a count of the rest.

One limiter serves both uses: our own repeated lines (evictions, internal errors) and
the warnings and errors other libraries repeat while Kafka is unreachable (a filter on
the log handlers).
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

_MAX_KEYS = 1024
"""Keys remembered at once (callers use bounded keys: reasons, error ids, templates)."""
CONNECTION_LOGGERS = (
    "aiokafka",
    "stream_ae.connectors.kafka_common",
    "stream_ae.connectors.kafka_source",
    "stream_ae.connectors.kafka_sink",
)
"""Loggers whose warnings and errors repeat for as long as Kafka is unreachable."""


class RateLimitedLog:
    """Logs at most `burst` lines of each key per `interval_s` (the first at once); the
    next line that gets through says how many were held back since the last one.

    >>> lines = []
    >>> class Keep(logging.Handler):
    ...     def emit(self, record: logging.LogRecord) -> None:
    ...         lines.append(record.getMessage())
    >>> logger = logging.getLogger("ratelimit-doctest")
    >>> logger.addHandler(Keep()); logger.propagate = False
    >>> clock = iter([0.0, 1.0, 2.0, 11.0]).__next__
    >>> limited = RateLimitedLog(logger, interval_s=10.0, clock=clock)
    >>> [limited.warning("evict", "series %s evicted", name) for name in "abcd"]
    [True, False, False, True]
    >>> lines
    ['series a evicted', 'series d evicted (2 more like it in the last 10 s)']
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = 10.0,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0 seconds (got {interval_s})")
        if burst < 1:
            raise ValueError(f"burst must be at least 1 line (got {burst})")
        self.logger = logger
        self.interval_s = interval_s
        self.burst = burst
        """Lines of one key let through per interval."""
        self._clock = clock
        self._seen: OrderedDict[Hashable, tuple[float, int, int]] = OrderedDict()
        """key -> (clock the interval began, lines let through in it, lines held back)."""

    def allow(self, key: Hashable) -> tuple[bool, int]:
        """(whether a line of `key` may be written now, how many of its kind were held
        back since the last one written)."""
        now = self._clock()
        began, used, held = self._seen.get(key, (-math.inf, 0, 0))
        if now - began >= self.interval_s:
            began, used = now, 0
        if used >= self.burst:
            self._seen[key] = (began, used, held + 1)
            return False, 0
        self._seen[key] = (began, used + 1, 0)
        self._seen.move_to_end(key)
        while len(self._seen) > _MAX_KEYS:
            self._seen.popitem(last=False)
        return True, held

    def suffix(self, held: int) -> str:
        """What a line that gets through says of the ones held back before it."""
        return f" ({held} more like it in the last {self.interval_s:g} s)" if held else ""

    def log(
        self,
        level: int,
        key: Hashable,
        msg: str,
        *args: object,
        exc_info: BaseException | None = None,
    ) -> bool:
        """Log `msg % args` at `level` unless `key` logged within the interval; returns
        whether it was logged. `exc_info` adds the exception's traceback."""
        write, held = self.allow(key)
        if write:
            self.logger.log(level, msg + self.suffix(held), *args, exc_info=exc_info)
        return write

    def warning(self, key: Hashable, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def error(
        self, key: Hashable, msg: str, *args: object, exc_info: BaseException | None = None
    ) -> bool:
        return self.log(logging.ERROR, key, msg, *args, exc_info=exc_info)


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
        self.limit = RateLimitedLog(logging.getLogger(__name__), interval_s, clock=clock)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self.prefixes):
            return True
        write, held = self.limit.allow((record.name, str(record.msg)))
        if write and held:
            record.msg = f"{record.msg}{self.limit.suffix(held)}"
        return write


def limit_connection_logs(interval_s: float = 10.0) -> RepeatFilter:
    """Rate-limit Kafka connection warnings and errors on every root handler."""
    repeat = RepeatFilter(CONNECTION_LOGGERS, interval_s)
    for handler in logging.getLogger().handlers:
        handler.addFilter(repeat)
    return repeat
