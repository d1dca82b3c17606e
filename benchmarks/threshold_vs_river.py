"""Per-series rolling percentile: how RollingThreshold should keep its histories.

Each variant judges a score against the q-th percentile of its series' last
`history` scores, then learns it:

- numpy ring: every series' history in one preallocated float32 array and one
  vectorised `np.partition` per round of scores (our first implementation);
- river: one `river.stats.RollingQuantile` per series (a sorted window in
  compiled code), called in a plain Python loop;
- shipped: `stream_ae.core.threshold.RollingThreshold` as it is now: river's
  quantiles of the same float32 scores, from a float32 ring and the order of only
  the largest scores its quantiles can read (`stream_ae.core.histories`), with our
  warm-up, floor and protect bookkeeping around them.

Measured side by side in one process, interleaved, with full histories (the
steady state), for one series (one score per call: the worst case for
vectorising) up to 10,000 series scored together; plus resident memory per
series, each measured in a fresh process.

    python benchmarks/threshold_vs_river.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from river.stats import RollingQuantile

from stream_ae.core.threshold import RollingThreshold


class NumpyRing:
    """The measured alternative: histories in one [series, history] float32 ring."""

    def __init__(self, series: int, history: int, q: float) -> None:
        self.scores = np.zeros((series, history), dtype=np.float32)
        self.count = np.zeros(series, dtype=np.int64)
        self.history = history
        self.rank = int(np.ceil(q * history)) - 1

    def judge(self, slots: np.ndarray, scores: np.ndarray) -> np.ndarray:
        return scores > np.partition(self.scores[slots], self.rank, axis=1)[:, self.rank]

    def learn(self, slots: np.ndarray, scores: np.ndarray) -> None:
        self.scores[slots, self.count[slots] % self.history] = scores
        self.count[slots] += 1


def filled_ring(series: int, history: int, q: float) -> NumpyRing:
    ring = NumpyRing(series, history, q)
    slots = np.arange(series)
    rng = np.random.default_rng(0)
    for _ in range(history):
        ring.learn(slots, rng.gamma(2.0, 1.0, series))
    return ring


def filled_ours(series: int, history: int, q: float) -> RollingThreshold:
    thr = RollingThreshold(history=history, quantile=q, warmup=1, protect=False)
    slots = np.arange(series)
    thr.reset(series - 1)
    rng = np.random.default_rng(0)
    for _ in range(history):
        thr.learn(slots, rng.gamma(2.0, 1.0, series))
    return thr


def filled_river(series: int, history: int, q: float) -> list[RollingQuantile]:
    rng = np.random.default_rng(0)
    out = [RollingQuantile(q=q, window_size=history) for _ in range(series)]
    for _ in range(history):
        for rq, x in zip(out, rng.gamma(2.0, 1.0, series).tolist(), strict=True):
            rq.update(x)
    return out


def time_vectorised(thr: RollingThreshold | NumpyRing, scores: np.ndarray) -> float:
    slots = np.arange(scores.shape[1])
    start = time.perf_counter()
    for row in scores:
        thr.judge(slots, row)
        thr.learn(slots, row)
    return time.perf_counter() - start


def time_river(quantiles: list[RollingQuantile], scores: np.ndarray) -> float:
    rows = scores.tolist()
    start = time.perf_counter()
    for row in rows:
        for rq, x in zip(quantiles, row, strict=True):
            _ = x > rq.get()
            rq.update(x)
    return time.perf_counter() - start


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_child(kind: str, series: int, history: int, q: float) -> None:
    fill = {"ours": filled_ours, "river": filled_river, "ring": filled_ring}[kind]
    fill(2, 2, q)  # code loaded first (numba's compiled functions): not the series' memory
    before = resident_bytes()
    keep = fill(series, history, q)
    print(json.dumps((resident_bytes() - before) / series))
    del keep


def memory_per_series(kind: str, series: int, history: int, q: float) -> float:
    done = subprocess.run(
        [sys.executable, __file__, "--memory-child", kind, str(series), str(history), str(q)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--history", type=int, default=1000)
    parser.add_argument("--quantile", type=float, default=0.995)
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        kind, series, history, q = args.memory_child
        memory_child(kind, int(series), int(history), float(q))
        return
    total = 50_000 if args.quick else 500_000
    rng = np.random.default_rng(1)
    print(
        f"rolling p{args.quantile * 100:g} over each series' last {args.history} scores "
        "(steady state: histories full), microseconds per score"
    )
    print("| series | scores timed | numpy ring | river | shipped | shipped vs numpy ring |")
    print("|---:|---:|---:|---:|---:|---:|")
    for series in (1, 100, 10_000):
        steps = max(total // series, 20)
        scores = rng.gamma(2.0, 1.0, size=(steps, series))
        states = (
            filled_ring(series, args.history, args.quantile),
            filled_river(series, args.history, args.quantile),
            filled_ours(series, args.history, args.quantile),
        )
        best = [np.inf, np.inf, np.inf]
        for _ in range(3):  # interleaved rounds: all see the same machine state
            best[0] = min(best[0], time_vectorised(states[0], scores))  # type: ignore[arg-type]
            best[1] = min(best[1], time_river(states[1], scores))  # type: ignore[arg-type]
            best[2] = min(best[2], time_vectorised(states[2], scores))  # type: ignore[arg-type]
        ring, river, ours = (b / scores.size * 1e6 for b in best)
        print(
            f"| {series:,} | {scores.size:,} | {ring:.2f} | {river:.2f} | {ours:.2f} "
            f"| {ring / ours:.1f}x as fast |"
        )
    series = 2_000 if args.quick else 10_000
    memory = {
        k: memory_per_series(k, series, args.history, args.quantile)
        for k in ("ring", "river", "ours")
    }
    print(
        f"\nresident memory per series, history {args.history}: "
        + ", ".join(f"{k} {v / 1024:.1f} KiB" for k, v in memory.items())
    )


if __name__ == "__main__":
    main()
