"""Shared pieces of the tutorial scenarios: data, metrics, baselines, our detector, tables.

Every scenario runs OUR detector (`stream_ae`'s real classes, built by `stream_ae.wiring`
from `Settings` and a model fitted and published with `train_and_publish`) beside the
tutorial's own method, re-implemented here in a few lines of torch, on the same
generated data. Everything is seeded: the same command prints the same table.

Streaming is causal: points go through `Detector.process` one micro-batch at a time
(one point per call by default), so a window is scored before any later point exists
and each series' threshold only ever saw earlier scores.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stream_ae import wiring
from stream_ae.core.alerting import ACTIVE, OPENED
from stream_ae.core.detector import Detector
from stream_ae.core.records import Alert, AlertState, Point
from stream_ae.plant.synthetic import AnomalyKind, Injected, inject, trend_seasonal
from stream_ae.settings import Settings

SEED = 0
"""One seed for data, our fits and the baselines' fits."""

# -- settings and our detector ---------------------------------------------------------

_BASE: dict[str, dict[str, Any]] = {
    # CPU, one thread, eager: the same numbers on every machine (a GPU would round
    # differently); one torch thread was also the fastest in every measurement here.
    "scoring": {"device": "cpu", "engine": "eager", "threads": 1},
    "model": {"seed": SEED},
}


def make_settings(**sections: Mapping[str, Any]) -> Settings:
    """`Settings` from section dicts laid over the scenarios' base (CPU, one thread, seeded).

    >>> make_settings(window={"length": 8}).window.length
    8
    """
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in _BASE.items()}
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values)
    return Settings.model_validate(merged)


def describe_settings(settings: Settings) -> str:
    """One line with the settings a table's numbers depend on."""
    w, m, t, a = settings.window, settings.model, settings.threshold, settings.alerts
    kind = "dense" if wiring.model_kind(settings) == "dense" else "LSTM"
    return (
        f"window {w.length} hop {w.hop}; {kind} AE hidden {m.hidden} latent {m.latent} "
        f"layers {m.layers}, <= {m.epochs} epochs (patience {m.patience}, batch {m.batch_size}, "
        f"lr {m.learning_rate:g}); threshold q={t.quantile:g} history {t.history} "
        f"warmup {t.warmup} protect {t.protect}; alerts open {a.open_k}-of-{a.open_n} "
        f"resolve {a.resolve_after} cooldown {a.cooldown}; "
        f"normalize {'online' if settings.normalize.online else 'trained'}"
    )


def sliding(values: np.ndarray, window: int, step: int = 1) -> np.ndarray:
    """`[n, channels]` -> `[n - window + 1, window, channels]` windows (a copy).

    >>> sliding(np.arange(4.0)[:, None], 3)[:, :, 0].tolist()
    [[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]]
    """
    if values.ndim == 1:
        values = values[:, None]
    view = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)
    # sliding_window_view puts the window axis last: [n - w + 1, channels, w].
    return np.ascontiguousarray(view[::step].transpose(0, 2, 1), dtype=np.float32)


def publish_model(
    windows: np.ndarray,
    settings: Settings,
    channels: Sequence[str],
    root: Path,
    series: str = "s",
) -> Path:
    """Fit our LSTM autoencoder on raw `[N, window, channels]` windows of one series
    and publish it (scaler included) under `root`; returns the artifact directory."""
    from stream_ae.model.publish import train_and_publish

    return train_and_publish(
        [series] * len(windows),
        windows,
        channel_names=channels,
        config=wiring.train_config(settings),
        root=root,
        lineage={"source": "benchmarks/scenarios"},
        progress=False,
    )


@dataclass
class Streamed:
    """What our detector said about every point of one series, aligned to point index."""

    score: np.ndarray
    """[n] score of the window ending at each point (NaN before the first full window)."""
    threshold: np.ndarray
    """[n] the threshold that score was judged against (NaN while warming up)."""
    state: np.ndarray
    """[n] alert state code (QUIET, OPENED, ACTIVE, RESOLVED)."""
    alerts: list[Alert] = field(default_factory=list)
    seconds: float = 0.0
    """Wall time spent inside `Detector.process`."""

    @property
    def exceeded(self) -> np.ndarray:
        """[n] the threshold's verdict: score above a warm threshold."""
        with np.errstate(invalid="ignore"):
            return np.nan_to_num(self.score) > np.where(
                np.isnan(self.threshold), np.inf, self.threshold
            )

    @property
    def opened(self) -> list[float]:
        """Event times at which incidents opened, in order."""
        return [a.ts for a in self.alerts if a.state is AlertState.OPEN]


def stream(
    detector: Detector,
    values: np.ndarray,
    *,
    series: str = "s",
    ts: np.ndarray | None = None,
    batch: int = 1,
) -> Streamed:
    """Push `values[n, channels]` (times `ts`, default 0..n-1) through `detector`,
    `batch` points per `process` call; rows come back aligned to the point index."""
    if values.ndim == 1:
        values = values[:, None]
    n = len(values)
    times = np.arange(n, dtype=np.float64) if ts is None else np.asarray(ts, dtype=np.float64)
    index = {float(t): i for i, t in enumerate(times)}
    out = Streamed(np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, dtype=np.int8))
    rows = values.astype(np.float64).tolist()
    points = [Point(series, float(t), tuple(r)) for t, r in zip(times, rows, strict=True)]
    started = time.perf_counter()
    for start in range(0, n, batch):
        result = detector.process(points[start : start + batch])
        if result.rejected:
            raise RuntimeError(f"the detector refused points: {result.rejected[:3]}")
        for scored in result.scored:
            at = [index[float(t)] for t in scored.ts]
            out.score[at] = scored.score
            out.threshold[at] = scored.threshold
            out.state[at] = scored.state
        out.alerts += result.alerts
    out.seconds = time.perf_counter() - started
    return out


def alerting_mask(streamed: Streamed) -> np.ndarray:
    """[n] True where an incident opened or stayed open: the rows our alerts flag."""
    return np.isin(streamed.state, (OPENED, ACTIVE))


def opened_mask(streamed: Streamed) -> np.ndarray:
    """[n] True where an incident opened."""
    return streamed.state == OPENED


# -- data ------------------------------------------------------------------------------


def sine_with_spike(
    n: int = 1000,
    *,
    period: float = 50.0,
    spike_at: int = 800,
    magnitude: float = 3.0,
    noise: float = 0.0,
    seed: int = SEED,
) -> np.ndarray:
    """A sine of amplitude 1 with one spike of `magnitude` at `spike_at`.

    >>> x = sine_with_spike(100, spike_at=60); int(np.argmax(x))
    60
    """
    values = trend_seasonal(n, period=period, noise=noise, seed=seed)
    inject(values, "spike", spike_at, 1, magnitude)
    return values


def tabular(
    *,
    n_train: int = 1000,
    n_normal: int = 1000,
    n_anomalies: int = 20,
    dims: int = 10,
    shift: float = 3.0,
    scale: float = 2.0,
    seed: int = SEED,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standard-normal training rows; a test set of normal rows and rows drawn from
    N(shift, scale²) in every dimension, shuffled. Returns (train, test, is_anomaly).

    >>> train, test, y = tabular(n_train=5, n_normal=4, n_anomalies=2, dims=3)
    >>> train.shape, test.shape, int(y.sum())
    ((5, 3), (6, 3), 2)
    """
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(n_train, dims))
    normal = rng.normal(size=(n_normal, dims))
    odd = rng.normal(shift, scale, size=(n_anomalies, dims))
    test = np.concatenate([normal, odd])
    labels = np.r_[np.zeros(n_normal, bool), np.ones(n_anomalies, bool)]
    order = rng.permutation(len(test))
    return train, test[order], labels[order]


SEASONAL_EVENTS: tuple[tuple[AnomalyKind, float, int, float], ...] = (
    # (kind, position as a share of the series, length, magnitude in units of the amplitude)
    ("spike", 0.58, 1, 3.0),
    ("dip", 0.66, 2, 3.0),
    ("flat", 0.74, 20, 0.0),
    ("spike", 0.84, 2, 2.5),
    ("dip", 0.92, 1, 2.5),
)
"""Five anomalies, all in the second half: spikes, dips and a stuck (flat) stretch."""


def seasonal_with_anomalies(
    n: int = 1000,
    *,
    period: float = 50.0,
    trend: float = 0.001,
    noise: float = 0.1,
    seed: int = SEED,
) -> tuple[np.ndarray, list[Injected]]:
    """Trend + seasonality (amplitude 1) + Gaussian noise, with `SEASONAL_EVENTS` injected.

    >>> values, events = seasonal_with_anomalies(200)
    >>> [e.kind for e in events]
    ['spike', 'dip', 'flat', 'spike', 'dip']
    """
    values = trend_seasonal(n, period=period, trend=trend, noise=noise, seed=seed)
    events = [
        inject(values, kind, int(at * n), length, magnitude)
        for kind, at, length, magnitude in SEASONAL_EVENTS
    ]
    return values, events


# -- metrics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PRF:
    """Per-point precision, recall and F1 of a boolean prediction."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int


def prf(predicted: np.ndarray, truth: np.ndarray) -> PRF:
    """Precision, recall and F1 of the positive class (0.0 where undefined).

    >>> prf(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool))
    PRF(precision=0.5, recall=0.5, f1=0.5, tp=1, fp=1, fn=1)
    """
    predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
    tp = int((predicted & truth).sum())
    fp = int((predicted & ~truth).sum())
    fn = int((~predicted & truth).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PRF(precision, recall, f1, tp, fp, fn)


def event_hits(
    flag_times: Sequence[float] | np.ndarray, events: Sequence[Injected], horizon: int
) -> list[bool]:
    """Whether each event was caught: some flag at a time in [start, end - 1 + horizon).

    `horizon` is the window length: a window ending up to `horizon - 1` points after
    the event's last row still contains it, so a flag there is about this event.

    >>> event_hits([5.0, 40.0], [Injected("spike", 3, 4), Injected("dip", 20, 22)], 4)
    [True, False]
    """
    times = np.asarray(flag_times, dtype=np.float64)
    return [bool(((times >= e.start) & (times < e.end - 1 + horizon)).any()) for e in events]


def influence(n: int, events: Sequence[Injected], window: int) -> np.ndarray:
    """[n] True at every point whose window (ending there) contains an injected row."""
    mask = np.zeros(n, dtype=bool)
    for e in events:
        mask[e.start : min(n, e.end - 1 + window)] = True
    return mask


def truth_mask(n: int, events: Sequence[Injected]) -> np.ndarray:
    """[n] True on the injected rows themselves."""
    mask = np.zeros(n, dtype=bool)
    for e in events:
        mask[e.start : e.end] = True
    return mask


# -- baselines: the tutorials' autoencoders --------------------------------------------


class DenseAE(nn.Module):
    """A fully connected autoencoder, ReLU between layers, linear output.

    >>> DenseAE([10, 8, 4, 8, 10])(torch.zeros(2, 10)).shape
    torch.Size([2, 10])
    """

    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


class RecurrentAE(nn.Module):
    """The tutorials' Keras model: RNN(hidden) -> RepeatVector -> RNN(hidden,
    return_sequences) -> TimeDistributed(Dense), with `cell` 'rnn' or 'lstm'.

    >>> RecurrentAE("rnn", 1, 8)(torch.zeros(2, 5, 1)).shape
    torch.Size([2, 5, 1])
    """

    def __init__(self, cell: str, channels: int, hidden: int) -> None:
        super().__init__()
        kind = {"rnn": nn.RNN, "lstm": nn.LSTM}[cell]
        self.encoder = kind(channels, hidden, batch_first=True)
        self.decoder = kind(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, state = self.encoder(x)
        h = state[0] if isinstance(state, tuple) else state
        steps = h[-1].unsqueeze(1).expand(-1, x.size(1), -1)
        decoded, _ = self.decoder(steps)
        out: torch.Tensor = self.head(decoded)
        return out


@contextlib.contextmanager
def seeded_torch(seed: int = SEED, threads: int = 1) -> Iterator[None]:
    """Seed torch privately and run on `threads` CPU threads, restoring both after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(previous)


def train_baseline(
    model: nn.Module,
    x: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = SEED,
) -> nn.Module:
    """Adam on the reconstruction MSE for a fixed number of epochs (the tutorials'
    `model.fit(x, x, epochs=..., shuffle=True)`); returns the model in eval mode."""
    data = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    rng = np.random.default_rng(seed)
    with seeded_torch(seed):
        # Re-initialise inside the seeded block so the weights depend on `seed` only.
        for module in model.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset) and module is not model:
                reset()
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        loss = nn.MSELoss()
        model.train()
        for _ in range(epochs):
            order = torch.from_numpy(rng.permutation(len(data)))
            for start in range(0, len(data), batch_size):
                batch = data[order[start : start + batch_size]]
                optimizer.zero_grad(set_to_none=True)
                loss(model(batch), batch).backward()
                optimizer.step()
    return model.eval()


def reconstruction_errors(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """Mean squared error per sample (all axes but the first), float64."""
    data = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    with seeded_torch(), torch.inference_mode():
        rebuilt = model(data)
    err = (rebuilt - data).square().reshape(len(data), -1).mean(dim=1)
    return err.double().numpy()


# -- output ----------------------------------------------------------------------------


def fmt(value: object) -> str:
    """Numbers as a table shows them.

    >>> fmt(0.71234), fmt(3), fmt(True), fmt(float("nan")), fmt(None)
    ('0.712', '3', 'yes', '-', '-')
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table under a title (which may span several lines).

    >>> print(table("T", ["a", "b"], [[1, 0.5]]))
    T
    a  b
    -  -----
    1  0.500
    """
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(parts: Sequence[str]) -> str:
        return "  ".join(p.ljust(w) for p, w in zip(parts, widths, strict=True)).rstrip()

    body = [line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)]
    return "\n".join([title, *body])


def segments(events: Sequence[Injected], lo: int, hi: int) -> list[tuple[int, int]]:
    """Split [lo, hi) at the midpoints between consecutive events: one stretch per
    event, holding the event and the normal points nearest to it.

    >>> segments([Injected("spike", 10, 11), Injected("dip", 30, 32)], 0, 50)
    [(0, 21), (21, 50)]
    """
    centres = [(e.start + e.end - 1) / 2 for e in events]
    cuts = [lo, *(math.ceil((a + b) / 2) for a, b in itertools.pairwise(centres)), hi]
    return list(itertools.pairwise(cuts))


def run_starts(flags: np.ndarray) -> np.ndarray:
    """Indices where a run of True begins.

    >>> run_starts(np.array([1, 1, 0, 1, 0, 1], bool)).tolist()
    [0, 3, 5]
    """
    flags = np.asarray(flags, bool)
    return np.flatnonzero(flags & ~np.r_[False, flags[:-1]])


def cli(
    run: Callable[[bool, Path], Mapping[str, Any]],
    doc: str | None,
    quick_help: str,
    default_out: Path | None = None,
) -> None:
    """The command line every scenario script shares: --quick and --out, then its table."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    where = f"default {default_out}" if default_out else "default: a temp dir"
    parser.add_argument("--out", type=Path, default=default_out, help=f"artifacts ({where})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(run(args.quick, args.out or Path(tmp))["table"])
