"""Fit an autoencoder (an LSTM, or a dense one for records) to normalised windows,
reproducibly.

The retraining job calls `fit` beside the running detector, so the loop keeps
to itself: it seeds its own random streams (the caller's torch RNG state is
left as it was), runs on the thread count it was given and puts the caller's
back afterwards, and hands back an eager CPU module ready to be published.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from stream_ae.model.autoencoder import KINDS, Autoencoder, build_autoencoder
from stream_ae.model.manifest import is_positive_int
from stream_ae.model.scorer import resolve_device

MIN_WINDOWS = 8
"""Fewer windows than this leave no meaningful train/validation split."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one fit; the same config and data give the same weights."""

    kind: str = "lstm"
    """"lstm" (windows as sequences) or "dense" (each window one record, taken whole)."""
    hidden: int = 32
    latent: int | None = None
    """Width of the bottleneck code; None: `auto_latent` of the channel count (the LSTM),
    `dense_latent` of the window's values (the dense kind)."""
    layers: int = 1
    epochs: int = 30
    """Upper bound: early stopping usually ends the fit sooner."""
    batch_size: int = 128
    learning_rate: float = 1e-3
    patience: int = 4
    """Epochs without a better validation loss before the fit stops."""
    val_fraction: float = 0.2
    """Share of the windows held out (shuffled) to choose the best epoch."""
    seed: int = 0
    max_windows: int = 20000
    """More windows than this are subsampled evenly: fit time stays bounded."""
    threads: int = 1
    """torch CPU threads while fitting; one beat two on the 2-core machines measured."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"TrainConfig.kind must be one of {', '.join(KINDS)}, got {self.kind!r}."
            )
        for name in ("hidden", "latent", "layers", "epochs", "batch_size", "patience", "threads"):
            value = getattr(self, name)
            if name == "latent" and value is None:
                continue
            if not is_positive_int(value):
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {value!r}.")
        if not isinstance(self.max_windows, int) or self.max_windows < MIN_WINDOWS:
            raise ValueError(
                f"TrainConfig.max_windows must be an integer of at least {MIN_WINDOWS}, "
                f"got {self.max_windows!r}."
            )
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(
                f"TrainConfig.learning_rate must be a positive number, got {self.learning_rate!r}; "
                "1e-3 is a good start for Adam."
            )
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(
                f"TrainConfig.val_fraction must lie strictly between 0 and 1, "
                f"got {self.val_fraction!r}; 0.2 holds out a fifth of the windows."
            )


LATENT_RANGE = (4, 16)
"""The bottleneck `auto_latent` gives: as wide as the channels, within these bounds."""


def dense_latent(width: int) -> int:
    """The dense kind's bottleneck for records of `width` values when none is set: a
    third of them, at least 2 and at most 16; 1 for a record of one or two values, so
    the code is always narrower than the record. Unlike the LSTM's, the dense code sees
    the whole record at once, so a code as wide as the record could copy it through,
    outliers included.

    >>> dense_latent(1), dense_latent(2), dense_latent(3), dense_latent(10), dense_latent(64)
    (1, 1, 2, 3, 16)
    """
    return max(2, min(16, round(width / 3))) if width > 2 else 1


def auto_latent(channels: int) -> int:
    """The bottleneck for `channels` when none is set: one code unit per channel, at
    least 4 and at most 16.

    A wide code learns to rebuild what it never saw, faults included: on the demo
    plant (4 coupled channels) the score's best point F1 rose from 0.56 at 16 to 0.69
    at 4, and NAB (1 channel) moved from 57.9 to 59.2. With 25 or 55 channels of
    independent signals and flags 4 was too narrow (best F1 0.60 at 16, 0.52 at 4,
    one channel broken of 55), so wide inputs keep 16 (benchmarks/RESULTS.md).

    >>> auto_latent(1), auto_latent(4), auto_latent(9), auto_latent(55)
    (4, 4, 9, 16)
    """
    low, high = LATENT_RANGE
    return min(high, max(low, channels))


@dataclass(frozen=True)
class TrainResult:
    """What a fit produced: the best weights seen and how the fit went."""

    module: Autoencoder
    """The eager model with the best validation weights, on CPU, in eval mode."""
    train_loss: float
    """Mean training MSE in the best epoch."""
    val_loss: float
    """Validation MSE of the returned weights."""
    epochs_run: int
    best_epoch: int
    """1-based epoch whose weights were kept."""
    history: tuple[tuple[float, float], ...]
    """(train loss, validation loss) per epoch run."""
    n_windows: int
    """Windows used (train plus validation), after subsampling to max_windows."""
    stopped_at_cap: bool = False
    """The fit ran all `TrainConfig.epochs` and its last epoch still set a new best
    validation loss: more epochs would likely have helped."""


def fit(
    windows: np.ndarray,
    config: TrainConfig,
    progress: bool | None = None,
    device: str = "cpu",
) -> TrainResult:
    """Train an autoencoder on `[N, window, channels]` normalised float32 windows.

    Adam on the reconstruction MSE, a shuffled holdout for early stopping, and
    the best epoch's weights restored at the end. `progress=None` shows a tqdm
    bar only when stderr is a terminal, so batch jobs keep clean logs.
    `device` takes what `resolve_device` takes ('cpu', 'cuda:0', 'auto'); the
    returned module is on CPU whatever device trained it.
    """
    data = _checked_windows(windows)
    rng = np.random.default_rng(config.seed)
    data = _subsample(data, config.max_windows, rng)
    n = len(data)
    n_val = min(n - 1, max(1, round(n * config.val_fraction)))
    order = rng.permutation(n)
    target = resolve_device(device)  # a missing GPU is a sentence, not a torch trace
    train_x = torch.from_numpy(data[order[n_val:]]).to(target)
    val_x = torch.from_numpy(data[order[:n_val]]).to(target)
    show = sys.stderr.isatty() if progress is None else progress

    with _torch_threads(config.threads), _private_torch_rng(target, config.seed):
        if config.latent is not None:
            latent = config.latent
        elif config.kind == "dense":
            latent = dense_latent(data.shape[1] * data.shape[2])
        else:
            latent = auto_latent(data.shape[2])
        model = build_autoencoder(
            config.kind, data.shape[2], data.shape[1], config.hidden, latent, config.layers
        )
        model = model.to(target)
        loop = _Loop(model, config, rng)
        history: list[tuple[float, float]] = []
        best = (math.inf, math.inf, 0)  # (val loss, train loss, epoch)
        best_state = _cpu_copy(model.state_dict())
        stale = 0
        bar = tqdm(range(1, config.epochs + 1), desc="fit", unit="epoch", disable=not show)
        for epoch in bar:
            train_loss = loop.train_epoch(train_x)
            val_loss = loop.evaluate(val_x)
            if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
                raise ValueError(
                    f"Training diverged in epoch {epoch} (loss {train_loss}, {val_loss}); "
                    "lower TrainConfig.learning_rate or check that the windows are normalised."
                )
            history.append((train_loss, val_loss))
            bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_loss:.4g}")
            if val_loss < best[0]:
                best = (val_loss, train_loss, epoch)
                best_state = _cpu_copy(model.state_dict())
                stale = 0
            else:
                stale += 1
                if stale >= config.patience:
                    break
        bar.close()

    model = model.cpu()
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        module=model,
        train_loss=best[1],
        val_loss=best[0],
        epochs_run=len(history),
        best_epoch=best[2],
        history=tuple(history),
        n_windows=n,
        stopped_at_cap=len(history) == config.epochs and best[2] == len(history),
    )


class _Loop:
    """One model, one optimiser: the per-epoch steps, kept apart from the bookkeeping."""

    def __init__(self, model: nn.Module, config: TrainConfig, rng: np.random.Generator) -> None:
        self.model = model
        self.batch_size = config.batch_size
        self.rng = rng
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        self.loss = nn.MSELoss()

    def train_epoch(self, x: torch.Tensor) -> float:
        self.model.train()
        # Shuffle with the seeded numpy stream so the batch order is reproducible too.
        order = torch.from_numpy(self.rng.permutation(len(x))).to(x.device)
        total = 0.0
        for start in range(0, len(x), self.batch_size):
            batch = x[order[start : start + self.batch_size]]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss(self.model(batch), batch)
            loss.backward()
            self.optimizer.step()
            total += float(loss.item()) * len(batch)
        return total / len(x)

    def evaluate(self, x: torch.Tensor) -> float:
        self.model.eval()
        total = 0.0
        with torch.inference_mode():
            for start in range(0, len(x), self.batch_size):
                batch = x[start : start + self.batch_size]
                total += float(self.loss(self.model(batch), batch).item()) * len(batch)
        return total / len(x)


def _checked_windows(windows: np.ndarray) -> np.ndarray:
    if not isinstance(windows, np.ndarray):
        raise ValueError(
            f"windows must be a numpy array, got {type(windows).__name__}; "
            "stack them with np.stack(...)."
        )
    if windows.ndim != 3:
        raise ValueError(
            f"windows must have shape [n_windows, window, channels], got shape {windows.shape}; "
            "add a channel axis with windows[..., None] for single-channel series."
        )
    if windows.shape[1] < 1 or windows.shape[2] < 1:
        raise ValueError(
            f"windows must have at least one step and one channel, got shape {windows.shape}."
        )
    if len(windows) < MIN_WINDOWS:
        raise ValueError(
            f"Need at least {MIN_WINDOWS} windows to split into training and validation, "
            f"got {len(windows)}; collect more data before fitting."
        )
    data = np.ascontiguousarray(windows, dtype=np.float32)
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).any(axis=(1, 2)).sum())
        raise ValueError(
            f"{bad} of {len(data)} windows contain NaN or infinite values; "
            "drop or fill them (and check the scaler) before fitting."
        )
    return data


def _subsample(data: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    if len(data) <= limit:
        return data
    # One random window from each of `limit` equal strata: even coverage of the
    # whole data range (no recent-only or old-only fit) and still seeded.
    bounds = np.linspace(0, len(data), limit + 1).astype(np.int64)
    picks = bounds[:-1] + rng.integers(0, np.diff(bounds))
    return data[picks]


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in state.items()}


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def _private_torch_rng(device: torch.device, seed: int) -> Iterator[None]:
    # fork_rng saves and restores the global generators, so seeding here does not
    # change the random numbers the rest of the process sees.
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type):
        torch.manual_seed(seed)
        yield
