"""A published fit keeps its scores on its own windows and says when it was cut short."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from stream_ae.model.artifact import MANIFEST_FILE, load_artifact, read_manifest
from stream_ae.model.manifest import Manifest
from stream_ae.model.publish import normalise_for_training, train_and_publish
from stream_ae.model.scorer import AutoencoderScorer
from stream_ae.model.training import TrainConfig

WINDOW = 8


def windows(series: str, n: int, phase: float = 0.0) -> np.ndarray:
    t = np.arange(n + WINDOW - 1) + phase
    values = np.sin(2 * np.pi * t / 13).astype(np.float32)
    return np.stack([values[i : i + WINDOW, None] for i in range(n)])


def publish(tmp_path: Path, epochs: int, kept: int = 2000) -> Path:
    a, b = windows("a", 40), windows("b", 30, phase=3.0)
    series = ["a"] * 40 + ["b"] * 30
    config = TrainConfig(hidden=4, latent=2, epochs=epochs, batch_size=16, patience=50)
    return train_and_publish(
        series,
        np.concatenate([a, b]),
        channel_names=("v",),
        config=config,
        root=tmp_path,
        progress=False,
        fit_scores_kept=kept,
    )


def test_the_manifest_keeps_each_series_newest_fit_scores_in_time_order(tmp_path: Path) -> None:
    path = publish(tmp_path, epochs=2, kept=25)
    loaded = load_artifact(path)
    kept = loaded.manifest.fit_scores
    assert sorted(kept) == ["a", "b"] and [len(kept["a"]), len(kept["b"])] == [25, 25]
    # They are what the served model scores on the same windows, newest 25 of each.
    raw = np.concatenate([windows("a", 40), windows("b", 30, phase=3.0)])
    series = ["a"] * 40 + ["b"] * 30
    normalised = normalise_for_training(series, raw, loaded.manifest.scaler)
    served = AutoencoderScorer.from_artifact(loaded, device="cpu")
    expected = served.score(normalised[15:40]).scores
    assert kept["a"] == pytest.approx(expected.tolist(), rel=1e-4)


def test_a_fit_that_ends_at_the_epoch_cap_still_improving_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="stream_ae.model.publish"):
        path = publish(tmp_path, epochs=1)
    training = read_manifest(path).training
    assert training["stopped_at_epoch_cap"] is True and training["epoch_cap"] == 1
    assert "epoch cap (1)" in training["warnings"][0]
    assert "raise model.epochs" in caplog.text


def test_an_old_manifest_without_fit_scores_still_loads(tmp_path: Path) -> None:
    path = publish(tmp_path, epochs=1)
    raw = json.loads((path / MANIFEST_FILE).read_text())
    del raw["fit_scores"]
    assert Manifest.from_dict(raw).fit_scores == {}
    raw["fit_scores"] = {"a": [1.0, float("nan")]}
    with pytest.raises(ValueError, match="fit_scores"):
        Manifest.from_dict(raw)


def test_the_manifest_keeps_each_series_runs_of_repeats_from_its_fit_windows(
    tmp_path: Path,
) -> None:
    path = publish(tmp_path, epochs=1)
    runs = load_artifact(path).manifest.fit_runs
    assert sorted(runs) == ["a", "b"]
    # A sine sampled 13 to a period never repeats a value: 40 steps, no run.
    assert np.asarray(runs["a"]).tolist() == [[40.0]] + [[0.0]] * (WINDOW - 1)


def test_an_old_manifest_without_fit_runs_still_loads_and_a_bad_one_is_refused(
    tmp_path: Path,
) -> None:
    raw = json.loads((publish(tmp_path, epochs=1) / MANIFEST_FILE).read_text())
    del raw["fit_runs"]
    assert Manifest.from_dict(raw).fit_runs == {}
    raw["fit_runs"] = {"a": [[1.0]] * (WINDOW - 1)}  # one row short of the window
    with pytest.raises(ValueError, match="fit_runs"):
        Manifest.from_dict(raw)
    raw["fit_runs"] = {"a": [[1.0]] * (WINDOW - 1) + [[-1.0]]}
    with pytest.raises(ValueError, match="fit_runs"):
        Manifest.from_dict(raw)
