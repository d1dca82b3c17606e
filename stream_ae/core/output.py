"""What one `Detector.process` call gives back: scored rows, alerts, refusals, failures."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from stream_ae.core.failures import Failure, error_id, internal_error
from stream_ae.core.records import Alert, Rejection


@dataclass(frozen=True, slots=True)
class Scored:
    """One row per scored window, columnar."""

    series: tuple[str, ...]
    ts: np.ndarray
    """[rows] event time of the window's last point."""
    values: np.ndarray
    """[rows, channels] the window's last point, raw."""
    score: np.ndarray
    threshold: np.ndarray
    """NaN while the series warms up."""
    level: np.ndarray
    """[rows] in [0, 1]: how unusual the score is for its series (see
    `level_of`); a ranking comparable across series. NaN while warming up."""
    state: np.ndarray
    """[rows] int8 alert state code (see `stream_ae.core.alerting`)."""
    scorer: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.series)


@dataclass(slots=True)
class Output:
    """Everything one `Detector.process` call produced."""

    scored: list[Scored] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    rejected: list[tuple[int, Rejection]] = field(default_factory=list)
    """(index of the point in the input, why it was refused). A window that could not
    be scored is reported as the point that completed it."""
    failures: list[Failure] = field(default_factory=list)
    """Unexpected errors, one per distinct id; their points are in `rejected`
    (internal_error, the detail naming the id)."""
    taken: int = 0
    """Points of the input taken (pushed or refused) so far: if process() raised, the
    points from here on were never looked at."""

    @property
    def points_scored(self) -> int:
        return sum(len(s) for s in self.scored)

    def fail(self, index: int, error: Exception, series: str, ts: float, what: str) -> None:
        """Refuse point `index` because `what` raised `error`."""
        eid = error_id(error)
        self.rejected.append((index, internal_error(error, eid, series, ts, what)))
        for k, seen in enumerate(self.failures):
            if seen.error_id == eid:
                self.failures[k] = replace(seen, points=seen.points + 1)
                return
        self.failures.append(Failure(eid, error, 1))

    def note(self, error: Exception) -> None:
        """Record `error`, which hit after its windows were scored: it refuses no point."""
        eid = error_id(error)
        if all(seen.error_id != eid for seen in self.failures):
            self.failures.append(Failure(eid, error, 0))
