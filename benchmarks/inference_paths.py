"""Which inference path scores LSTM-autoencoder windows fastest on this CPU?

Measures windows/s of the same weights run by:

- eager:        the `LSTMAutoencoder` module itself;
- torchscript:  the module published with `write_artifact` and read back with
                `load_artifact` (the artifact format on disk);
- compile:      `torch.compile(module)` with default settings (what a user would
                try first; dynamo cannot capture nn.LSTM and runs it eagerly);
- compile-rnn:  `torch.compile` with dynamo's experimental `allow_rnn` (--allow-rnn);
- aoti:         `torch.export` + AOTInductor package (--aoti, ~20–45 s build per model);
- scorer:       `AutoencoderScorer.score` with the default engine: the forward
                pass plus the error arrays the detector receives.

One torch thread, batch sizes 1, 64, 256 and 1024, engines interleaved in
repeated rounds (rotating which goes first) so drift and noise hit them all
alike; each cell is the median over rounds, with its ratio to eager.

    python benchmarks/inference_paths.py            # full run, a few minutes
    python benchmarks/inference_paths.py --quick    # smoke run, seconds
    python benchmarks/inference_paths.py --aoti --allow-rnn
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from stream_ae.model.artifact import load_artifact, write_artifact
from stream_ae.model.autoencoder import LSTMAutoencoder
from stream_ae.model.scorer import DEFAULT_ENGINE, ENGINES, AutoencoderScorer

MODELS = ((32, 32), (64, 32), (64, 64))
"""(window, hidden) pairs; one channel, latent 16."""
BATCHES = (1, 64, 256, 1024)
RAW_ENGINES = ("eager", "torchscript", "compile", "compile-rnn", "aoti")

Run = Callable[[np.ndarray], object]


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
        f"rounds {args.rounds}, ~{args.seconds}s per measurement\n"
    )
    print(fullgraph_note())
    results: dict[tuple[int, int, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for window, hidden in MODELS:
            started = time.perf_counter()
            engines = build_engines(window, hidden, args, Path(workdir))
            built = time.perf_counter() - started
            print(f"window {window} / hidden {hidden}: engines ready in {built:.1f}s")
            for batch in BATCHES:
                results[(window, hidden, batch)] = measure(engines, window, batch, args)
    print()
    print(table(results))
    print()
    print(verdict(results))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few short rounds: a smoke run")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per cell (default 7)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per measurement")
    parser.add_argument("--aoti", action="store_true", help="also build AOTInductor packages")
    parser.add_argument(
        "--allow-rnn", action="store_true", help="also torch.compile with dynamo's allow_rnn"
    )
    args = parser.parse_args()
    args.rounds = args.rounds or (3 if args.quick else 7)
    args.seconds = args.seconds or (0.03 if args.quick else 0.2)
    return args


def build_engines(
    window: int, hidden: int, args: argparse.Namespace, workdir: Path
) -> dict[str, Run]:
    module = LSTMAutoencoder(1, hidden=hidden, latent=16).eval()
    path = write_artifact(module, root=workdir, window=window, channel_names=("value",), scaler={})
    forwards: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "eager": module,
        "torchscript": load_artifact(path).module,
        "compile": torch.compile(module),
    }
    if args.allow_rnn:
        # The patch must be active while dynamo traces, i.e. during the warm-up calls.
        with torch._dynamo.config.patch(allow_rnn=True):
            forwards["compile-rnn"] = torch.compile(module, dynamic=True)
            warm_up(forwards["compile-rnn"], window)
    if args.aoti:
        forwards["aoti"] = build_aoti(module, window, workdir / f"w{window}h{hidden}.pt2")
    runs: dict[str, Run] = {name: as_run(forward) for name, forward in forwards.items()}
    for forward in forwards.values():
        warm_up(forward, window)
    scorer = AutoencoderScorer(
        module, "bench", window, 1, device="cpu", max_batch=max(BATCHES), engine=DEFAULT_ENGINE
    )
    runs["scorer"] = scorer.score
    return runs


def build_aoti(
    module: LSTMAutoencoder, window: int, package: Path
) -> Callable[[torch.Tensor], torch.Tensor]:
    batch = torch.export.Dim("batch", min=1, max=4096)
    with torch.no_grad(), warnings.catch_warnings():
        # Export's notes on nn.LSTM's internal _flat_weights and a pytree deprecation
        # inside torch itself: harmless here, and noise in the benchmark's output.
        warnings.filterwarnings("ignore", message="The tensor attributes", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*treespec", category=FutureWarning)
        exported = torch.export.export(
            module, (torch.zeros(8, window, 1),), dynamic_shapes={"x": {0: batch}}
        )
        built = torch._inductor.aoti_compile_and_package(exported, package_path=str(package))
    runner: Callable[[torch.Tensor], torch.Tensor] = torch._inductor.aoti_load_package(built)
    return runner


def as_run(forward: Callable[[torch.Tensor], torch.Tensor]) -> Run:
    def run(x: np.ndarray) -> object:
        with torch.inference_mode():
            return forward(torch.from_numpy(x))

    return run


def warm_up(forward: Callable[[torch.Tensor], torch.Tensor], window: int) -> None:
    with torch.inference_mode():
        for batch in (*BATCHES, *BATCHES):
            forward(torch.zeros(batch, window, 1))


def measure(
    runs: dict[str, Run], window: int, batch: int, args: argparse.Namespace
) -> dict[str, float]:
    x = np.random.default_rng(batch).standard_normal((batch, window, 1)).astype(np.float32)
    calls = calibrate(runs["eager"], x, args.seconds)
    names = list(runs)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            run = runs[name]
            run(x)
            started = time.perf_counter()
            for _ in range(calls):
                run(x)
            rates[name].append(calls * batch / (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in rates.items()}


def calibrate(run: Run, x: np.ndarray, seconds: float) -> int:
    started = time.perf_counter()
    calls = 0
    while time.perf_counter() - started < seconds / 4:
        run(x)
        calls += 1
    return max(1, calls * 4)


def fullgraph_note() -> str:
    module = LSTMAutoencoder(1, hidden=8, latent=4).eval()
    try:
        with torch.inference_mode():
            torch.compile(module, fullgraph=True)(torch.zeros(1, 8, 1))
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0]
        return f"torch.compile(fullgraph=True) fails here: {reason}\n"
    return "torch.compile(fullgraph=True) captures the model here\n"


def table(results: dict[tuple[int, int, int], dict[str, float]]) -> str:
    engines = [name for name in (*RAW_ENGINES, "scorer") if name in next(iter(results.values()))]
    header = ["window", "hidden", "batch", *(f"{name} w/s (×eager)" for name in engines)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for (window, hidden, batch), rates in results.items():
        cells = [f"{rates[name]:,.0f} ({rates[name] / rates['eager']:.2f})" for name in engines]
        lines.append("| " + " | ".join([str(window), str(hidden), str(batch), *cells]) + " |")
    return "\n".join(lines)


def verdict(results: dict[tuple[int, int, int], dict[str, float]]) -> str:
    rows = list(results.values())
    engines = [name for name in RAW_ENGINES if name in rows[0]]
    geomean = {
        name: math.exp(statistics.fmean(math.log(r[name] / r["eager"]) for r in rows))
        for name in engines
    }
    ranked = sorted(engines, key=geomean.__getitem__, reverse=True)
    summary = ", ".join(f"{name} {geomean[name]:.3f}" for name in ranked)
    best = ranked[0]
    best_cells = sum(1 for r in rows if max(engines, key=r.__getitem__) == best)
    tie = " (within 3% of eager: call it a tie)" if abs(geomean[best] - 1) < 0.03 else ""
    offered = max((name for name in engines if name in ENGINES), key=geomean.__getitem__)
    return (
        f"Verdict: fastest is {best}{tie}, fastest in {best_cells} of {len(rows)} cells; "
        f"geometric-mean speed relative to eager: {summary}. Fastest engine the scorer "
        f"offers: {offered!r}; AutoencoderScorer's default engine is {DEFAULT_ENGINE!r}."
    )


if __name__ == "__main__":
    main()
