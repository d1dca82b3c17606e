"""Alert policy: turns per-point exceedances into opened and resolved incidents."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from stream_ae.core.records import AlertState, Severity

QUIET, OPENED, ACTIVE, RESOLVED = 0, 1, 2, 3
"""Per-point alert state codes, as `AlertPolicy.update` returns them."""
STATE_NAMES = ("", "open", "active", "resolved")


def severity_of(
    score: float, threshold: float, major: float = 1.5, critical: float = 3.0
) -> Severity:
    """How far past the threshold: under `major` times it is a warning, `critical`
    times and more critical (alerts.major_ratio and alerts.critical_ratio).

    >>> severity_of(2.0, 1.0)
    <Severity.MAJOR: 'major'>
    """
    ratio = score / threshold if threshold > 0 else float("inf")
    if ratio >= critical:
        return Severity.CRITICAL
    if ratio >= major:
        return Severity.MAJOR
    return Severity.WARNING


def alert_ids(series: str, opened_ts: float, state: AlertState) -> tuple[str, str]:
    """Deterministic (alert_id, incident_id): a replay of the same input gives the same ids.

    >>> alert_ids("a", 1.0, AlertState.OPEN) == alert_ids("a", 1.0, AlertState.OPEN)
    True
    """
    incident = hashlib.sha256(f"{series}\x00{opened_ts!r}".encode()).hexdigest()[:20]
    return f"{incident}-{state.value}", incident


@dataclass(frozen=True, slots=True)
class Transitions:
    """What the policy did for each row of one update."""

    state: np.ndarray
    """[rows] int8 state code per point: QUIET, OPENED, ACTIVE or RESOLVED."""
    opened_ts: np.ndarray
    """[rows] float64 event time the row's incident opened (NaN when QUIET)."""
    peak_ratio: np.ndarray
    """[rows] float64 largest score/threshold ratio of the row's incident so far."""


class AlertPolicy:
    """Hysteresis per series: open after `open_k` of the last `open_n` scores
    reached `open_ratio` times the threshold, stay open while scores exceed the
    threshold, resolve after `resolve_after` quiet points in a row, then stay
    closed for `cooldown` points.

    State lives in slot-aligned arrays; the last `open_n` verdicts are bits of
    one integer per slot.

    >>> policy = AlertPolicy(open_k=2, open_n=3, resolve_after=2, cooldown=0)
    >>> slot = np.array([0])
    >>> [int(policy.update(slot, np.array([e]), np.array([float(t)]), np.array([2.0])).state[0])
    ...  for t, e in enumerate([True, True, False, False, False])]
    [0, 1, 2, 3, 0]
    """

    def __init__(
        self,
        open_k: int = 3,
        open_n: int = 5,
        resolve_after: int = 10,
        cooldown: int = 20,
        open_ratio: float = 1.2,
    ) -> None:
        if not 1 <= open_n <= 63:
            raise ValueError(f"open_n must be between 1 and 63 (got {open_n})")
        if not 1 <= open_k <= open_n:
            raise ValueError(f"open_k must be between 1 and open_n={open_n} (got {open_k})")
        if resolve_after < 1:
            raise ValueError(f"resolve_after must be at least 1 (got {resolve_after})")
        if cooldown < 0:
            raise ValueError(f"cooldown must be >= 0 (got {cooldown})")
        if not open_ratio >= 1.0:
            raise ValueError(f"open_ratio must be at least 1 (got {open_ratio})")
        self.open_k = open_k
        self.open_n = open_n
        self.resolve_after = resolve_after
        self.cooldown = cooldown
        self.open_ratio = open_ratio
        self._mask = np.uint64((1 << open_n) - 1)
        self._bits = np.zeros(0, np.uint64)
        self._open = np.zeros(0, bool)
        self._quiet = np.zeros(0, np.int64)
        self._cooling = np.zeros(0, np.int64)
        self._opened_ts = np.zeros(0, np.float64)
        self._peak = np.zeros(0, np.float64)

    def _grow(self, slot: int) -> None:
        size = max(slot + 1, 2 * len(self._open), 64)
        extra = size - len(self._open)
        self._bits = np.concatenate([self._bits, np.zeros(extra, np.uint64)])
        self._open = np.concatenate([self._open, np.zeros(extra, bool)])
        self._quiet = np.concatenate([self._quiet, np.zeros(extra, np.int64)])
        self._cooling = np.concatenate([self._cooling, np.zeros(extra, np.int64)])
        self._opened_ts = np.concatenate([self._opened_ts, np.full(extra, np.nan)])
        self._peak = np.concatenate([self._peak, np.zeros(extra)])

    def reset(self, slot: int) -> None:
        """Forget a slot's state (a new series took the slot)."""
        if slot >= len(self._open):
            self._grow(slot)
        self._bits[slot] = 0
        self._open[slot] = False
        self._quiet[slot] = 0
        self._cooling[slot] = 0
        self._opened_ts[slot] = np.nan
        self._peak[slot] = 0.0

    def is_open(self, slots: np.ndarray) -> np.ndarray:
        return self._open[slots].copy()

    def update(
        self, slots: np.ndarray, exceeded: np.ndarray, ts: np.ndarray, ratio: np.ndarray
    ) -> Transitions:
        """Take one verdict per (distinct) slot; `ratio` is score / threshold."""
        if len(slots) and int(slots.max()) >= len(self._open):
            self._grow(int(slots.max()))
        # Only scores `open_ratio` times the threshold count towards opening; any
        # exceedance keeps an open incident open.
        high = exceeded & (ratio >= self.open_ratio)
        bits = ((self._bits[slots] << np.uint64(1)) | high.astype(np.uint64)) & self._mask
        self._bits[slots] = bits
        was_open = self._open[slots]
        cooling = self._cooling[slots]
        opening = ~was_open & (cooling == 0) & high & (np.bitwise_count(bits) >= self.open_k)
        self._cooling[slots] = np.where(~was_open & (cooling > 0), cooling - 1, cooling)
        quiet = np.where(was_open & ~exceeded, self._quiet[slots] + 1, 0)
        resolving = was_open & (quiet >= self.resolve_after)
        self._quiet[slots] = np.where(resolving, 0, quiet)

        peak = np.where(opening, ratio, self._peak[slots])
        peak = np.where(was_open, np.maximum(peak, np.where(exceeded, ratio, 0.0)), peak)
        self._peak[slots] = peak
        self._opened_ts[slots] = np.where(opening, ts, self._opened_ts[slots])
        opened_ts = self._opened_ts[slots].copy()

        state = np.full(len(slots), QUIET, np.int8)
        state[was_open] = ACTIVE
        state[opening] = OPENED
        state[resolving] = RESOLVED
        self._open[slots] = (was_open & ~resolving) | opening
        self._cooling[slots] = np.where(resolving, self.cooldown, self._cooling[slots])
        self._bits[slots] = np.where(resolving, np.uint64(0), self._bits[slots])
        return Transitions(
            state=state,
            opened_ts=np.where(state == QUIET, np.nan, opened_ts),
            peak_ratio=peak,
        )
