"""Check the CUDA path on a machine with a GPU: `device="auto"` must pick CUDA, and
every engine's scores must match the CPU's; then measure windows/s on both.

Not part of the test suite (CI has no GPU): run it where one is lent.

    python benchmarks/gpu_check.py
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from stream_ae.model.autoencoder import LSTMAutoencoder
from stream_ae.model.scorer import ENGINES, AutoencoderScorer, resolve_device

WINDOW, CHANNELS = 64, 1


def throughput(scorer: AutoencoderScorer, x: np.ndarray, seconds: float = 2.0) -> float:
    scorer.score(x)  # warm-up
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        scorer.score(x)
        n += len(x)
    return n / (time.perf_counter() - start)


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device here; run this on a GPU machine")
        return 1
    assert resolve_device("auto").type == "cuda", "device='auto' did not pick CUDA"
    torch.manual_seed(0)
    module = LSTMAutoencoder(CHANNELS, hidden=32, latent=16).eval()
    x = np.random.default_rng(0).normal(size=(4096, WINDOW, CHANNELS)).astype(np.float32)
    cpu = AutoencoderScorer(module, "check", WINDOW, CHANNELS, device="cpu")
    want = cpu.score(x[:512]).scores
    print(f"GPU: {torch.cuda.get_device_name(0)}")
    print("| engine | device | batch | windows/s | max abs diff vs CPU |")
    print("|---|---|---:|---:|---:|")
    for engine in ENGINES:
        for batch in (256, 4096):
            gpu = AutoencoderScorer(
                module, "check", WINDOW, CHANNELS, device="auto", engine=engine, max_batch=batch
            )
            diff = float(np.abs(gpu.score(x[:512]).scores - want).max())
            rate = throughput(gpu, x)
            print(f"| {gpu.engine} | {gpu.device} | {batch} | {rate:,.0f} | {diff:.2e} |")
    print(f"| {cpu.engine} | cpu | 256 | {throughput(cpu, x[:1024]):,.0f} | 0 |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
