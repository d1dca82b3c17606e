"""The detector alone beside the model alone, side by side in one process.

For each case (series x hop) one detector is built from the default settings around a
small fitted model, its windows filled and every series' threshold history seeded full
(the steady state a running service is in: 2,000 of the model's scores per series,
drawn from its scores on windows like the timed ones), then these are timed on the same
points, in alternated rounds (medians), one torch thread:

- model alone: `scorer.score` on the windows the detector drained, in the same batches
  (the ceiling: as points/s it is windows/s x hop);
- detector, compiled: `Detector.process` on columns (`PointColumns`), the service's path;
- detector, point by point: the same with `Detector.compiled = False` (every point by
  `WindowStore.push`, the reference the compiled loop must match);
- detector, scores given: a second compiled detector fed the same points, its scorer
  handing back the first one's answers call by call, so the time is the detector's
  own (windows, verdicts, alerts, records) without the model: what bounds it where the
  model is fast (RESULTS.md, "On a GPU host"), printed as µs a point;
- river's HalfSpaceTrees and the per-point torch loop (`peers.py`), one series.

Memory per series is the growth of this process's resident memory while the compiled
detector is built, its windows filled and its histories seeded, per series (meaningful
from 1,000 series up: the process's fixed costs are in it; `memory_per_series.py`
measures what a series adds).

    python benchmarks/detector_alone.py [--quick] [--series 1,1000,100000] [--hops 1,8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import e2e_kafka as e2e
import numpy as np
import peers
import torch
from speed import rss_kib

from stream_ae import wiring
from stream_ae.core.detector import Detector
from stream_ae.core.records import PointColumns, ScoreBatch
from stream_ae.settings import Settings

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")

WINDOW, HIDDEN, T0 = e2e.WINDOW, e2e.HIDDEN, e2e.T0
BATCH = 5000
"""Points per `process` call: kafka.max_batch_points' default."""


@dataclass
class Row:
    series: int
    hop: int
    model_points_per_s: float
    compiled_points_per_s: float
    point_by_point_points_per_s: float
    own_points_per_s: float
    memory_kib_per_series: float

    @property
    def ratio(self) -> float:
        return self.compiled_points_per_s / self.model_points_per_s


def settings_for(root: Path, hop: int, series: int) -> Settings:
    return Settings.model_validate(
        {
            "window": {"length": WINDOW, "hop": hop, "max_series": max(series, 1000)},
            "model": {"hidden": HIDDEN, "epochs": 2, "artifact_dir": str(root / "models")},
            "scoring": {"threads": 1},
        }
    )


def batches(names: list[str], values: np.ndarray, first: int, last: int) -> list[PointColumns]:
    """Steps [first, last) of every series, step by step, cut into `BATCH`-point columns."""
    steps = np.arange(first, last)
    ts = np.repeat(T0 + steps, len(names)).astype(np.float64)
    flat = values[first:last].reshape(-1, 1)
    every = names * len(steps)
    return [
        PointColumns(every[i : i + BATCH], ts[i : i + BATCH], flat[i : i + BATCH])
        for i in range(0, len(ts), BATCH)
    ]


def full_histories(detector: Detector, names: list[str], seed: int) -> None:
    """Seed every series' threshold history full with scores like the model's: drawn
    from its scores on windows of other series of the same kind."""
    lane = detector.lanes[0]
    windows = e2e.sliding_windows(e2e.series_values(64, 4 * WINDOW, seed=seed))
    pool = lane.scorer.score(windows).scores
    rng = np.random.default_rng(seed)
    history = lane.threshold.histories.size
    for slot in detector.store.slots_of(names).tolist():
        lane.threshold.seed(slot, rng.choice(pool, history))


class Replayed:
    """Records a scorer's answers while one detector scores, and hands them back, call
    by call, to a second detector fed the same points: the second spends only its own
    time, on the same scores (so the same alerts and records) as the first."""

    def __init__(self, scorer: object) -> None:
        self._inner = scorer.score  # type: ignore[attr-defined]
        self._answers: deque[ScoreBatch] = deque()

    def recording(self, windows: np.ndarray) -> ScoreBatch:
        answer: ScoreBatch = self._inner(windows)
        self._answers.append(answer)
        return answer

    def replaying(self, windows: np.ndarray) -> ScoreBatch:
        answer = self._answers.popleft()
        if len(answer.scores) != len(windows):
            raise RuntimeError("the replaying detector asked for other windows than the first")
        return answer


def timed(detector: Detector, work: list[PointColumns]) -> tuple[float, list[int]]:
    """Seconds to process `work`, and the size of every batch of windows it scored."""
    sizes: list[int] = []
    start = time.perf_counter()
    for columns in work:
        sizes += [len(rows) for rows in detector.process(columns).scored]
    return time.perf_counter() - start, sizes


def run_case(root: Path, series: int, hop: int, rounds: int, steps: int) -> Row:
    settings = settings_for(root, hop, series)
    artifact, _ = e2e.pretrain(settings, seed=0)
    names = [f"s{k}" for k in range(series)]
    fill = WINDOW + hop
    values = e2e.series_values(series, fill + rounds * steps * 2, seed=series + hop)
    before = rss_kib(os.getpid())
    compiled = wiring.detector(settings, ("value",), artifact)
    for columns in batches(names, values, 0, fill):
        compiled.process(columns)
    full_histories(compiled, names, seed=series + hop)
    memory = (rss_kib(os.getpid()) - before) / series
    reference = wiring.detector(settings, ("value",), artifact)
    reference.compiled = False
    for columns in batches(names, values, 0, fill):
        reference.process(columns)
    full_histories(reference, names, seed=series + hop)
    scorer = compiled.serving
    x = np.random.default_rng(0).normal(size=(BATCH, WINDOW, 1)).astype(np.float32)
    own = wiring.detector(settings, ("value",), artifact)
    for columns in batches(names, values, 0, fill):
        own.process(columns)
    full_histories(own, names, seed=series + hop)
    model_alone, replay = scorer.score, Replayed(scorer)
    scorer.score = replay.recording  # type: ignore[method-assign]
    own.serving.score = replay.replaying  # type: ignore[method-assign]
    speed: dict[str, list[float]] = {"model": [], "compiled": [], "reference": [], "own": []}
    step = fill
    for _ in range(rounds):
        work = batches(names, values, step, step + steps)
        points = sum(len(c) for c in work)
        seconds, sizes = timed(compiled, work)
        speed["compiled"].append(points / seconds)
        seconds, _ = timed(reference, work)
        speed["reference"].append(points / seconds)
        seconds, _ = timed(own, work)
        speed["own"].append(points / seconds)
        start = time.perf_counter()
        for n in sizes:  # the model alone on the very batches the detector scored
            model_alone(x[:n])
        speed["model"].append(points / (time.perf_counter() - start))
        step += steps
    return Row(
        series,
        hop,
        statistics.median(speed["model"]),
        statistics.median(speed["compiled"]),
        statistics.median(speed["reference"]),
        statistics.median(speed["own"]),
        memory,
    )


def table(rows: list[Row], hst: float, per_point: float) -> str:
    lines = [
        "| series | hop | model alone (points/s) | detector, compiled | detector / model "
        "| point by point (before) | compiled / point by point | compiled / river HST "
        "| detector's own µs a point (scores given) | memory KiB/series |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.series:,} | {r.hop} | {r.model_points_per_s:,.0f} "
            f"| {r.compiled_points_per_s:,.0f} | {r.ratio:.2f} "
            f"| {r.point_by_point_points_per_s:,.0f} "
            f"| {r.compiled_points_per_s / r.point_by_point_points_per_s:.2f} "
            f"| {r.compiled_points_per_s / hst:.2f} | {1e6 / r.own_points_per_s:.2f} "
            f"| {r.memory_kib_per_series:.1f} |"
        )
    lines.append(
        f"\nPeers, one series, points/s: river HalfSpaceTrees {hst:,.0f}; "
        f"per-point torch loop {per_point:,.0f}."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 series only, fewer rounds")
    parser.add_argument("--series", default="1,1000,100000")
    parser.add_argument("--hops", default="1,8")
    args = parser.parse_args()
    torch.set_num_threads(1)
    counts = [1000] if args.quick else [int(s) for s in args.series.split(",")]
    hops = [int(h) for h in args.hops.split(",")]
    rounds = 3 if args.quick else 5
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for series in counts:
            for hop in hops:
                steps = max(1, min(40_000 // series, 2000))
                steps = -(-steps // hop) * hop  # whole hops: every round scores its share
                rows.append(run_case(Path(tmp), series, hop, rounds, steps))
                print(f"  {series:,} series, hop {hop}: done", flush=True)
    one = e2e.series_values(1, 6000, seed=7)[:, 0]
    hst = peers.half_space_trees_rate(one)
    per_point = peers.torch_per_point_rate(one[:2000], WINDOW, HIDDEN)
    print(table(rows, hst, per_point))


if __name__ == "__main__":
    main()
