"""Retraining compares models by their reconstruction error, whatever their error scales."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from stream_ae import wiring
from stream_ae.core.channels import ErrorScales
from stream_ae.core.records import WindowBatch
from stream_ae.lifecycle.retrain import holdout_figures
from stream_ae.model.artifact import write_artifact
from stream_ae.model.autoencoder import LSTMAutoencoder

from ..service.conftest import WINDOW, base_settings

CHANNELS = ("temp", "flag")


def batch(n: int, seed: int) -> WindowBatch:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None] + np.arange(WINDOW)[None, :]
    values = np.stack([np.sin(t / 4) + 0.1 * rng.standard_normal(t.shape), 0 * t], axis=2)
    return WindowBatch(
        ("p",) * n,
        t[:, -1].astype(np.float64),
        t.astype(np.float64),
        values.astype(np.float32),
        np.zeros((n, 2)),
        np.ones((n, 2)),
    )


def test_a_model_with_error_scales_is_judged_on_the_same_errors_as_one_without(
    tmp_path: Path,
) -> None:
    # The same weights published twice, with and without error scales: the score of one
    # is in units of its fit's errors, the other's plain squared error. Comparing those
    # p99s made every candidate look 10-100x worse than a model published before.
    settings = base_settings(tmp_path, "unused:1", "x")
    torch.manual_seed(0)
    module = LSTMAutoencoder(2, hidden=8, latent=4).eval()
    scaler = {"series": {"p": {"mean": [0.0, 0.0], "std": [1.0, 1.0]}}}
    scales = ErrorScales(np.array([0.02, 0.001]))
    common = {"root": tmp_path / "m", "window": WINDOW, "channel_names": CHANNELS, "scaler": scaler}
    old = write_artifact(module, version="old", **common)  # type: ignore[arg-type]
    new = write_artifact(
        module,
        version="new",
        error_scale=scales.to_manifest(CHANNELS),
        **common,  # type: ignore[arg-type]
    )
    train, holdout = batch(200, 0), batch(100, 1)
    figures = [
        holdout_figures(wiring.model_lane(settings, path, CHANNELS), train, holdout, settings)
        for path in (old, new)
    ]
    for key in ("p50", "p95", "p99"):
        assert figures[0][key] == figures[1][key]
    assert figures[1]["exceedance"] <= 0.1  # the verdicts still use the model's own score
