"""Does a spike that comes back still page? Own alerts on one series with a spike every
`period` steps, early in the stream and late.

The series and the model are `speed.py`'s (its synthetic series, window 32, fitted on
clean windows), and so are the alerting settings (1-of-1 above a fixed floor, history
100), so this explains that benchmark's "alerts / spikes" column; every other setting
is the default. A spike is `e2e_kafka.SPIKE` added to one point that completes a scored
window. For each period and hop the table counts the spikes whose own window opened an
alert, in the first and in the last quarter of the stream.

What it shows (RESULTS.md, "A spike that comes back stops paging"): once
incidents come closer together than `alerts.hold_after` scores, every score is held,
the held run passes `threshold.escape_after`, and the spike's windows (past the
threshold, under `alerts.hold_ratio`) are let in as a new level, without the rise
limit: the highest of them lifts the threshold above the spike's first window.

    python benchmarks/recurring_spikes.py [--quick] [--periods 64,1024]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import e2e_kafka as e2e
import speed

from stream_ae import wiring
from stream_ae.core.records import AlertState, Point
from stream_ae.core.windows import hop_phase

BATCH = 2500


def paged(artifact: Path, workdir: Path, period: int, hop: int, steps: int) -> tuple[int, ...]:
    """(spikes, paged) in the first quarter, then (spikes, paged) in the last."""
    settings = speed.settings_for("127.0.0.1:1", workdir, "recurring", hop, 1)
    detector = wiring.detector(settings, ("value",), artifact)
    values = e2e.series_values(1, steps, 0)[:, 0].copy()
    first = 1000
    while not speed.scored_step(first, hop, hop_phase("s0", hop)):  # a point "s0" scores
        first += 1
    spikes = list(range(first, steps, period))
    values[spikes] += e2e.SPIKE
    points = [Point("s0", e2e.T0 + t, (v,)) for t, v in enumerate(values.tolist())]
    opened: set[int] = set()
    for start in range(0, steps, BATCH):
        out = detector.process(points[start : start + BATCH])
        opened |= {round(a.ts - e2e.T0) for a in out.alerts if a.state is AlertState.OPEN}
    quarter = (steps - first) // 4
    early = [s for s in spikes if s < first + quarter]
    late = [s for s in spikes if s >= steps - quarter]
    return len(early), len(opened.intersection(early)), len(late), len(opened.intersection(late))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40,000 steps instead of 300,000")
    parser.add_argument("--periods", default="64,1024", help="comma-separated spike spacings")
    args = parser.parse_args()
    steps = 40_000 if args.quick else 300_000
    with tempfile.TemporaryDirectory(prefix="recurring-") as tmp:
        base = speed.settings_for("127.0.0.1:1", Path(tmp), "recurring", 1, 1)
        artifact, _ = e2e.pretrain(base, 0, e2e.TRAIN_SERIES)
        print(f"{steps:,} steps of one series; spikes whose own window paged\n")
        print("| spike every | hop | first quarter | last quarter |")
        print("|---:|---:|---:|---:|")
        for period in (int(p) for p in args.periods.split(",")):
            for hop in (1, 8):
                n1, p1, n4, p4 = paged(artifact, Path(tmp), period, hop, steps)
                print(f"| {period:,} | {hop} | {p1} of {n1} | {p4} of {n4} |", flush=True)


if __name__ == "__main__":
    main()
