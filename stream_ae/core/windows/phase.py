"""Where in the hop a series scores: each on its own phase, so that series which start
together do not all score on the same points."""

from __future__ import annotations

import zlib


def hop_phase(series: str, hop: int) -> int:
    """The series' phase in the hop, 0 to hop - 1, the same for its name in every process.

    Series that start together would otherwise score on the same point in every `hop`
    for as long as they run: a burst of every series' window at once, which the points
    after it wait behind. Offset by a hash of their names, about one in `hop` of them
    scores on each point.
    """
    return zlib.crc32(series.encode("utf-8", "surrogatepass")) % hop


def count_to_first_window(window: int, hop: int, phase: int) -> int:
    """Where a series' hop counter starts when its window starts (a new series, or one
    that a gap reset). The counter goes up one a point and a full window is scored once
    it reaches `hop`, so from here the first comes `phase` points after the one the hop
    alone would score: the point that fills the window, or the hop-th point if the hop
    is longer than the window."""
    return min(0, hop - window) - phase
