"""The one way the runtime scores a batch: no data and no bug can stop the caller."""

from __future__ import annotations

import time
from collections.abc import Sequence

from stream_ae.core.detector import Detector, Output
from stream_ae.core.records import Point
from stream_ae.runtime.ratelimit import RateLimitedLog

EVICTED_BECAUSE = {
    "idle": "the store was full (window.max_series) and it was the series unseen longest",
    "revoked": "its partition moved to another consumer",
    "internal_error": "an internal error hit its state; its next point starts it afresh",
}
"""Why a series was evicted, by the reason the window store gives, for the log."""


def process_guarded(
    detector: Detector, points: Sequence[Point], log: RateLimitedLog, now: float | None = None
) -> Output:
    """`detector.process(points)` with wall time (`now`, default the clock), its
    unexpected errors logged with their tracebacks, rate-limited per error id.

    process() refuses the points an unexpected error hits (internal_error, the
    dead letter naming the id logged here) and scores the rest. This guard is the
    last one, for an error outside that (a bug in the detector's own loop): the
    batch's points are refused, not retried, so no message can stop a run or make
    a restarted one fail again.
    """
    try:
        out = detector.process(points, now=time.time() if now is None else now)
    except Exception as exc:
        out = Output()
        for i, point in enumerate(points):
            out.fail(i, exc, point.series, point.ts, "processing its batch")
    for failure in out.failures:
        log.error(
            f"error {failure.error_id}",
            "internal error %s: %d point(s) refused to the dead letters, the rest scored",
            failure.error_id,
            failure.points,
            exc_info=failure.error,
        )
    return out
