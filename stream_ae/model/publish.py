"""Fit an autoencoder on raw windows and publish it as an artifact, scaler included."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stream_ae.core.channels import ErrorScales
from stream_ae.core.normalize import FLAT_RULE, Normalizer, fit_scaler, flat_in_fit
from stream_ae.model.artifact import write_artifact
from stream_ae.model.autoencoder import LSTMAutoencoder
from stream_ae.model.scorer import AutoencoderScorer
from stream_ae.model.training import TrainConfig, fit


def normalise_for_training(
    series: Sequence[str], windows: np.ndarray, scaler: Mapping[str, Any]
) -> np.ndarray:
    """Scale each window by its own series' statistics, as the detector will."""
    names = list(dict.fromkeys(series))
    norm = Normalizer(windows.shape[-1], scaler["series"])
    for slot, name in enumerate(names):
        norm.assign(slot, name)
    slot_of = {name: i for i, name in enumerate(names)}
    slots = np.fromiter((slot_of[s] for s in series), dtype=np.int64, count=len(series))
    unused = np.zeros((len(windows), windows.shape[-1]))  # every series is known
    return norm.scale(slots, unused, unused).apply(windows)


def train_and_publish(
    series: Sequence[str],
    windows: np.ndarray,
    *,
    channel_names: Sequence[str],
    config: TrainConfig,
    root: Path,
    lineage: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    scale_on_newest: float = 1.0,
) -> Path:
    """Fit on raw `[N, window, channels]` windows of `series` (each series' in time order);
    returns the artifact directory. Each series is scaled by the statistics of its newest
    `scale_on_newest` share of windows."""
    if windows.ndim != 3 or len(series) != len(windows):
        raise ValueError(
            f"expected one series id per window and windows of rank 3; got {len(series)} "
            f"ids for windows of shape {list(windows.shape)}"
        )
    table = fit_scaler(series, windows, scale_on_newest)
    flat = windows.reshape(-1, windows.shape[-1]).astype(np.float64)
    scaler = {
        "global": {"mean": flat.mean(axis=0).tolist(), "std": flat.std(axis=0).tolist()},
        "series": table,
        "floored_channels": {
            name: [channel_names[c] for c in hit]
            for name, hit in flat_in_fit(series, windows, scale_on_newest).items()
        },
        "floor_rule": FLAT_RULE,
    }
    normalised = normalise_for_training(series, windows, scaler)
    result = fit(normalised, config, progress=progress)
    scales = measure_error_scales(result.module, normalised, config.max_windows, config.threads)
    return write_artifact(
        result.module,
        root=root,
        window=windows.shape[1],
        channel_names=channel_names,
        scaler=scaler,
        training={
            "windows": len(windows),
            "series": len(table),
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            **dict(lineage or {}),
        },
        validation={"train_loss": result.train_loss, "val_loss": result.val_loss},
        error_scale=scales.to_manifest(channel_names),
    )


def measure_error_scales(
    module: LSTMAutoencoder, normalised: np.ndarray, limit: int = 20000, threads: int = 1
) -> ErrorScales:
    """Each channel's typical error on (at most `limit`, evenly spread) fit windows."""
    rows = np.unique(np.linspace(0, len(normalised) - 1, min(limit, len(normalised))).astype(int))
    plain = AutoencoderScorer(
        module,
        "fit",
        normalised.shape[1],
        normalised.shape[2],
        device="cpu",
        engine="eager",
        threads=threads,
        error_scales=ErrorScales.unit(normalised.shape[2]),
    )
    per_channel = plain.score(normalised[rows]).channel_errors
    assert per_channel is not None  # the autoencoder always reports them
    return ErrorScales.fit(per_channel)
