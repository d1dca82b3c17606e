"""How the channels of a window should become one score: measured, not assumed.

A small plant of 25 channels (a few analog sensors, the rest 0/1 flags, most of
them never moving) is fitted with the real path (`train_and_publish`: scaler,
LSTM autoencoder, per-channel error scales), then scored on a test stretch
with labelled faults, once per way of combining the channels:

- one:   one sensor breaks (a slow level shift, a frozen value, a burst of noise);
- one/55: the same with 55 channels (5 sensors, 50 flags);
- broad: a fault moves six correlated sensors a little each (0.6 of their spread);
- single: the same sensor alone, one channel (every combine must rank alike).

Figures per combine and per error scale (the 99th or 90th percentile, or the mean,
of each channel's error on the fit windows, floored alike; or 1, as before): the
best point F1 of the window score at one threshold and the ROC AUC (a window is
anomalous when its last point lies in a fault). Run:

    python benchmarks/channel_combine.py            # about a minute per fit on 2 cores
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from stream_ae.core.channels import COMBINES, FLOOR_MIN, FLOOR_SHARE, ErrorScales
from stream_ae.core.normalize import Normalizer
from stream_ae.model.artifact import load_artifact
from stream_ae.model.publish import train_and_publish
from stream_ae.model.scorer import AutoencoderScorer
from stream_ae.model.training import TrainConfig

WINDOW = 32
FIT, TEST = 4000, 4000
CONFIG = TrainConfig(hidden=32, latent=16, epochs=20, patience=3, max_windows=FIT)


def plant(n: int, rng: np.random.Generator, sensors: int, flags: int, toggling: int) -> np.ndarray:
    """[n, sensors + flags]: sensors share a slow factor; `toggling` flags switch, the
    rest of the flags stay 0."""
    t = np.arange(n)
    common = np.sin(2 * np.pi * t / 96)
    cols = []
    for k in range(sensors):
        own = np.sin(2 * np.pi * t / (24 + 7 * k) + k)
        cols.append(common + 0.5 * own + 0.1 * rng.standard_normal(n))
    for k in range(flags):
        flag = np.zeros(n)
        if k < toggling:
            at = 0
            while at < n:
                off, on = rng.integers(100, 300), rng.integers(40, 80)
                flag[at + off : at + off + on] = 1.0
                at += off + on
        cols.append(flag)
    return np.stack(cols, axis=1)


def faults(n: int, rng: np.random.Generator, count: int = 8) -> list[tuple[int, int, str]]:
    kinds = ("shift", "freeze", "noise")
    starts = np.sort(rng.choice(np.arange(200, n - 200, 400), count, replace=False))
    return [(int(s), int(s + rng.integers(40, 90)), kinds[i % 3]) for i, s in enumerate(starts)]


def inject(
    x: np.ndarray,
    spans: list[tuple[int, int, str]],
    columns: list[int],
    size: float,
    rng: np.random.Generator,
) -> np.ndarray:
    x = x.copy()
    for start, stop, kind in spans:
        for c in columns:
            spread = x[:, c].std()
            if kind == "shift":
                x[start:stop, c] += size * spread * np.linspace(0.3, 1.0, stop - start)
            elif kind == "freeze":
                x[start:stop, c] = x[start, c]
            else:
                x[start:stop, c] += size * spread * rng.standard_normal(stop - start)
    return x


def windows_of(x: np.ndarray) -> np.ndarray:
    idx = np.arange(WINDOW)[None, :] + np.arange(len(x) - WINDOW + 1)[:, None]
    return x[idx].astype(np.float32)


def best_f1(score: np.ndarray, label: np.ndarray) -> float:
    order = np.argsort(-score, kind="stable")
    hits = np.cumsum(label[order])
    k = np.arange(1, len(score) + 1)
    f1 = 2 * hits / (k + label.sum())
    return float(f1.max())


def auc(score: np.ndarray, label: np.ndarray) -> float:
    ranks = np.empty(len(score))
    ranks[np.argsort(score, kind="stable")] = np.arange(1, len(score) + 1)
    pos = label.astype(bool)
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def case(
    name: str, sensors: int, flags: int, broken: list[int], size: float, seed: int, root: Path
) -> list[tuple[str, str, str, float, float]]:
    rng = np.random.default_rng(seed)
    toggling = min(4, flags)
    whole = plant(FIT + TEST, rng, sensors, flags, toggling)
    spans = faults(TEST, rng)
    test = inject(whole[FIT:], spans, broken, size, rng)
    fit_w, test_w = windows_of(whole[:FIT]), windows_of(test)
    channels = [f"s{k}" for k in range(sensors)] + [f"flag{k}" for k in range(flags)]
    path = train_and_publish(
        ["p"] * len(fit_w),
        fit_w,
        channel_names=channels,
        config=CONFIG,
        root=root / name,
        progress=False,
    )
    loaded = load_artifact(path)
    norm = Normalizer(len(channels), loaded.manifest.scaler["series"])
    norm.assign(0, "p")
    unused = np.zeros((len(test_w), len(channels)))
    x = norm.scale(np.zeros(len(test_w), dtype=np.int64), unused, unused).apply(test_w)
    label = np.zeros(TEST, dtype=bool)
    for start, stop, _ in spans:
        label[start:stop] = True
    label = label[WINDOW - 1 :]
    fitted = ErrorScales.from_manifest(loaded.manifest.error_scale, channels)
    scorer = AutoencoderScorer.from_artifact(loaded, device="cpu")
    scorer.error_scales = ErrorScales.unit(len(channels))
    fit_x = norm.scale(
        np.zeros(len(fit_w), dtype=np.int64), unused[: len(fit_w)], unused[: len(fit_w)]
    )
    fit_errors = scorer.score(fit_x.apply(fit_w)).channel_errors
    assert fit_errors is not None
    mean = fit_errors.mean(axis=0)
    floor = max(FLOOR_MIN, FLOOR_SHARE * float(mean.max()))
    variants = {
        "q99": fitted,
        "q90": ErrorScales.fit(fit_errors, quantile=0.9),
        "mean": ErrorScales(np.maximum(mean, floor)),
        "1": ErrorScales.unit(len(channels)),
    }
    rows = []
    for scales_name, base in variants.items():
        for how in COMBINES:
            scorer.error_scales = replace(base, combine=how)
            s = scorer.score(x).scores
            rows.append((name, scales_name, how, best_f1(s, label), auc(s, label)))
    floored = loaded.manifest.error_scale["floored_channels"]
    print(
        f"# {name}: {len(channels)} channels, broken {[channels[c] for c in broken]}, "
        f"error-scale floor {fitted.floor:.3g} on {len(floored)} channels",
        file=sys.stderr,
    )
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = case("one", 3, 22, [0], 1.5, 1, root)
        rows += case("one/55", 5, 50, [0], 1.5, 3, root)
        rows += case("broad", 6, 19, [0, 1, 2, 3, 4, 5], 0.6, 2, root)
        rows += case("single", 1, 0, [0], 1.5, 1, root)
    print(f"{'case':8} {'scale':6} " + " ".join(f"{how:>13}" for how in COMBINES))
    print(f"{'':15} " + " ".join(f"{'F1 / AUC':>13}" for _ in COMBINES))
    for at in range(0, len(rows), len(COMBINES)):
        line = rows[at : at + len(COMBINES)]
        cells = " ".join(f"{f1:6.3f}/{area:6.3f}" for _, _, _, f1, area in line)
        print(f"{line[0][0]:8} {line[0][1]:6} {cells}")


if __name__ == "__main__":
    main()
