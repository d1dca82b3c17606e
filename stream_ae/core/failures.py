"""Unexpected errors met while scoring, named so a dead letter can point at its traceback."""

from __future__ import annotations

import hashlib
import traceback
from dataclasses import dataclass

from stream_ae.core.records import Rejection, RejectReason

_DETAIL_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Failure:
    """One distinct error of a `Detector.process` call and how many points it refused."""

    error_id: str
    """`error_id(error)`: the same bug at the same place gets the same id."""
    error: Exception
    """The first instance seen, with its traceback, for the log."""
    points: int


def error_id(error: BaseException) -> str:
    """A short fingerprint of an error: its type and where it was raised, not its message,
    so one bug hit by many points (or on a replay) logs and dead-letters one id.

    >>> def boom(x: int) -> None:
    ...     raise ValueError(x)
    >>> ids = set()
    >>> for x in (1, 2):
    ...     try:
    ...         boom(x)
    ...     except ValueError as exc:
    ...         ids.add(error_id(exc))
    >>> len(ids), len(ids.pop())
    (1, 12)
    """
    frames = traceback.extract_tb(error.__traceback__)
    where = "|".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.name}:{f.lineno}" for f in frames)
    kind = f"{type(error).__module__}.{type(error).__qualname__}"
    return hashlib.sha256(f"{kind}|{where}".encode()).hexdigest()[:12]


def internal_error(
    error: Exception, eid: str, series: str | None, ts: float | None, what: str
) -> Rejection:
    """The rejection of a point that `what` (e.g. 'scoring its window') failed on."""
    message = f"{type(error).__name__}: {error}"[:_DETAIL_LIMIT]
    return Rejection(
        RejectReason.INTERNAL_ERROR,
        f"{what} raised {message} (error {eid}: the detector's log holds its traceback "
        "under this id); the rest of the batch was scored",
        series,
        ts,
    )
