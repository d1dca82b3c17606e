"""The one way the runtime scores a batch: no data and no bug can stop the caller."""

from __future__ import annotations

import time
from collections.abc import Sequence

from stream_ae.core.detector import Detector
from stream_ae.core.output import Output
from stream_ae.core.records import Point, PointColumns
from stream_ae.ratelimit import RateLimitedLog

EVICTED_BECAUSE = {
    "idle": "the store was full (window.max_series) and it was the series unseen longest",
    "revoked": "its partition moved to another consumer",
    "internal_error": "an internal error hit its state; its next point starts it afresh",
}
"""Why a series was evicted, by the reason the window store gives, for the log."""


def log_eviction(log: RateLimitedLog, series: str, reason: str) -> None:
    """One rate-limited line per eviction reason: the series and why."""
    log.warning(
        f"evicted {reason}",
        "series %r evicted (%s): %s",
        series,
        reason,
        EVICTED_BECAUSE.get(reason, reason),
    )


def process_guarded(
    detector: Detector,
    points: Sequence[Point] | PointColumns,
    log: RateLimitedLog,
    now: float | None = None,
) -> Output:
    """`detector.process(points)` with wall time (`now`, default the clock), its
    unexpected errors logged with their tracebacks, rate-limited per error id.

    process() refuses the points an unexpected error hits (internal_error, the
    dead letter naming the id logged here) and scores the rest. This guard is the
    last one, for an error outside that (a bug in the detector's own loop): what the
    call had done stands (its scores and alerts: the thresholds and the alert policy
    have learned them), and only the points it had not finished are refused, not
    retried: those it had not taken yet and those whose windows it had not scored.
    No message can stop a run or make a restarted one fail again.
    """
    out = Output()
    try:
        detector.process(points, now=time.time() if now is None else now, out=out)
    except Exception as exc:
        done = {index for index, _ in out.rejected}
        # Windows left pending carry this call's indices: drop them now, refused below,
        # or the next call would report them against its own points.
        unfinished = set(detector.abandon()) | set(range(out.taken, len(points)))
        for i in sorted(unfinished - done):
            if 0 <= i < len(points):
                point = points[i]
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
