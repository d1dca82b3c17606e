"""What the replay benchmarks hand a detector, and what they get back.

A `LabelledSeries` is one series' rows with its known anomaly windows as row
indices; a detector sees only the rows (`ts`, `values`) and answers an `Output`.
The first rows, its probation (SCORING.md's rule: min(15%, 750)), are where a
detector warms up; they are never scored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from stream_ae.bench.nab_scoring import probation


@dataclass(frozen=True)
class LabelledSeries:
    """One series: its rows, and its labelled windows as inclusive row indices."""

    name: str
    path: Path
    """The file its rows came from (a file may hold several series)."""
    ts: np.ndarray
    values: np.ndarray
    """[rows] for one channel, [rows, channels] for several."""
    windows: list[tuple[int, int]]
    warmup: int | None = None
    """Rows never judged at the start; by default NAB's probation. 0 where the detector
    was fitted beforehand on other rows."""

    @property
    def probation(self) -> int:
        return probation(len(self.ts)) if self.warmup is None else self.warmup

    def unlabelled(self) -> LabelledSeries:
        """The same rows without their windows: what a detector is handed, so that no
        label can reach it."""
        return replace(self, windows=[])

    def labels(self) -> np.ndarray:
        label = np.zeros(len(self.ts), dtype=np.int8)
        for lo, hi in self.windows:
            label[lo : hi + 1] = 1
        return label


@dataclass(frozen=True)
class Output:
    """What a detector said about every row of one series."""

    anomaly_score: np.ndarray
    """[rows] in [0, 1]."""
    alert: np.ndarray
    """[rows] 1 where the detector's own policy opened an incident (one page each)."""
    in_incident: np.ndarray
    """[rows] 1 while an incident it opened is still open (for per-point figures)."""
    point_score: np.ndarray | None = None
    """[rows] the score point-wise figures sweep, when it is not `anomaly_score`
    (stream-ae's per-row level, where NAB's score favours the pages)."""

    @property
    def per_point(self) -> np.ndarray:
        return self.anomaly_score if self.point_score is None else self.point_score


Detector = Callable[[LabelledSeries, Path], Output]
"""Replays one series (a scratch folder for whatever it writes) and scores every row."""


def windows_of_spans(ts: np.ndarray, spans: Sequence[tuple[float, float]]) -> list[tuple[int, int]]:
    """Time spans (end inclusive) as row windows; a span holding no row is dropped."""
    windows = []
    for start, end in spans:
        inside = np.flatnonzero((ts >= start) & (ts <= end))
        if len(inside):
            windows.append((int(inside[0]), int(inside[-1])))
    return windows


def windows_of_flags(flags: np.ndarray) -> list[tuple[int, int]]:
    """Each run of 1s in a label column as a row window.

    >>> windows_of_flags(np.array([0, 1, 1, 0, 1]))
    [(1, 2), (4, 4)]
    """
    padded = np.concatenate([[0], flags.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return [(int(lo), int(hi) - 1) for lo, hi in zip(edges[::2], edges[1::2], strict=True)]


def flagged(score: np.ndarray, raised: np.ndarray) -> Output:
    """A baseline's answer: its score, and its raised rows as incidents, each paged once
    (at the first row of a run), as the detectors page."""
    up = raised.astype(bool)
    start = up & ~np.concatenate([[False], up[:-1]])
    return Output(score, start.astype(np.int8), up.astype(np.int8))
