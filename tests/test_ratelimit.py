import logging

import pytest

from stream_ae.ratelimit import RateLimitedLog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_key_per_interval_with_the_count_of_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    limited = RateLimitedLog(logging.getLogger("test.ratelimit"), interval_s=10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.ratelimit"):
        for step in range(100):  # 100 lines over 50 s, two keys
            clock.now = step * 0.5
            limited.warning("a", "a %d", step)
            limited.warning("b", "b %d", step)
    lines = [r.getMessage() for r in caplog.records]
    assert [line for line in lines if line.startswith("a ")] == [
        "a 0",
        "a 20 (19 more like it in the last 10 s)",
        "a 40 (19 more like it in the last 10 s)",
        "a 60 (19 more like it in the last 10 s)",
        "a 80 (19 more like it in the last 10 s)",
    ]
    assert len([line for line in lines if line.startswith("b ")]) == 5


def test_a_traceback_goes_with_the_line(caplog: pytest.LogCaptureFixture) -> None:
    limited = RateLimitedLog(logging.getLogger("test.ratelimit"))
    try:
        raise KeyError("x")
    except KeyError as exc:
        error = exc
    with caplog.at_level(logging.ERROR, logger="test.ratelimit"):
        assert limited.error("e1", "failed %s", "e1", exc_info=error)
        assert not limited.error("e1", "failed %s", "e1", exc_info=error)
    assert len(caplog.records) == 1
    assert caplog.records[0].exc_info is not None and caplog.records[0].exc_info[1] is error
    assert "KeyError" in caplog.text


def test_an_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        RateLimitedLog(logging.getLogger("x"), interval_s=0)


def test_a_burst_lets_that_many_lines_through_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    limited = RateLimitedLog(logging.getLogger("test.ratelimit"), 60.0, burst=3, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.ratelimit"):
        for step in range(10):  # ten lines in the first minute, then one more
            clock.now = step
            limited.warning("k", "line %d", step)
        clock.now = 61.0
        limited.warning("k", "line %d", 61)
    assert [r.getMessage() for r in caplog.records] == [
        "line 0",
        "line 1",
        "line 2",
        "line 61 (7 more like it in the last 60 s)",
    ]
