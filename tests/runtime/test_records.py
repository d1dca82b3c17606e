"""Records through every file path: a row judged on its own (window 1, the dense kind)
by `detect` on a CSV without a time column, `bench replay`, `retrain` and the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stream_ae import StreamDetector, fit_model
from stream_ae.cli.main import main
from stream_ae.core.records import AlertState
from stream_ae.lifecycle.registry import ModelRegistry
from stream_ae.model.artifact import read_manifest
from stream_ae.runtime.detect_job import run_detect
from stream_ae.settings import Settings

FIELDS = ("amount", "items", "minutes")
NORMAL = 900
OUTLIERS = (1000, 1100, 1150)
"""Rows far off the fields' joint shape, after the rows the model is fitted on."""
CONFIG = (
    "[window]\nlength = 1\n"
    "[model]\nhidden = 8\nepochs = 25\nfit_points = 900\n"
    "[threshold]\nhistory = 900\nwarmup = 300\n"
    "[alerts]\nopen_k = 1\nopen_n = 1\nresolve_after = 1\ncooldown = 0\n"
)


def records(n: int = 1200) -> np.ndarray:
    """Correlated fields of orders: items ~ amount / 10, minutes ~ 2 x items."""
    rng = np.random.default_rng(7)
    amount = rng.gamma(4.0, 10.0, n)
    items = amount / 10 + rng.normal(0, 0.3, n)
    minutes = 2 * items + rng.normal(0, 0.5, n)
    rows = np.column_stack([amount, items, minutes])
    for at in OUTLIERS:
        rows[at] = [rows[at, 0], rows[at, 1] + 12, rows[at, 2] - 15]  # few items, long
    return rows


def write_orders(path: Path, rows: np.ndarray, label: bool = False) -> Path:
    head = ",".join(FIELDS) + (",label" if label else "")
    lines = [head]
    for i, row in enumerate(rows):
        cells = [f"{v:.4f}" for v in row] + ([str(int(i in OUTLIERS))] if label else [])
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def settings(tmp_path: Path) -> Settings:
    config = tmp_path / "records.toml"
    config.write_text(CONFIG)
    from stream_ae.settings import load_settings

    return load_settings(config)


def opened_rows(alerts_file: Path) -> set[int]:
    alerts = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    return {int(a["ts"]) for a in alerts if a["state"] == "open"}


def test_detect_judges_each_row_of_a_csv_without_time_on_its_own(tmp_path: Path) -> None:
    path = write_orders(tmp_path / "orders.csv", records())
    summary = run_detect(path, settings(tmp_path), tmp_path / "out", echo_alerts=False)
    manifest = read_manifest(Path(summary.model_artifact))
    assert (manifest.kind, manifest.window, manifest.channel_names) == ("dense", 1, FIELDS)
    assert summary.scored_by.get("dense-ae", 0) == 1200 - NORMAL
    opened = opened_rows(Path(summary.outputs["alerts"]))
    assert set(OUTLIERS) <= opened
    assert len(opened - set(OUTLIERS)) <= 5  # a few borderline ones of ~300 normal rows


def test_bench_replay_takes_records_and_their_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_orders(tmp_path / "orders.csv", records(), label=True)
    config = tmp_path / "records.toml"
    config.write_text(CONFIG)
    out = tmp_path / "bench"
    args = ["bench", "replay", str(path), "--config", str(config), "--out", str(out)]
    assert main([*args, "--detectors", "stream-ae"]) == 0
    quality = json.loads((out / "quality.json").read_text())["stream-ae"]
    assert quality["caught"] == quality["events"] == len(OUTLIERS)


def test_retrain_from_a_file_publishes_a_dense_model(tmp_path: Path) -> None:
    registry = tmp_path / "models"
    config = tmp_path / "records.toml"
    config.write_text(
        # No window.channels: with no model serving, the file's columns are the channels.
        CONFIG.replace("[model]\n", f'[model]\nartifact_dir = "{registry}"\n')
        + "[retrain]\nmin_windows = 100\n"
    )
    data = write_orders(tmp_path / "orders.csv", records()[:NORMAL])
    assert main(["retrain", "--config", str(config), "--file", str(data), "--no-progress"]) == 0
    current = ModelRegistry(registry).current()
    assert current is not None
    manifest = read_manifest(registry / current)
    assert (manifest.kind, manifest.channel_names) == ("dense", FIELDS)


def test_the_python_api_fits_and_judges_records(tmp_path: Path) -> None:
    s = settings(tmp_path)
    rows = records()
    model = fit_model(rows[:NORMAL], channels=FIELDS, settings=s, out=tmp_path / "models")
    assert read_manifest(model).kind == "dense"
    detector = StreamDetector(model, settings=s)
    scores = detector.score(rows[NORMAL:], ts=np.arange(NORMAL, len(rows), dtype=float))
    assert len(scores.score) == len(rows) - NORMAL  # every record judged, none waits
    opened = {int(a.ts) for a in detector.alerts if a.state is AlertState.OPEN}
    assert set(OUTLIERS) <= opened


def test_retraining_a_served_dense_model_fits_the_dense_kind_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Images or other windows taken whole (window > 1, `model.kind = "dense"` chosen on
    purpose): a later retrain under "auto" must not swap in an LSTM."""
    registry = tmp_path / "models"
    base = (
        f'[window]\nlength = 3\nchannels = ["amount", "items", "minutes"]\n'
        f'[model]\nartifact_dir = "{registry}"\nhidden = 8\nepochs = 5\nKIND'
        "[retrain]\nmin_windows = 100\n"
    )
    config = tmp_path / "records.toml"
    data = write_orders(tmp_path / "orders.csv", records()[:NORMAL])
    retrain = ["retrain", "--config", str(config), "--file", str(data), "--no-progress"]
    config.write_text(base.replace("KIND", 'kind = "dense"\n'))
    assert main(retrain) == 0
    served = capsys.readouterr().out.split("candidate ", 1)[1].split()[0]
    config.write_text(base.replace("KIND", ""))
    assert main(retrain) == 0
    # The same data, seed and kind fit the same weights: a version name ends in their
    # hash, and an LSTM's would differ.
    candidate = capsys.readouterr().out.split("candidate ", 1)[1].split()[0]
    assert candidate.rsplit("-", 1)[1] == served.rsplit("-", 1)[1]
    assert read_manifest(registry / served).kind == "dense"
