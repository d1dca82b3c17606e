"""What a gap in a series' times means: a usual step, points to impute, or a restart."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

GapPolicy = Literal["reset", "impute"]

RESET = -1
"""`Gaps.after`: a gap the window must not span."""


class Gaps:
    """Per slot a slow average of the step between points, and whether gaps still
    restart the series' window.

    A step more than `factor` times the usual one is a gap. With `policy` "impute" the
    missing points of a short gap are filled in by the caller; otherwise (or for a
    long gap) the window starts afresh after it.

    >>> gaps = Gaps("reset", factor=3.0, irregular_after=3)
    >>> gaps.grow(1)
    >>> [gaps.after(0, dt, longest=8) for dt in (1.0, 1.0, 10.0)]
    [0, 0, -1]
    """

    def __init__(self, policy: GapPolicy, factor: float, irregular_after: int) -> None:
        if policy not in ("reset", "impute"):
            raise ValueError(f"gap_policy must be 'reset' or 'impute' (got {policy!r})")
        if factor <= 1.0:
            raise ValueError(f"gap_factor must be > 1 (got {factor})")
        if irregular_after < 0:
            raise ValueError(f"irregular_after must be >= 0 (got {irregular_after})")
        self.policy = policy
        self.factor = factor
        self.irregular_after = irregular_after
        self.step = np.zeros(0)
        """The slow average of each slot's step (NaN: no step seen yet)."""
        self.short_resets = np.zeros(0, dtype=np.int64)
        """Restarts in a row that each came before the window filled."""
        self.irregular = np.zeros(0, dtype=bool)
        """Slots whose gaps no longer restart them."""

    def grow(self, capacity: int) -> None:
        extra = capacity - len(self.step)
        self.step = np.concatenate([self.step, np.full(extra, math.nan)])
        self.short_resets = np.concatenate([self.short_resets, np.zeros(extra, dtype=np.int64)])
        self.irregular = np.concatenate([self.irregular, np.zeros(extra, dtype=bool)])

    def clear(self, slot: int) -> None:
        self.step[slot] = math.nan
        self.short_resets[slot] = 0
        self.irregular[slot] = False

    def after(self, slot: int, dt: float, longest: int) -> int:
        """Judge a step of `dt` seconds after the slot's last point: 0 for a usual one
        (learned into the average), k > 0 for k missing points to impute, or RESET (also
        for `longest` missing points or more, whatever the policy)."""
        step = float(self.step[slot])
        if math.isnan(step):
            self.step[slot] = dt
            return 0
        if dt <= self.factor * step:
            # A slow average: a few irregular steps must not move the notion of "usual".
            self.step[slot] = 0.95 * step + 0.05 * dt
            return 0
        missing = round(dt / step) - 1
        if self.policy == "reset" or missing >= longest:
            return RESET
        return missing

    def restarts(self, slot: int, filled: bool) -> bool:
        """Whether a RESET gap restarts the slot's window (`filled`: the window had filled
        since the last restart). After `irregular_after` restarts in a row that came
        before the window filled, the series is taken as sampled irregularly and its
        gaps stop restarting it: one whose usual steps vary would never be scored."""
        if self.irregular[slot]:
            return False
        short = 0 if filled else int(self.short_resets[slot]) + 1
        self.short_resets[slot] = short
        if self.irregular_after and short >= self.irregular_after:
            self.irregular[slot] = True
            return False
        return True
