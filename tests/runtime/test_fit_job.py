"""`stream-ae fit` then `detect --model`: a model fitted on what the user calls normal
judges a test file from its first full window; `--fit-points` fits on exactly that."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from stream_ae.cli.main import main

WINDOW = 16
T0 = 1_700_000_000

CONFIG = f"""
[window]
length = {WINDOW}
[model]
hidden = 8
latent = 4
epochs = {{epochs}}
batch_size = 32
patience = 2
fit_after_windows = 150
[threshold]
history = 300
warmup = 100
quantile = 0.99
[alerts]
open_k = 1
open_n = 1
resolve_after = 3
cooldown = 5
[cold_start]
hst_window = 20
[files]
batch_points = 64
"""


def recording(path: Path, n: int, spike_at: int | None = None, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    values = np.sin(2 * np.pi * np.arange(n) / 25) + 0.05 * rng.normal(size=n)
    if spike_at is not None:
        values[spike_at] += 6.0
    rows = "".join(f"{T0 + 60 * i},{v:.5f}\n" for i, v in enumerate(values))
    path.write_text("timestamp,value\n" + rows)
    return path


def config(tmp_path: Path, epochs: int = 4) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(CONFIG.format(epochs=epochs))
    return path


def scored_rows(out: Path) -> list[dict[str, str]]:
    with (out / "scored.csv").open() as f:
        return list(csv.DictReader(f))


def test_fit_then_detect_with_the_model_judges_from_the_first_full_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path)
    train = recording(tmp_path / "train.csv", 400)
    test = recording(tmp_path / "test.csv", 120, spike_at=WINDOW + 4, seed=1)
    model = tmp_path / "model"
    assert (
        main(["fit", str(train), "--series", "pump", "--config", str(cfg), "--out", str(model)])
        == 0
    )
    printed = capsys.readouterr().out
    assert "pump 385" in printed  # 400 points make 400 - 16 + 1 windows

    out = tmp_path / "out"
    argv = ["detect", str(test), "--series", "pump", "--config", str(cfg), "--model", str(model)]
    assert main([*argv, "--out", str(out), "-q"]) == 0
    rows = scored_rows(out)
    assert len(rows) == 120 - WINDOW + 1
    assert all(r["threshold"] != "" for r in rows)  # judged from the first window
    assert {r["scorer"] for r in rows} == {"lstm-ae"}  # no first fit, no cold start
    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    opened = [a["ts"] for a in alerts if a["state"] == "open"]
    assert T0 + 60 * (WINDOW + 4) in opened


def test_a_series_the_model_was_not_fitted_on_warms_up_and_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(tmp_path)
    model = tmp_path / "model"
    assert main(["fit", str(recording(tmp_path / "train.csv", 300)), "--config", str(cfg),
                 "--out", str(model), "--no-progress"]) == 0  # fmt: skip
    out = tmp_path / "out"
    test = recording(tmp_path / "test.csv", 60, seed=1)
    assert main(["detect", str(test), "--config", str(cfg), "--model", str(model),
                 "--out", str(out), "-q"]) == 0  # fmt: skip
    assert all(r["threshold"] == "" for r in scored_rows(out))  # warm-up 100 > 45 windows
    assert "1 series the model was not fitted on (test)" in caplog.text
    assert "fitted on train" in caplog.text


def test_a_fit_stopped_at_the_epoch_cap_still_improving_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, epochs=1)
    model = tmp_path / "model"
    train = recording(tmp_path / "train.csv", 200)
    assert main(["fit", str(train), "--config", str(cfg), "--out", str(model)]) == 0
    assert "STOPPED AT THE EPOCH CAP" in capsys.readouterr().out
    assert main(["model", "show", "--registry", str(model)]) == 0  # the current version
    shown = capsys.readouterr()
    assert "epoch cap (1)" in json.loads(shown.out)["warnings"][0]
    # Per-series tables are summarised, not dumped.
    runs = json.loads(shown.out)["manifest"]["fit_runs"]
    assert runs and all(v.startswith("runs of repeats over") for v in runs.values())
    assert "warning: training stopped at the epoch cap" in shown.err


def test_detect_fit_points_fits_on_exactly_the_first_n_points(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    data = recording(tmp_path / "data.csv", 400, spike_at=300)
    out = tmp_path / "out"
    argv = ["detect", str(data), "--config", str(cfg), "--out", str(out), "--fit-points", "100"]
    assert main([*argv, "-q", "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    manifest = json.loads((Path(summary["model_artifact"]) / "manifest.json").read_text())
    assert manifest["training"]["windows"] == 100 - WINDOW + 1
    assert len(manifest["fit_scores"]["data"]) == 100 - WINDOW + 1
    rows = scored_rows(out)
    first = next(i for i, r in enumerate(rows) if r["scorer"] == "lstm-ae")
    assert rows[first]["timestamp"] == rows[100 - WINDOW + 1]["timestamp"]  # the 101st point
    assert rows[first]["threshold"] != ""


def test_fit_share_flags_are_refused_beside_a_model_and_below_a_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path)
    data = recording(tmp_path / "data.csv", 100)
    assert main(["detect", str(data), "--config", str(cfg), "--fit-points", "10"]) == 2
    assert "at least 23 points" in capsys.readouterr().err
    argv = ["detect", str(data), "--config", str(cfg), "--model", str(tmp_path), "--fit-span", "2h"]
    assert main(argv) == 2
    assert "there is no first fit" in capsys.readouterr().err


def test_detect_fit_span_fits_on_the_span_and_the_model_judges_from_the_next_point(
    tmp_path: Path,
) -> None:
    cfg = config(tmp_path)
    data = recording(tmp_path / "data.csv", 400)
    out = tmp_path / "out"
    argv = ["detect", str(data), "--config", str(cfg), "--out", str(out), "--fit-span", "2h"]
    assert main([*argv, "-q", "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    manifest = json.loads((Path(summary["model_artifact"]) / "manifest.json").read_text())
    assert manifest["training"]["windows"] == 120 - WINDOW + 1  # points at 0..119 minutes
    rows = scored_rows(out)
    first = next(i for i, r in enumerate(rows) if r["scorer"] == "lstm-ae")
    assert first == 121 - WINDOW + 1  # the point at 120 min ended the share, unjudged
