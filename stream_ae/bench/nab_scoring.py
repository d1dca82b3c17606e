"""The NAB scoring rules (`shared/data/nab/SCORING.md`), pure numpy.

A file is its anomaly scores (one per row) and its labelled windows as row
indices. Every row's worth as a detection depends only on where it lies, so the
score of a whole corpus at every candidate threshold comes from one sort: as the
threshold falls past a row's score, that row starts to count (a row outside the
windows adds its own value; a row inside one raises the window's best value if
it is earlier than the window's detections so far).

>>> f = FileRows(scores=np.array([0.0, 0.9, 0.1, 0.1]), windows=[(1, 2)], probation=0)
>>> best = optimise([f], STANDARD)
>>> best.threshold, round(best.raw, 3), round(best.normalised, 1)
(0.9, 1.0, 100.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    tp: float
    fn: float
    fp: float


STANDARD = Profile("standard", tp=1.0, fn=1.0, fp=0.11)
LOW_FP = Profile("reward_low_FP_rate", tp=1.0, fn=1.0, fp=0.22)
LOW_FN = Profile("reward_low_FN_rate", tp=1.0, fn=2.0, fp=0.11)
PROFILES = (STANDARD, LOW_FP, LOW_FN)


def probation(n: int) -> int:
    """Rows at the start of a file that are never scored: min(floor(0.15 n), 750)."""
    return min(math.floor(0.15 * n), 750)


def scaled_sigmoid(y: np.ndarray) -> np.ndarray:
    """2 / (1 + exp(5 y)) - 1, and -1 beyond y = 3."""
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(over="ignore"):
        s = 2.0 / (1.0 + np.exp(5.0 * y)) - 1.0
    return np.where(y > 3.0, -1.0, s)


@dataclass(frozen=True, slots=True)
class FileRows:
    """One file: a score per row, labelled windows as inclusive row indices."""

    scores: np.ndarray
    windows: Sequence[tuple[int, int]]
    probation: int

    def counted_windows(self) -> list[tuple[int, int]]:
        """Windows with at least one row past probation (the others cannot be scored)."""
        return [(lo, hi) for lo, hi in self.windows if hi >= self.probation]


def row_values(
    n: int, windows: Sequence[tuple[int, int]], profile: Profile
) -> tuple[np.ndarray, np.ndarray]:
    """(value of a detection at each row, index of the window it lies in or -1)."""
    value = np.full(n, -profile.fp)
    inside = np.full(n, -1, dtype=np.int64)
    rows = np.arange(n)
    s_left = float(scaled_sigmoid(np.array(-1.0)))
    ordered = sorted(windows)
    for k, (lo, hi) in enumerate(ordered):
        width = hi - lo + 1
        part = rows[lo : hi + 1]
        value[lo : hi + 1] = profile.tp * scaled_sigmoid(-(hi - part + 1) / width) / s_left
        inside[lo : hi + 1] = k
        after_end = ordered[k + 1][0] if k + 1 < len(ordered) else n
        if width > 1:  # a one-row window leaves no scale: later rows cost the full fp
            tail = rows[hi + 1 : after_end]
            value[hi + 1 : after_end] = profile.fp * scaled_sigmoid(np.abs(tail - hi) / (width - 1))
    return value, inside


@dataclass(frozen=True, slots=True)
class Best:
    profile: Profile
    threshold: float
    raw: float
    null: float
    perfect: float

    @property
    def normalised(self) -> float:
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


def _events(f: FileRows, profile: Profile) -> tuple[np.ndarray, np.ndarray, int]:
    """(score, change in the file's raw score when rows of that score start to count),
    and the number of windows counted."""
    n = len(f.scores)
    windows = f.counted_windows()
    value, inside = row_values(n, windows, profile)
    rows = np.arange(f.probation, n)
    order = rows[np.argsort(-f.scores[rows], kind="stable")]
    best = np.full(len(windows), -profile.fn)
    delta = np.empty(len(order))
    for j, i in enumerate(order.tolist()):
        k = int(inside[i])
        if k < 0:
            delta[j] = value[i]
        else:
            gain = max(float(value[i]) - best[k], 0.0)
            best[k] += gain
            delta[j] = gain
    return f.scores[order], delta, len(windows)


def optimise(files: Sequence[FileRows], profile: Profile) -> Best:
    """The single threshold over all files that maximises the corpus' raw score."""
    parts = [_events(f, profile) for f in files]
    windows = sum(w for _, _, w in parts)
    null = -profile.fn * windows
    scores = np.concatenate([s for s, _, _ in parts]) if parts else np.zeros(0)
    deltas = np.concatenate([d for _, d, _ in parts]) if parts else np.zeros(0)
    order = np.argsort(-scores, kind="stable")
    scores, total = scores[order], null + np.cumsum(deltas[order])
    # A threshold counts every row at or above it: judge at the last row of each score.
    last = np.flatnonzero(np.append(scores[1:] != scores[:-1], True)) if len(scores) else ()
    best_raw, best_t = null, math.inf
    for i in last:
        if total[i] > best_raw:
            best_raw, best_t = float(total[i]), float(scores[i])
    return Best(profile, best_t, best_raw, null, profile.tp * windows)


def raw_score(files: Sequence[FileRows], profile: Profile, threshold: float) -> float:
    """The corpus' raw score at one fixed threshold (for a detector's own alerts)."""
    total = 0.0
    for f in files:
        scores, deltas, windows = _events(f, profile)
        total += -profile.fn * windows + float(deltas[scores >= threshold].sum())
    return total


@dataclass(frozen=True, slots=True)
class ProfileScore:
    """One profile's normalised scores of a detector over a corpus."""

    best: Best
    """The continuous score at its optimised threshold."""
    alerts: float
    """The detector's own alerts (0/1 scores) at the fixed threshold 0.5, normalised."""


def score_profiles(
    continuous: Sequence[FileRows], alerts: Sequence[FileRows]
) -> dict[str, ProfileScore]:
    """Every profile's scores; `alerts` holds the same files with the alerts as scores."""
    out = {}
    for profile in PROFILES:
        best = optimise(continuous, profile)
        fixed = raw_score(alerts, profile, 0.5)
        out[profile.name] = ProfileScore(
            best, 100.0 * (fixed - best.null) / (best.perfect - best.null)
        )
    return out
