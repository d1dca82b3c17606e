"""Log lines that cannot flood: at most one per key per interval, with a count of the rest."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

_MAX_KEYS = 1024
"""Keys remembered at once (callers use bounded keys: reasons, error ids)."""


class RateLimitedLog:
    """Logs the first line of each key, then at most one per `interval_s`; the next line
    that gets through says how many were suppressed since the last one.

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
    ['series a evicted', 'series d evicted (2 more like it in the last 11 s)']
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0 seconds (got {interval_s})")
        self.logger = logger
        self.interval_s = interval_s
        self._clock = clock
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()
        """key -> (clock of the last line logged, lines suppressed since)."""

    def log(
        self,
        level: int,
        key: str,
        msg: str,
        *args: object,
        exc_info: BaseException | None = None,
    ) -> bool:
        """Log `msg % args` at `level` unless `key` logged within the interval; returns
        whether it was logged. `exc_info` adds the exception's traceback."""
        now = self._clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self.interval_s:
            self._seen[key] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            msg = f"{msg} (%d more like it in the last %.0f s)"
            args = (*args, last[1], now - last[0])
        self._seen[key] = (now, 0)
        self._seen.move_to_end(key)
        while len(self._seen) > _MAX_KEYS:
            self._seen.popitem(last=False)
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def warning(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def error(
        self, key: str, msg: str, *args: object, exc_info: BaseException | None = None
    ) -> bool:
        return self.log(logging.ERROR, key, msg, *args, exc_info=exc_info)
