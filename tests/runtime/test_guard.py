"""The last guard keeps what a failed `Detector.process` call already did, refuses only
the points it had not finished, and leaves no window of that call behind."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pytest

from stream_ae.core.detector import Detector
from stream_ae.core.output import Output
from stream_ae.core.records import Point, RejectReason
from stream_ae.core.windows import Gathered
from stream_ae.ratelimit import RateLimitedLog
from stream_ae.runtime.guard import process_guarded

from ..core.test_detector_safety import W, make

T0 = 1000.0
LOG = RateLimitedLog(logging.getLogger("test.guard"))


def spiked(n: int = 60, spike_at: int = 20) -> list[Point]:
    return [Point("a", T0 + t, (50.0 if t == spike_at else 0.0,)) for t in range(n)]


def raises_on_call(k: int, inner: Callable[..., object]) -> Callable[..., object]:
    """`inner`, but its k-th call (from 0) raises as a bug in the detector's loop would."""
    calls = iter(range(1_000_000))

    def wrapped(*args: object, **kwargs: object) -> object:
        if next(calls) == k:
            raise RuntimeError("bug in the detector's loop")
        return inner(*args, **kwargs)

    return wrapped


def accounted(points: list[Point], out: Output) -> tuple[set[int], set[int]]:
    """(indices scored, indices refused) of one-series points; they must not overlap."""
    scored = {int(ts - T0) for rows in out.scored for ts in rows.ts.tolist()}
    refused = {i for i, _ in out.rejected}
    assert not scored & refused and len(refused) == len(out.rejected)
    assert scored | refused | set(range(W - 1)) == set(range(len(points)))
    return scored, refused


def clean_alerts(points: list[Point], slack: int) -> list[tuple[str, float]]:
    det = make()
    det.store.slack = det.gather_up_to = slack
    return [(a.state.value, a.ts) for a in det.process(points).alerts]


def test_an_error_escaping_process_keeps_the_scores_and_alerts_made_before_it() -> None:
    # Before the fix the guard replaced the whole output: 60 points dead-lettered though
    # 30 windows had been scored, judged and learned, and their alerts were lost while
    # the alert policy had recorded the incident.
    points = spiked()
    det = make()
    det.store.slack = det.gather_up_to = 1  # one batch per window: the error hits window 30
    det._score_rows = raises_on_call(30, det._score_rows)  # type: ignore[method-assign]
    out = process_guarded(det, points, LOG, now=T0)
    scored, refused = accounted(points, out)
    assert scored == set(range(W - 1, W - 1 + 30))
    assert refused == set(range(W - 1 + 30, 60))
    assert {r.reason for _, r in out.rejected} == {RejectReason.INTERNAL_ERROR}
    assert [f.points for f in out.failures] == [len(refused)]
    alerts = [(a.state.value, a.ts) for a in out.alerts]
    assert alerts == [a for a in clean_alerts(points, 1) if a[1] < T0 + W - 1 + 30]
    assert ("open", T0 + 20) in alerts


def test_windows_pending_when_process_failed_are_refused_not_reported_later() -> None:
    # Windows pending in the store when the error escaped kept tags that index the
    # failed call's points: the next call scored them as its own (and a refused one
    # would have been reported against the wrong point, or past the end of the batch).
    points = spiked(spike_at=50)
    det = make()
    det.compiled = False  # point by point, where `would_evict` is asked before each point
    det.gather_up_to = 1  # windows scored as the slack fills, so some are in before the error
    det.store.would_evict = raises_on_call(45, det.store.would_evict)  # type: ignore[method-assign]
    out = process_guarded(det, points, LOG, now=T0)
    scored, refused = accounted(points, out)
    assert det.store.pending == 0
    assert refused == set(range(len(scored) + W - 1, 60)) and len(scored) > 0
    resend = points[45]  # the first point never taken, sent again
    after = process_guarded(det, [resend], LOG, now=T0)
    assert [rows.ts.tolist() for rows in after.scored if len(rows)] == [[resend.ts]]
    assert after.rejected == []


def test_windows_a_compiled_run_left_pending_are_refused_not_reported_later() -> None:
    # The compiled loop takes points 1-59 in runs; the error escapes after the last run,
    # with its windows pending.
    points = spiked(spike_at=50)
    det = make()
    det.gather_up_to = 1  # windows scored as the slack fills, so some are in before the error
    det._watch = raises_on_call(2, det._watch)  # type: ignore[method-assign]
    out = process_guarded(det, points, LOG, now=T0)
    scored, refused = accounted(points, out)
    assert det.store.pending == 0
    assert refused == set(range(len(scored) + W - 1, 60)) and len(scored) > 0
    after = process_guarded(det, [Point("a", T0 + 60, (0.0,))], LOG, now=T0)
    assert [rows.ts.tolist() for rows in after.scored if len(rows)] == [[T0 + 60]]
    assert after.rejected == []


def test_windows_gathered_when_process_failed_are_refused_not_reported_later() -> None:
    # A ring's slack filled twice before the error: those windows were copied out of the
    # store to be scored with the rest of the call, and must be refused with them.
    points = spiked(n=100, spike_at=90)
    det = make()
    det._watch = raises_on_call(2, det._watch)  # type: ignore[method-assign]
    out = process_guarded(det, points, LOG, now=T0)
    scored, refused = accounted(points, out)
    assert out.taken >= 2 * det.store.slack  # points that filled the slack twice
    assert scored == set() and refused == set(range(W - 1, 100))
    resend = points[out.taken]  # the first point never taken, sent again
    after = process_guarded(det, [resend], LOG, now=T0)
    assert [rows.ts.tolist() for rows in after.scored if len(rows)] == [[resend.ts]]
    assert after.rejected == []


def test_windows_pending_when_gathering_fails_are_refused_not_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Joining the gathered windows with the pending ones is a copy, which can fail (out
    # of memory): the pending windows were already out of the store by then, and before
    # the fix they were neither scored nor refused.
    def out_of_memory(*_: object) -> Gathered:
        raise MemoryError("joining the gathered windows")

    points = spiked(n=100, spike_at=90)
    det = make()
    monkeypatch.setattr(Gathered, "concat", staticmethod(out_of_memory))
    out = process_guarded(det, points, LOG, now=T0)
    scored, refused = accounted(points, out)
    assert scored == set() and refused == set(range(W - 1, 100))


def test_a_clean_call_reports_no_failure() -> None:
    det: Detector = make()
    out = process_guarded(det, spiked(), LOG, now=T0)
    assert out.failures == [] and out.rejected == []
    assert np.array_equal(np.concatenate([r.ts for r in out.scored]), T0 + np.arange(W - 1, 60))
