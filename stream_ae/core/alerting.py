"""Alert policy: turns per-point exceedances into opened and resolved incidents."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NamedTuple

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


JUDGED_ON = ("tail", "score")
"""What the alert policy compares with 1 or the threshold (`judged_terms`)."""


def judged_terms(
    on: str, score: np.ndarray, threshold: np.ndarray, exponent: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The values and thresholds `AlertPolicy.update` judges, per row, for `on` one of
    JUDGED_ON (checked where it is configured: the settings and `Detector`).

    - "tail": each score's tail exponent under its series' history (see
      `RollingThreshold.exponent`) against 1, so the policy's ratios are powers of the
      threshold's tail probability: open_ratio 1.5 at q = 0.995 opens on scores rarer
      than 1 in 2,800. One ratio means one rarity on every series, whether its scores
      have a long tail or a short one;
    - "score": the raw score against the threshold, the ratios multiples of it.

    >>> v, t = judged_terms("tail", np.array([5.0]), np.array([2.0]), np.array([1.5]))
    >>> v.tolist(), t.tolist()
    ([1.5], [1.0])
    """
    if on == "score":
        return score, threshold
    return exponent, np.where(np.isnan(threshold) | np.isnan(exponent), np.nan, 1.0)


@dataclass(frozen=True, slots=True)
class Transitions:
    """What the policy did for each row of one update."""

    state: np.ndarray
    """[rows] int8 state code per point: QUIET, OPENED, ACTIVE or RESOLVED."""
    opened_ts: np.ndarray
    """[rows] float64 event time the row's incident opened (NaN when QUIET)."""
    peak_ratio: np.ndarray
    """[rows] float64 largest score/threshold ratio of the row's incident so far."""
    protect: np.ndarray
    """[rows] bool: keep this score out of the threshold's history (it is part of an
    incident, or clearly above the threshold)."""
    clear: np.ndarray
    """[rows] bool: the score was at least hold_ratio times its threshold."""


class PolicyState(NamedTuple):
    """`AlertPolicy`'s per-slot arrays, as compiled code takes them (`core.verdicts`)."""

    bits: np.ndarray
    open: np.ndarray
    quiet: np.ndarray
    cooling: np.ndarray
    after: np.ndarray
    opened_ts: np.ndarray
    peak: np.ndarray
    reference: np.ndarray


class PolicyRules(NamedTuple):
    mask: np.uint64
    open_k: int
    open_ratio: float
    resolve_ratio: float
    resolve_after: int
    cooldown: int
    hold_ratio: float
    hold_after: int


class AlertPolicy:
    """Hysteresis per series, judged against a reference of normal the incident
    cannot move.

    - open after `open_k` of the last `open_n` scores reached `open_ratio` times
      the threshold;
    - the threshold at the opening is the incident's reference: it stays open
      until `resolve_after` scores in a row fall to `resolve_ratio` times that
      reference or below, however the threshold moves meanwhile (a lasting fault
      would otherwise lift the bar until its own scores look normal), then no
      incident opens for `cooldown` scores;
    - `protect` marks the scores the threshold must not learn: every score of an
      open incident after the one that opened it, the `hold_after` scores after it
      resolves, and any score at least `hold_ratio` times the threshold. Marginal
      exceedances outside incidents, the opening one included, are learned: holding
      them all biases the history low and the threshold sinks (with a 1-of-1
      policy, 11% of independent scores then exceeded a 99.5th percentile).

    State lives in slot-aligned arrays; the last `open_n` verdicts are bits of
    one integer per slot.

    >>> policy = AlertPolicy(open_k=2, open_n=3, resolve_after=2, cooldown=0)
    >>> slot, one = np.array([0]), np.array([1.0])
    >>> [int(policy.update(slot, np.array([s]), one, np.array([float(t)])).state[0])
    ...  for t, s in enumerate([2.0, 2.0, 0.5, 0.5, 0.5])]
    [0, 1, 2, 3, 0]
    """

    def __init__(
        self,
        open_k: int = 3,
        open_n: int = 5,
        resolve_after: int = 10,
        cooldown: int = 20,
        open_ratio: float = 1.2,
        *,
        resolve_ratio: float = 1.0,
        hold_ratio: float = 1.5,
        hold_after: int = 0,
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
        if not 0.0 < resolve_ratio <= open_ratio:
            raise ValueError(
                f"resolve_ratio must be in (0, open_ratio={open_ratio}] (got {resolve_ratio}): "
                "an incident must be able to resolve below the level that opens one"
            )
        if not hold_ratio >= 1.0:
            raise ValueError(f"hold_ratio must be at least 1 (got {hold_ratio})")
        if hold_after < 0:
            raise ValueError(f"hold_after must be >= 0 (got {hold_after})")
        self.open_k = open_k
        self.open_n = open_n
        self.resolve_after = resolve_after
        self.cooldown = cooldown
        self.open_ratio = open_ratio
        self.resolve_ratio = resolve_ratio
        self.hold_ratio = hold_ratio
        self.hold_after = hold_after
        self._mask = np.uint64((1 << open_n) - 1)
        self._bits = np.zeros(0, np.uint64)
        self._open = np.zeros(0, bool)
        self._quiet = np.zeros(0, np.int64)
        self._cooling = np.zeros(0, np.int64)
        self._after = np.zeros(0, np.int64)
        self._opened_ts = np.zeros(0, np.float64)
        self._peak = np.zeros(0, np.float64)
        self._reference = np.zeros(0, np.float64)

    def _grow(self, slot: int) -> None:
        size = max(slot + 1, 2 * len(self._open), 64)
        extra = size - len(self._open)
        self._bits = np.concatenate([self._bits, np.zeros(extra, np.uint64)])
        self._open = np.concatenate([self._open, np.zeros(extra, bool)])
        self._quiet = np.concatenate([self._quiet, np.zeros(extra, np.int64)])
        self._cooling = np.concatenate([self._cooling, np.zeros(extra, np.int64)])
        self._after = np.concatenate([self._after, np.zeros(extra, np.int64)])
        self._opened_ts = np.concatenate([self._opened_ts, np.full(extra, np.nan)])
        self._peak = np.concatenate([self._peak, np.zeros(extra)])
        self._reference = np.concatenate([self._reference, np.full(extra, np.nan)])

    def reset(self, slot: int) -> None:
        """Forget a slot's state (a new series took the slot)."""
        if slot >= len(self._open):
            self._grow(slot)
        self._bits[slot] = 0
        self._open[slot] = False
        self._quiet[slot] = 0
        self._cooling[slot] = 0
        self._after[slot] = 0
        self._opened_ts[slot] = np.nan
        self._peak[slot] = 0.0
        self._reference[slot] = np.nan

    def rebase(self, slots: np.ndarray | None = None) -> None:
        """Open incidents (of `slots`, or all) take their next threshold as their
        reference: a new model judges them now, on its own scale, or the threshold
        has taken a lasting new level in on purpose (see `RollingThreshold.learn`)."""
        if slots is None:
            self._reference[:] = np.nan
        elif len(slots):
            if int(slots.max()) >= len(self._open):
                self._grow(int(slots.max()))
            self._reference[slots] = np.nan

    def compiled_view(self, slots: np.ndarray) -> tuple[PolicyState, PolicyRules]:
        """The arrays (grown for `slots`) and rules compiled code updates in place."""
        if len(slots) and int(slots.max()) >= len(self._open):
            self._grow(int(slots.max()))
        state = PolicyState(
            self._bits,
            self._open,
            self._quiet,
            self._cooling,
            self._after,
            self._opened_ts,
            self._peak,
            self._reference,
        )
        rules = PolicyRules(
            self._mask,
            self.open_k,
            float(self.open_ratio),
            float(self.resolve_ratio),
            self.resolve_after,
            self.cooldown,
            float(self.hold_ratio),
            self.hold_after,
        )
        return state, rules

    def is_open(self, slots: np.ndarray) -> np.ndarray:
        return self._open[slots].copy()

    def reference(self, slots: np.ndarray) -> np.ndarray:
        """The reference each slot's open incident is resolved against (NaN if none)."""
        return np.where(self._open[slots], self._reference[slots], np.nan)

    def update(
        self, slots: np.ndarray, score: np.ndarray, threshold: np.ndarray, ts: np.ndarray
    ) -> Transitions:
        """Take one score per (distinct) slot with its threshold (NaN while warming up:
        never anomalous)."""
        if len(slots) and int(slots.max()) >= len(self._open):
            self._grow(int(slots.max()))
        judged = ~np.isnan(threshold) & ~np.isnan(score)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(judged, score / np.where(judged, threshold, 1.0), 0.0)
        exceeded = judged & (score > np.where(judged, threshold, np.inf))
        high = exceeded & (ratio >= self.open_ratio)
        bits = ((self._bits[slots] << np.uint64(1)) | high.astype(np.uint64)) & self._mask
        self._bits[slots] = bits
        was_open = self._open[slots]
        cooling = self._cooling[slots]
        opening = ~was_open & (cooling == 0) & high & (np.bitwise_count(bits) >= self.open_k)
        self._cooling[slots] = np.where(~was_open & (cooling > 0), cooling - 1, cooling)

        reference = self._reference[slots]
        reference = np.where(opening | (was_open & np.isnan(reference)), threshold, reference)
        self._reference[slots] = reference
        calm = ~judged | (score <= self.resolve_ratio * np.where(judged, reference, np.inf))
        quiet = np.where(was_open & calm, self._quiet[slots] + 1, 0)
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
        after = self._after[slots]
        clear = exceeded & (ratio >= self.hold_ratio)
        protect = was_open | (after > 0) | clear
        self._after[slots] = np.where(resolving, self.hold_after, np.maximum(after - 1, 0))
        self._open[slots] = (was_open & ~resolving) | opening
        self._cooling[slots] = np.where(resolving, self.cooldown, self._cooling[slots])
        self._bits[slots] = np.where(resolving, np.uint64(0), self._bits[slots])
        self._reference[slots] = np.where(resolving, np.nan, self._reference[slots])
        return Transitions(
            state=state,
            opened_ts=np.where(state == QUIET, np.nan, opened_ts),
            peak_ratio=peak,
            protect=protect,
            clear=clear,
        )
