"""Fit an autoencoder on raw windows and publish it as an artifact, scaler included."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stream_ae.core.channels import ErrorScales
from stream_ae.core.normalize import FLAT_RULE, Normalizer, fit_scaler, flat_in_fit
from stream_ae.core.stillness import run_profile
from stream_ae.model.artifact import write_artifact
from stream_ae.model.autoencoder import Autoencoder
from stream_ae.model.scorer import AutoencoderScorer
from stream_ae.model.training import TrainConfig, TrainResult, fit

log = logging.getLogger(__name__)

FIT_SCORES_KEPT = 2000
"""Most fit scores the manifest keeps per series (the default threshold history)."""


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
    fit_scores_kept: int = FIT_SCORES_KEPT,
) -> Path:
    """Fit on raw `[N, window, channels]` windows of `series` (each series' in time order);
    returns the artifact directory. Each series is scaled by the statistics of its newest
    `scale_on_newest` share of windows. The manifest keeps each series' scores on its
    newest `fit_scores_kept` windows, to start its threshold from."""
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
    warnings = [cap_warning(result, config)] if result.stopped_at_cap else []
    for warning in warnings:
        log.warning("%s", warning)
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
            "epoch_cap": config.epochs,
            "stopped_at_epoch_cap": result.stopped_at_cap,
            "warnings": warnings,
            **dict(lineage or {}),
        },
        validation={"train_loss": result.train_loss, "val_loss": result.val_loss},
        fit_scores=fit_scores(
            result.module, series, normalised, fit_scores_kept, config.threads, scales
        ),
        fit_runs=fit_runs(series, windows),
        error_scale=scales.to_manifest(channel_names),
    )


def measure_error_scales(
    module: Autoencoder, normalised: np.ndarray, limit: int = 20000, threads: int = 1
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


def cap_warning(result: TrainResult, config: TrainConfig) -> str:
    """The sentence that says a fit was cut short by its epoch cap."""
    history = result.history
    before = f" (from {history[-2][1]:.4g})" if len(history) > 1 else ""
    return (
        f"training stopped at the epoch cap ({config.epochs}) while the validation loss was "
        f"still improving: {result.val_loss:.4g} in the last epoch{before}; raise "
        "model.epochs for a better fit"
    )


def fit_runs(series: Sequence[str], windows: np.ndarray) -> dict[str, np.ndarray]:
    """Each series' runs of exact repeats in its raw fit windows (`run_profile`)."""
    rows: dict[str, list[int]] = {}
    for i, name in enumerate(series):
        rows.setdefault(name, []).append(i)
    return {name: run_profile(windows[np.asarray(r)]) for name, r in rows.items()}


def fit_scores(
    module: Autoencoder,
    series: Sequence[str],
    normalised: np.ndarray,
    kept: int,
    threads: int = 1,
    error_scales: ErrorScales | None = None,
) -> dict[str, list[float]]:
    """Each series' scores on its newest `kept` normalised windows, in time order, as the
    serving scorer computes them (float32 precision: thresholds need no more): with the
    model's `error_scales`, or the thresholds would start in other units than its scores."""
    rows: dict[str, list[int]] = {}
    for i, name in enumerate(series):
        rows.setdefault(name, []).append(i)
    if kept < 1 or not rows:
        return {}
    scorer = AutoencoderScorer(
        module,
        version="fit",
        window=normalised.shape[1],
        channels=normalised.shape[2],
        device="cpu",
        engine="eager",
        threads=threads,
        error_scales=error_scales,
    )
    picked = {name: r[-kept:] for name, r in rows.items()}
    order = np.concatenate([np.asarray(r, dtype=np.int64) for r in picked.values()])
    scores = scorer.score(normalised[order]).scores.astype(np.float32)
    out: dict[str, list[float]] = {}
    start = 0
    for name, r in picked.items():
        out[name] = [float(f"{x:.7g}") for x in scores[start : start + len(r)].tolist()]
        start += len(r)
    return out
