"""Scoring on a worker thread beside a busy event loop: what the GIL costs.

The service scores on a worker thread while its event loop fetches, decodes and sends
on the main thread. Torch and the compiled kernels run without the GIL, but each time
the worker comes back to Python it must take the GIL back from the loop, and while
the loop runs Python that waits up to the interpreter's switch interval (5 ms by
default). So the count of such returns per batch matters, not only the work.

Timed here, one torch thread, the service's model size (window 32, hidden 32), batches
of 860 windows (a batch's size at the service's max rate in `speed.py --quick`):

- the scorer: the batch chunk by chunk (one call into the model per 256 windows and
  the error per chunk, as before), against one scripted call for the whole batch
  (`ChunkedReconstruction`, the scorer's way now);
- the detector on the same batches, with its scorer either way;

alone, and beside a thread that acts like a busy event loop (runs Python for `busy`
ms, then waits `idle` ms), at Python's default switch interval and at 1 ms. Medians of
alternated rounds.

    python benchmarks/beside_the_loop.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import e2e_kafka as e2e
import numpy as np
import speed
import torch

from stream_ae import wiring
from stream_ae.core.records import PointColumns
from stream_ae.model.scorer import AutoencoderScorer

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")

SERIES, BATCH, CHUNK = 1000, 860, 256
LOADS = [(2.0, 1.0), (5.0, 2.0)]
"""(busy, idle) ms of the loop thread."""
INTERVALS = (0.005, 0.001)
"""Python's switch interval (its default), and a shorter one."""


@contextmanager
def busy_loop(busy_ms: float, idle_ms: float) -> Iterator[None]:
    """A thread that runs Python for `busy_ms`, then waits `idle_ms`, until the end."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            end = time.perf_counter() + busy_ms / 1000
            while time.perf_counter() < end:
                pass
            time.sleep(idle_ms / 1000)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def chunk_by_chunk(model: torch.jit.ScriptModule) -> Callable[[torch.Tensor], tuple]:
    """The scorer's forward as it was: one call into the model per chunk, and the
    chunk's error computed apart, each back in Python."""

    def forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rebuilt = torch.empty_like(x)
        squared = torch.empty_like(x)
        for start in range(0, len(x), CHUNK):
            chunk = x[start : start + CHUNK]
            out = model(chunk)
            rebuilt[start : start + CHUNK] = out
            squared[start : start + CHUNK] = (out - chunk).square_()
        return rebuilt, squared

    return forward


def timed(work: Callable[[], int], rounds: int) -> float:
    """Seconds per unit (window or point) of `work`, which returns its units."""
    started = time.perf_counter()
    units = sum(work() for _ in range(rounds))
    return (time.perf_counter() - started) / units


def columns(values: np.ndarray, names: list[str]) -> Iterator[PointColumns]:
    """Step after step of every series, cut into `BATCH`-point columns, forever."""
    steps = len(values)
    ts = np.repeat(e2e.T0 + np.arange(steps), len(names)).astype(np.float64)
    flat = values.reshape(-1, 1)
    every = names * steps
    while True:
        for i in range(0, len(every) - BATCH + 1, BATCH):
            yield PointColumns(every[i : i + BATCH], ts[i : i + BATCH], flat[i : i + BATCH])
        ts = ts + steps  # the next lap goes on in time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="beside-") as tmp:
        settings = speed.settings_for("127.0.0.1:9", Path(tmp), "beside", 1, SERIES)
        artifact, _ = e2e.pretrain(settings, 0)
        detector = wiring.detector(settings, ("value",), artifact)
    scorer = detector.serving
    assert isinstance(scorer, AutoencoderScorer)
    one_call = scorer._forward
    model = one_call.module  # type: ignore[attr-defined]  # the scripted autoencoder
    ways = {"chunk by chunk": chunk_by_chunk(model), "one call": one_call}
    windows = np.random.default_rng(0).standard_normal((BATCH, e2e.WINDOW, 1))
    batches = columns(e2e.series_values(SERIES, 400, 0), [f"s{i}" for i in range(SERIES)])
    for _ in range(e2e.WINDOW + 8):  # every window full, thresholds warm
        detector.process(next(batches))

    def score() -> int:
        return len(scorer.score(windows).scores)

    def detect() -> int:
        batch = next(batches)
        detector.process(batch)
        return len(batch)

    cases = [("alone", None)] + [(f"loop {b:g}/{i:g} ms", (b, i)) for b, i in LOADS]
    results: dict[tuple[str, str, str, float], list[float]] = {}
    for _ in range(args.rounds):
        for interval in INTERVALS:
            sys.setswitchinterval(interval)
            for name, load in cases:
                for way, forward in ways.items():
                    scorer._forward = forward
                    for what, work, reps in (("scorer", score, 10), ("detector", detect, 10)):
                        if load is None:
                            seconds = timed(work, reps)
                        else:
                            with busy_loop(*load):
                                seconds = timed(work, reps)
                        results.setdefault((what, name, way, interval), []).append(seconds)
    scorer._forward = one_call
    print(
        f"window {e2e.WINDOW}, hidden {e2e.HIDDEN}, batches of {BATCH}, one torch thread, "
        f"medians of {args.rounds} rounds; µs per window (scorer) or point (detector)\n"
    )
    print("| what | switch interval | beside | chunk by chunk | one call | ratio |")
    print("|---|---:|---|---:|---:|---:|")
    for what in ("scorer", "detector"):
        for interval in INTERVALS:
            for name, _ in cases:
                keys = [(what, name, way, interval) for way in ways]
                before, after = (statistics.median(results[k]) * 1e6 for k in keys)
                print(
                    f"| {what} | {interval * 1000:g} ms | {name} | {before:.1f} | {after:.1f} "
                    f"| {before / after:.2f}x |"
                )


if __name__ == "__main__":
    main()
