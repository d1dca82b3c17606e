"""A channel that stops moving: a run of exact repeats judged against the series' own runs.

A stuck sensor, or one that flatlines, repeats its last value. The autoencoder
reconstructs such a window well (a constant inside the usual range is easy), so its
error does not see it. The run does stand out against the series' habit: on a noisy
analogue channel two equal readings in a row are rare, on a counter that sits at zero
all night long runs are usual.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np


class StuckState(NamedTuple):
    """`StuckChannels`' per-slot arrays, as compiled code takes them (`core.verdicts`)."""

    at_least: np.ndarray
    run: np.ndarray
    counted: np.ndarray
    seen: np.ndarray


class StuckRules(NamedTuple):
    longest: int
    hop: int
    warmup: int
    escape_after: int
    keep: float
    per_step: float


class StuckChannels:
    """Per slot and channel, the share of steps that sat at least L steps into a run of
    repeats (L = 1 .. window - 1), over roughly the last `horizon` steps.

    A window that ends L repeats into a run gets that run's tail exponent,
    x = log p(L) / log(1 - quantile), in the units of `RollingThreshold.exponent`, so
    the alert policy judges it with the same ratios; the largest over the channels is
    the window's. p(L) counts half a step at run length L, a quarter at L + 1 and so on
    in advance, so a series that never repeated gets x of about 1.5 for one repeat and
    0.13 more per repeat after it (at 2,000 steps and quantile 0.995). Past the runs
    seen, p(L) is no less than the share at one repeat times, per repeat after it, the
    chance that a run goes on, pooled over every run seen: a history holds few of its
    longest runs, and judged by those alone each new longest run would look stuck.

    A run is counted once it ends, never while it lasts: an ongoing stuck run is judged
    against the runs before it, and cannot teach the series that it is usual. One that
    lasts `escape_after` steps is counted then, so a channel held constant on purpose
    becomes its normal. No verdict (NaN) before a slot has seen `warmup` steps.

    >>> stuck = StuckChannels(channels=1, quantile=0.995, window=4, warmup=3)
    >>> slots = np.array([0])
    >>> for k in range(50):  # a noisy channel: never the same value twice
    ...     stuck.learn(slots, np.array([[[k], [k + 0.5], [k + 0.25], [k + 0.75]]]))
    >>> x, channel = stuck.exponent(slots, np.array([[[0.0], [1.0], [2.0], [2.0]]]))
    >>> round(float(x[0]), 2), int(channel[0])
    (0.88, 0)
    """

    def __init__(
        self,
        channels: int,
        quantile: float,
        window: int,
        *,
        hop: int = 1,
        warmup: int = 100,
        horizon: int = 2000,
        escape_after: int = 200,
    ) -> None:
        if channels < 1:
            raise ValueError(f"channels must be at least 1 (got {channels})")
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1) (got {quantile})")
        if min(window, hop, warmup, horizon, escape_after) < 1:
            raise ValueError(
                "window, hop, warmup, horizon and escape_after must be at least 1 (got "
                f"{window}, {hop}, {warmup}, {horizon}, {escape_after})"
            )
        self.channels = channels
        self.longest = max(window - 1, 0)
        """The longest run a window can show."""
        self.hop = hop
        self.warmup = warmup
        self.escape_after = escape_after
        self._horizon = float(horizon)
        self._keep = 1.0 - 1.0 / horizon
        self._per_step = math.log(1.0 - quantile)
        # [slots, longest + 1, channels]: decayed steps seen (at L = 0) and steps at
        # least L into a run; per slot and channel the run going on, per slot the steps.
        self._at_least = np.zeros((0, self.longest + 1, channels))
        self._run = np.zeros((0, channels), dtype=np.int64)
        self._counted = np.zeros((0, channels), dtype=np.int64)
        """Per slot and channel, how much of the run going on is counted already (it
        counts as it goes once it lasted escape_after steps)."""
        self._seen = np.zeros(0, dtype=np.int64)

    def reset(self, slot: int) -> None:
        """Forget a slot's habit (a new series took the slot)."""
        self._ensure(np.array([slot]))
        self._at_least[slot] = 0.0
        self._run[slot] = 0
        self._counted[slot] = 0
        self._seen[slot] = 0

    def seed(self, slot: int, profile: np.ndarray) -> None:
        """Start `slot` from `profile` (see `run_profile`: a model's fit windows of the
        series) and judge it at once."""
        profile = np.asarray(profile, dtype=np.float64)
        if profile.shape != (self.longest + 1, self.channels):
            raise ValueError(
                f"a run profile for windows of {self.longest + 1} steps and {self.channels} "
                f"channel(s) has shape {(self.longest + 1, self.channels)}, got "
                f"{profile.shape}: the model was fitted for another window or channels"
            )
        self.reset(slot)
        steps = float(profile[0].max())
        # No more weight than the decayed history holds at its fullest.
        weight = min(1.0, self._horizon / steps) if steps > 0 else 0.0
        self._at_least[slot] = profile * weight
        self._seen[slot] = max(self.warmup, int(steps))

    def compiled_view(self, slots: np.ndarray) -> tuple[StuckState, StuckRules]:
        """The arrays (grown for `slots`) and rules compiled code updates in place."""
        self._ensure(slots)
        state = StuckState(self._at_least, self._run, self._counted, self._seen)
        rules = StuckRules(
            self.longest, self.hop, self.warmup, self.escape_after, self._keep, self._per_step
        )
        return state, rules

    def share(self, slot: int, repeats: int) -> np.ndarray:
        """Per channel, the share of the slot's steps that sat at least `repeats` into
        a run (counted runs only)."""
        self._ensure(np.array([slot]))
        counts = self._at_least[slot]
        return counts[repeats] / np.maximum(counts[0], 1e-12)

    def observe(self, slots: np.ndarray, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Judge each window (rows of distinct slots) against what its slot learned so
        far, then learn it: `exponent` and `learn` in one pass over the runs."""
        self._ensure(slots)
        within = _runs_within(windows)
        judged = self._judge(slots, within)
        self._learn(slots, within)
        return judged

    def exponent(self, slots: np.ndarray, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row of `windows` [rows, steps, channels] (raw values): the tail exponent
        of the run of repeats it ends in, and the channel it is on (NaN and -1 while the
        slot warms up, or for windows too short to hold a run). Learns nothing."""
        self._ensure(slots)
        return self._judge(slots, _runs_within(windows))

    def learn(self, slots: np.ndarray, windows: np.ndarray) -> None:
        """Take in the steps that are new since each slot's window before (rows of
        distinct slots, each window `hop` steps after the slot's one before; past the
        window's length the steps between are not seen). A slot's first window is new
        from its second step on."""
        self._ensure(slots)
        self._learn(slots, _runs_within(windows))

    def _judge(self, slots: np.ndarray, within: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(slots)
        x, channel = np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
        if self.longest < 1 or n == 0:
            return x, channel
        runs = within[:, -1, :]
        counts = self._at_least[slots]
        log_steps = np.log(counts[:, 0, :] + 1.0)
        at_run = np.take_along_axis(counts, runs[:, None, :], axis=1)[:, 0, :]
        # In logs: a long window's 0.5^L underflows to 0.
        log_prior = runs * _LOG_HALF
        with np.errstate(divide="ignore"):  # log(0) = -inf, and logaddexp takes it
            log_p = np.logaddexp(np.log(at_run), log_prior) - log_steps
            log_first = np.logaddexp(np.log(counts[:, 1, :]), _LOG_HALF) - log_steps
        # Past the runs it had, a series' runs thin out as they did before: the share
        # at one repeat, times the pooled chance that a run goes on, per repeat after it.
        # On a noisy channel that changes nothing (no runs: the chance is 1/2); on tweet
        # counts that sit at zero for hours, a night longer than any in the history is
        # not taken for a stuck sensor.
        goes_on = (counts[:, 2:, :].sum(axis=1) + 0.5) / (counts[:, 1:-1, :].sum(axis=1) + 1.0)
        log_p = np.maximum(log_p, log_first + np.maximum(runs - 1, 0) * np.log(goes_on))
        per_channel = np.where(runs > 0, np.minimum(log_p, 0.0) / self._per_step, 0.0)
        channel = np.argmax(per_channel, axis=1)
        x = per_channel[np.arange(n), channel]
        warm = self._seen[slots] >= self.warmup
        return np.where(warm, x, np.nan), np.where(warm, channel, -1)

    def _learn(self, slots: np.ndarray, within: np.ndarray) -> None:
        if self.longest < 1 or len(slots) == 0:
            return
        counts = self._at_least[slots]
        run, counted = self._run[slots], self._counted[slots]
        start = np.where(self._seen[slots] == 0, 1, max(1, self.longest + 1 - self.hop))
        for position in range(int(start.min()), self.longest + 1):
            new = (position >= start)[:, None]
            repeats = within[:, position - 1, :]
            # A run that reaches back to the window's start may be longer than it shows.
            whole = repeats == position
            now = np.where(repeats == 0, 0, np.where(whole, np.maximum(run + 1, repeats), repeats))
            ended = (now == 0) & (run > 0)
            escaped = now >= self.escape_after
            # Each run is counted once: when it ends, or from escape_after on as it goes.
            upto = np.where(new & ended, run, np.where(new & escaped, now, counted))
            counts[:, 0, :] = np.where(new, counts[:, 0, :] * self._keep + 1.0, counts[:, 0, :])
            counts[:, 1:, :] *= np.where(new, self._keep, 1.0)[:, None, :]
            grew = np.flatnonzero((upto != counted).any(axis=1))  # runs end rarely
            counts[grew] += _run_steps(upto[grew], self.longest) - _run_steps(
                counted[grew], self.longest
            )
            counted = np.where(new & ended, 0, upto)
            run = np.where(new, now, run)
        self._at_least[slots] = counts
        self._run[slots], self._counted[slots] = run, counted
        self._seen[slots] += self.longest + 1 - start

    def _ensure(self, slots: np.ndarray) -> None:
        need = int(slots.max()) + 1 if len(slots) else 0
        if need > len(self._seen):
            size = max(need, 2 * len(self._seen), 64)
            extra = size - len(self._seen)
            shape = (extra, self.longest + 1, self.channels)
            self._at_least = np.concatenate([self._at_least, np.zeros(shape)])
            zeros = np.zeros((extra, self.channels), np.int64)
            self._run = np.concatenate([self._run, zeros])
            self._counted = np.concatenate([self._counted, zeros])
            self._seen = np.concatenate([self._seen, np.zeros(extra, np.int64)])


_LOG_HALF = math.log(0.5)


def _runs_within(windows: np.ndarray) -> np.ndarray:
    """[rows, steps - 1, channels] at each step after the first, how many steps before
    it repeat in a row up to it, inside the window.

    >>> _runs_within(np.array([[[1.0], [1.0], [2.0], [2.0], [2.0]]]))[0, :, 0].tolist()
    [1, 0, 1, 2]
    """
    steps = windows.shape[1]
    same = windows[:, 1:, :] == windows[:, :-1, :]
    index = np.arange(1, steps)[None, :, None]
    return index - np.maximum.accumulate(np.where(same, 0, index), axis=1)


def trailing_repeats(windows: np.ndarray) -> np.ndarray:
    """[rows, channels] how many of each window's last steps repeat the step before.

    >>> trailing_repeats(np.array([[[1.0], [2.0], [2.0], [2.0]]])).tolist()
    [[2]]
    """
    return _runs_within(windows)[:, -1, :]


def run_profile(windows: np.ndarray) -> np.ndarray:
    """What `StuckChannels` learns from one series, from its windows [n, steps,
    channels] in any spacing (a model's fit windows, maybe a sample of them): row 0 the
    steps seen, row L those at least L repeats into a run, each window's steps counted
    inside it and weighed so that the windows stand for n steps.

    >>> run_profile(np.array([[[1.0], [1.0], [1.0]], [[1.0], [2.0], [3.0]]])).tolist()
    [[2.0], [1.0], [0.5]]
    """
    n, steps, channels = windows.shape
    out = np.zeros((steps, channels))
    if steps < 2 or n == 0:
        return out
    runs = _runs_within(windows)
    for level in range(1, steps):
        out[level] = (runs >= level).sum(axis=(0, 1))
    out /= steps - 1
    out[0] = n
    return out


def _run_steps(length: np.ndarray, longest: int) -> np.ndarray:
    """[rows, longest + 1, channels]: a run of `length` repeats put, for each L >= 1,
    max(0, length - L + 1) steps at least L into it (steps past `longest` at longest).

    >>> _run_steps(np.array([[3]]), 2)[0, :, 0].tolist()
    [0.0, 3.0, 2.0]
    """
    levels = np.arange(longest + 1)[None, :, None]
    steps = np.maximum(length[:, None, :] - levels + 1, 0).astype(np.float64)
    steps[:, 0, :] = 0.0
    return steps
