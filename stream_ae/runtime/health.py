"""What /healthz and /readyz answer: is the detector's loop alive, is it ready (consuming
with an assignment, its topics present, its brokers reachable)."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

STALL_S = 60.0
"""A loop that has not ticked for this long is stuck: the liveness probe fails."""


class Health:
    """Updated by the service as it runs; read by the probe endpoints (another thread:
    each field is replaced whole, so a reader sees an old or a new value, never half)."""

    def __init__(
        self,
        assignment: Callable[[], Collection[object]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._assignment = assignment
        self._clock = clock
        self.beat_at: float | None = None
        """When the event loop last ticked (None: not running yet)."""
        self.consuming = False
        """The consumer started and joined its group."""
        self.broker_error: str | None = None
        """Why the last check could not reach the brokers (None: it could)."""
        self.missing_topics: tuple[str, ...] = ()
        """Topics the last check did not find and could not re-create."""

    def beat(self) -> None:
        self.beat_at = self._clock()

    def live(self) -> tuple[bool, str]:
        if self.beat_at is None:
            return True, "starting"
        stalled = self._clock() - self.beat_at
        if stalled > STALL_S:
            return False, f"the event loop has not run for {stalled:.0f} s"
        return True, "alive"

    def ready(self) -> tuple[bool, str]:
        if not self.consuming:
            return False, "not consuming yet: waiting for Kafka or loading the model"
        if self.broker_error is not None:
            return False, f"Kafka unreachable: {self.broker_error}"
        if self.missing_topics:
            return False, (
                f"topic(s) {', '.join(self.missing_topics)} missing and kafka.create_topics "
                "is off: create them"
            )
        if not self._assignment():
            return False, "no partitions assigned (more detectors than input partitions?)"
        return True, "ready"

    def probes(self) -> dict[str, Callable[[], tuple[bool, str]]]:
        return {"/healthz": self.live, "/readyz": self.ready}
