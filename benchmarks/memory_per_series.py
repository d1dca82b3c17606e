"""Resident memory each series adds to a detector at the default settings, histories full.

Each size runs in a fresh process: a default detector (window 32, a threshold history
of 2,000 scores) around a small fitted model first scores a few warm-up series (so its
compiled code and the model's buffers exist), then N more series, each until its
threshold history is full (window + history points). The figure is the marginal cost:
resident memory added by N more series beside 2N, over N, so the process's fixed cost
(compiled code, the model, buffers of a batch) cancels. Children run with
MALLOC_MMAP_THRESHOLD_ fixed, so a freed large array goes back to the system at once
and resident memory counts live data, not what the allocator kept of the arrays a
detector outgrew; `--allocator-default` leaves glibc's threshold as it is.

The window's own bytes (its ring of values and times per slot) are printed beside it:
the hot-path issue asks for at most 10 KiB per series plus those.

    python benchmarks/memory_per_series.py [--series 1000] [--allocator-default]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

WARM_SERIES, BATCH_STEPS = 50, 5


def child(series: int) -> dict[str, float]:
    import e2e_kafka as e2e
    from speed import rss_kib

    from stream_ae import wiring
    from stream_ae.core.records import PointColumns
    from stream_ae.settings import Settings

    root = Path(tempfile.mkdtemp())
    settings = Settings.model_validate(
        {"model": {"hidden": e2e.HIDDEN, "epochs": 1, "artifact_dir": str(root / "models")}}
    )
    artifact, _ = e2e.pretrain(settings, seed=0)
    steps = settings.window.length + settings.threshold.history + 50
    values = e2e.series_values(WARM_SERIES + series, steps, seed=1)
    detector = wiring.detector(settings, ("value",), artifact)

    def feed(names: list[str], columns: np.ndarray, last: int) -> None:
        for first in range(0, last, BATCH_STEPS):
            rows = np.arange(first, min(first + BATCH_STEPS, last))
            ts = np.repeat(e2e.T0 + rows, len(names)).astype(np.float64)
            flat = columns[rows].reshape(-1, 1)
            detector.process(PointColumns(names * len(rows), ts, flat))

    feed([f"warm-{k}" for k in range(WARM_SERIES)], values[:, :WARM_SERIES], 300)
    before = rss_kib(os.getpid())
    feed([f"s{k}" for k in range(series)], values[:, WARM_SERIES:], steps)
    rings = detector.store.rings
    window_bytes = (rings.values.nbytes + rings.ts.nbytes) / len(rings.ts)
    return {"grown_kib": rss_kib(os.getpid()) - before, "window_bytes_per_slot": window_bytes}


def measure(series: int, allocator_default: bool) -> dict[str, float]:
    env = dict(os.environ)
    if not allocator_default:
        env["MALLOC_MMAP_THRESHOLD_"] = str(64 * 1024)
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(series)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--allocator-default", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    small = measure(args.series, args.allocator_default)
    large = measure(2 * args.series, args.allocator_default)
    marginal = (large["grown_kib"] - small["grown_kib"]) / args.series
    print(
        f"resident memory per series, defaults, histories full: {marginal:.1f} KiB "
        f"({args.series:,} series beside {2 * args.series:,}; grown "
        f"{small['grown_kib'] / 1024:.1f} and {large['grown_kib'] / 1024:.1f} MiB); "
        f"the window's own ring {large['window_bytes_per_slot'] / 1024:.2f} KiB per slot"
    )


if __name__ == "__main__":
    main()
