"""The model alone by its hidden width, beside river's HalfSpaceTrees: what "at least
2x HalfSpaceTrees at hop 1" asks of the model.

At hop 1 every point is a window, so the detector can go no faster than the model
alone scores windows (`speed.py`'s ceiling). This times `AutoencoderScorer.score`, the
service's scorer on the CPU with its default scoring settings (TorchScript, chunks of
`scoring.max_batch`, `scoring.threads` torch threads), on batches of 4,096 windows of
32 steps (the service's batches run to `kafka.max_batch_points`, 5,000), for LSTM
autoencoders of one channel and several hidden widths (the latent `auto_latent(1)`,
as a default fit makes), and HalfSpaceTrees on the speed benchmarks' one series
(`peers.py`), in alternated rounds; medians. The weights are untrained: the time of a
forward pass does not depend on them.

What a width costs in quality is not measured here; it is one setting away:

    STREAM_AE_MODEL__HIDDEN=16 python benchmarks/alerts_vs_threshold.py plant
    STREAM_AE_MODEL__HIDDEN=16 stream-ae bench nab ../shared/data/nab --detectors stream-ae

    python benchmarks/model_size.py [--widths 8,16,24,32,48] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import e2e_kafka as e2e
import numpy as np
import peers

from stream_ae.model.autoencoder import LSTMAutoencoder
from stream_ae.model.scorer import AutoencoderScorer
from stream_ae.model.training import auto_latent
from stream_ae.settings import ScoringSettings, Settings

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")

WINDOW = 32
BATCH = 4096
"""Windows a call: a full micro-batch at hop 1, one window a point."""


def scorer_of(hidden: int, s: ScoringSettings) -> AutoencoderScorer:
    module = LSTMAutoencoder(channels=1, hidden=hidden, latent=auto_latent(1)).eval()
    return AutoencoderScorer(
        module,
        version=f"hidden-{hidden}",
        window=WINDOW,
        channels=1,
        device="cpu",
        max_batch=s.max_batch,
        engine=s.engine,
        threads=s.threads,
    )


def windows_per_s(scorer: AutoencoderScorer, x: np.ndarray, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        scorer.score(x)
    return calls * len(x) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--widths", default="8,16,24,32,48", help="hidden widths")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=8, help="batches a width a round")
    args = parser.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    x = np.random.default_rng(0).normal(size=(BATCH, WINDOW, 1)).astype(np.float32)
    one = e2e.series_values(1, 6000, seed=7)[:, 0]  # as speed.py and detector_alone.py
    scoring = Settings().scoring
    scorers = {w: scorer_of(w, scoring) for w in widths}
    for scorer in scorers.values():
        for _ in range(2):  # TorchScript profiles the first call, optimises the second
            scorer.score(x)
    rates: dict[int, list[float]] = {w: [] for w in widths}
    hst: list[float] = []
    for _ in range(args.rounds):
        hst.append(peers.half_space_trees_rate(one))
        for w, scorer in scorers.items():
            rates[w].append(windows_per_s(scorer, x, args.calls))
    river = statistics.median(hst)
    print("| hidden | model alone (windows/s) | model / river HalfSpaceTrees |")
    print("|---:|---:|---:|")
    for w in widths:
        rate = statistics.median(rates[w])
        print(f"| {w} | {rate:,.0f} | {rate / river:.2f}x |")
    print(
        f"\nriver HalfSpaceTrees, one series: {river:,.0f} points/s; latent "
        f"{auto_latent(1)}; medians of {args.rounds} alternated rounds, "
        f"{scoring.threads} torch thread(s)."
    )


if __name__ == "__main__":
    main()
