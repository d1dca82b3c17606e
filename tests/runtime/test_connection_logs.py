"""Repeated connection warnings and errors: one line per interval, with a count."""

import logging

import pytest

from stream_ae.ratelimit import RateLimitedLog, RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(name: str, level: int, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, "x.py", 1, msg, args, None)


def test_a_repeated_line_is_written_once_per_interval_with_the_count_held_back() -> None:
    clock = Clock()
    repeat = RepeatFilter(("aiokafka",), interval_s=10, clock=clock)
    passed = []
    for step in range(250):  # 25 s of a line every 0.1 s
        clock.now = step / 10
        r = record("aiokafka.conn", logging.ERROR, "Unable connect to %r", f"node-{step % 3}")
        if repeat.filter(r):
            passed.append(r.getMessage())
    assert len(passed) == 3  # at 0 s, 10 s and 20 s
    assert passed[0] == "Unable connect to 'node-0'"
    assert passed[1].endswith("(99 more like it in the last 10 s)")
    assert passed[2].endswith("(99 more like it in the last 10 s)")


def test_each_template_and_logger_has_its_own_allowance() -> None:
    repeat = RepeatFilter(("aiokafka", "stream_ae.connectors"), interval_s=10, clock=Clock())
    records = [
        record("aiokafka", logging.ERROR, "Unable to update metadata from %s", [1]),
        record("aiokafka.consumer.fetcher", logging.ERROR, "Failed fetch messages from %s", 1),
        record("stream_ae.connectors.kafka_common", logging.WARNING, "waiting for Kafka"),
    ]
    assert [repeat.filter(r) for r in records] == [True, True, True]
    assert [repeat.filter(r) for r in records] == [False, False, False]


def test_info_lines_and_other_loggers_always_pass() -> None:
    repeat = RepeatFilter(("aiokafka",), interval_s=10, clock=Clock())
    info = [record("aiokafka.consumer", logging.INFO, "partitions assigned") for _ in range(5)]
    mine = [record("stream_ae.runtime.service", logging.ERROR, "scoring failed") for _ in range(5)]
    assert all(repeat.filter(r) for r in info + mine)


def test_rate_limited_log_writes_through_a_logger(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    logger = logging.getLogger("stream_ae.test.ratelimit")
    limited = RateLimitedLog(logger, interval_s=5, clock=clock)
    with caplog.at_level(logging.WARNING, logger=logger.name):
        for step in range(12):
            clock.now = float(step)
            limited.log(logging.WARNING, "broker", "broker %s down", "b1")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "broker b1 down",
        "broker b1 down (4 more like it in the last 5 s)",
        "broker b1 down (4 more like it in the last 5 s)",
    ]


def test_the_decoders_own_rate_limited_lines_are_not_limited_again() -> None:
    """The first wrong-channel refusal of each series has its own limit; the connection
    filter keys on the template, so it would let one series' line through per interval."""
    repeat = RepeatFilter(interval_s=10, clock=Clock())
    lines = [
        record("stream_ae.connectors.wire", logging.WARNING, "series %s refused", s)
        for s in "abcde"
    ]
    assert all(repeat.filter(r) for r in lines)
