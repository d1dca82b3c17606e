import csv
import json
import re
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from stream_ae.cli.main import main
from stream_ae.connectors.files import Columns, CsvPointReader
from stream_ae.errors import InputError
from stream_ae.model.artifact import load_artifact
from stream_ae.pictures.detection import plot_detection
from stream_ae.runtime.detect_job import run_detect
from stream_ae.settings import Settings

from .conftest import WINDOW, sine_csv

T0 = 1_700_000_000
VERSION = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")


def test_detect_writes_every_output_and_catches_the_spike(
    tmp_path: Path, small_settings: Settings
) -> None:
    path = sine_csv(tmp_path / "pump.csv")
    summary = run_detect(path, small_settings, tmp_path / "out", echo_alerts=False)

    assert summary.points_read == 600
    assert summary.points_scored == 600 - WINDOW + 1
    assert summary.rejected == {}
    assert summary.scored_by.get("lstm-ae", 0) > 0 and summary.scored_by.get("hst", 0) > 0
    assert summary.model_version != "online"
    assert load_artifact(Path(summary.model_artifact)).manifest.window == WINDOW

    alerts = [json.loads(line) for line in Path(summary.outputs["alerts"]).read_text().splitlines()]
    opened = [a for a in alerts if a["state"] == "open" and a["scorer"] == "lstm-ae"]
    spike = [a for a in opened if a["ts"] == T0 + 60 * 450]
    assert spike, f"no alert opened at the spike; opened at {[a['ts'] for a in opened]}"
    assert spike[0]["contributors"][0]["actual"] == pytest.approx(6.0, abs=1e-4)
    assert spike[0]["contributors"][0]["ts"] == T0 + 60 * 450

    with open(summary.outputs["scored"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == summary.points_scored
    assert set(rows[0]) == {
        "series",
        "timestamp",
        "value",
        "score",
        "threshold",
        "level",
        "alert_state",
        "scorer",
    }
    assert {r["alert_state"] for r in rows} >= {"", "open", "resolved"}
    # The graded level: above 0.5 exactly where the score is above the threshold.
    judged = [r for r in rows if r["level"]]
    assert judged and all(0.0 <= float(r["level"]) < 1.0 for r in judged)
    assert all(
        (float(r["level"]) > 0.5) == (float(r["score"]) > float(r["threshold"]))
        for r in judged
        if abs(float(r["score"]) / float(r["threshold"]) - 1.0) > 1e-4
    )
    saved = json.loads(Path(summary.outputs["summary"]).read_text())
    assert saved["alerts_opened"] == summary.alerts_opened >= 1


def test_bad_rows_are_reported_by_line_and_the_run_goes_on(
    tmp_path: Path, small_settings: Settings
) -> None:
    good = [f"{T0 + 60 * i},{i % 7}" for i in range(300)]
    lines = [
        "timestamp,value",
        *good[:3],
        f"{T0 + 180},hello",
        f"{T0 + 240},nan",
        f"{T0 + 100},1.0",
        f"{T0 + 120},2.0",
        "not-a-time,3.0",
        *good[5:],
    ]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    summary = run_detect(path, small_settings, tmp_path / "out", echo_alerts=False)
    rejects = [json.loads(x) for x in Path(summary.outputs["rejects"]).read_text().splitlines()]
    by_line = {r["source"]: r["reason"] for r in rejects}
    assert by_line == {
        "bad.csv:5": "malformed",
        "bad.csv:6": "non_finite",
        "bad.csv:7": "out_of_order",
        "bad.csv:8": "duplicate",
        "bad.csv:9": "malformed",
    }
    assert all(r["detail"] and r["raw"] for r in rejects)
    assert summary.points_scored == 298 - WINDOW + 1
    assert summary.rejected == {"malformed": 2, "non_finite": 1, "out_of_order": 1, "duplicate": 1}


def test_an_existing_model_is_used_from_the_first_window(
    tmp_path: Path, small_settings: Settings
) -> None:
    first = run_detect(
        sine_csv(tmp_path / "a.csv"), small_settings, tmp_path / "o1", echo_alerts=False
    )
    again = run_detect(
        sine_csv(tmp_path / "b.csv"),
        small_settings,
        tmp_path / "o2",
        artifact=Path(first.model_artifact),
        echo_alerts=False,
    )
    assert again.scored_by == {"lstm-ae": 600 - WINDOW + 1}
    assert again.model_version == first.model_version


def test_empty_file_and_unknown_column_are_clear_errors(
    tmp_path: Path, small_settings: Settings
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty\.csv"):
        run_detect(empty, small_settings, tmp_path / "out")
    header_only = tmp_path / "header.csv"
    header_only.write_text("timestamp,value\n")
    with pytest.raises(InputError, match="no data rows"):
        run_detect(header_only, small_settings, tmp_path / "out")
    with pytest.raises(InputError, match="value"):
        run_detect(
            sine_csv(tmp_path / "x.csv"),
            small_settings,
            tmp_path / "out",
            columns=Columns(value_columns=("pressure",)),
        )


def test_plot_is_a_readable_png(tmp_path: Path, small_settings: Settings) -> None:
    summary = run_detect(
        sine_csv(tmp_path / "pump.csv"), small_settings, tmp_path / "out", echo_alerts=False
    )
    png = plot_detection(
        Path(summary.outputs["scored"]),
        Path(summary.outputs["alerts"]),
        tmp_path / "p.png",
        title="test",
    )
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600


def test_cli_detect_and_check_config(
    tmp_path: Path,
    small_settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "stream-ae.toml"
    config.write_text(small_settings.summary())
    assert main(["check-config", "--config", str(config)]) == 0
    assert "[threshold]" in capsys.readouterr().out
    out = tmp_path / "cli-out"
    code = main(
        [
            "detect",
            str(sine_csv(tmp_path / "p.csv")),
            "--config",
            str(config),
            "--out",
            str(out),
            "--plot",
            str(tmp_path / "p.png"),
            "--no-progress",
        ]
    )
    printed = capsys.readouterr()
    assert code == 0
    assert "points          600 read" in printed.out
    assert "open" in printed.err  # alerts are echoed as they happen
    assert (out / "alerts.jsonl").is_file() and (tmp_path / "p.png").is_file()


def test_cli_errors_are_sentences_not_tracebacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[threshold]\nquantile = 1.5\n")
    assert main(["check-config", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "threshold.quantile" in err and "Traceback" not in err
    assert main(["detect", str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert "missing.csv" in err and "Traceback" not in err


def test_many_multichannel_series_from_one_file(tmp_path: Path, small_settings: Settings) -> None:
    lines = ["time,sensor,temp,vib"]
    for i in range(400):
        for k, sensor in enumerate(["pump-1", "pump-2", "fan-9"]):
            temp = 20 + k + np.sin(2 * np.pi * i / 25)
            vib = 0.5 * np.cos(2 * np.pi * i / 25)
            if sensor == "fan-9" and i == 350:
                vib += 5.0
            lines.append(f"{T0 + 60 * i},{sensor},{temp:.4f},{vib:.4f}")
    path = tmp_path / "plant.csv"
    path.write_text("\n".join(lines) + "\n")
    summary = run_detect(path, small_settings, tmp_path / "out", echo_alerts=False)
    assert summary.points_scored == 3 * (400 - WINDOW + 1)
    with open(summary.outputs["scored"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["series"] for r in rows} == {"pump-1", "pump-2", "fan-9"}
    assert list(rows[0])[2:4] == ["temp", "vib"]
    alerts = [json.loads(x) for x in Path(summary.outputs["alerts"]).read_text().splitlines()]
    fan = [a for a in alerts if a["series"] == "fan-9" and a["ts"] == T0 + 60 * 350]
    assert fan and fan[0]["contributors"][0]["channel"] == "vib"


def test_huge_values_and_a_far_future_time_are_refused_and_the_run_goes_on(
    tmp_path: Path, small_settings: Settings
) -> None:
    # Once the first model serves (after 150 windows), a value beyond float32 turned
    # its windows infinite and the scorer raised: a traceback instead of a summary.
    path = sine_csv(tmp_path / "pump.csv", spike_at=None)
    lines = path.read_text().splitlines()
    for row, value in ((400, "1e39"), (430, "1e300")):
        stamp = lines[row + 1].split(",")[0]
        lines[row + 1] = f"{stamp},{value}"
    lines[450 + 1] = f"{T0 + 10 * 365 * 86_400},0.5"
    path.write_text("\n".join(lines) + "\n")

    summary = run_detect(path, small_settings, tmp_path / "out", echo_alerts=False)

    assert summary.rejected == {"out_of_range": 2, "too_far_ahead": 1}
    assert summary.scored_by.get("lstm-ae", 0) > 0
    rejects = [json.loads(x) for x in Path(summary.outputs["rejects"]).read_text().splitlines()]
    assert sorted(r["source"] for r in rejects) == [f"pump.csv:{n}" for n in (402, 432, 452)]


def test_a_row_the_detector_refuses_carries_the_point_in_the_wire_format(
    tmp_path: Path, small_settings: Settings
) -> None:
    # The rejects file's raw is the refused input, in the documented point format.
    lines = ["timestamp,value", f"{T0},1.0", f"{T0 + 60},2.0", f"{T0 + 30},3.5"]
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    summary = run_detect(path, small_settings, tmp_path / "out", echo_alerts=False)
    (reject,) = [json.loads(x) for x in Path(summary.outputs["rejects"]).read_text().splitlines()]
    assert reject["reason"] == "out_of_order" and reject["source"] == "late.csv:4"
    assert json.loads(reject["raw"]) == {"series": "late", "ts": T0 + 30, "value": 3.5}


@pytest.mark.parametrize("fit", [{"fit_after_windows": 150}, {"fit_points": 120}])
def test_outputs_do_not_depend_on_how_the_file_is_read_in_chunks(
    tmp_path: Path, small_settings: Settings, monkeypatch: pytest.MonkeyPatch, fit: dict
) -> None:
    # Two series interleaved, with rows the reader refuses and rows the detector
    # refuses: micro-batches must end where reading point by point ends them, and each
    # refusal must come out where it would.
    rng = np.random.default_rng(3)
    lines = ["timestamp,series,value"]
    for i in range(500):
        for name in ("a", "b"):
            lines.append(f"{T0 + 60 * i},{name},{np.sin(i / 4) + 0.1 * rng.standard_normal():.5f}")
        if i % 37 == 5:
            lines.append(f"{T0 + 60 * i},a,not-a-number")  # the reader refuses it
        if i % 41 == 7:
            lines.append(f"{T0 + 60 * (i - 3)},b,0.5")  # the detector refuses it
    path = tmp_path / "two.csv"
    path.write_text("\n".join(lines) + "\n")
    cold = small_settings.cold_start.model_copy(update={"fit_mode": "wait"})
    by_chunks = CsvPointReader.chunks
    outputs = {}
    for rows in (10**9, 5, 64, 97):
        # The same fit twice in one second is the same version: one registry per run.
        model = small_settings.model.model_copy(
            update={**fit, "artifact_dir": tmp_path / f"models{rows}"}
        )
        settings = small_settings.model_copy(update={"model": model, "cold_start": cold})
        monkeypatch.setattr(
            CsvPointReader, "chunks", lambda self, _, rows=rows: by_chunks(self, rows)
        )
        summary = run_detect(path, settings, tmp_path / f"out{rows}", echo_alerts=False)
        outputs[rows] = {  # each run fits a model of its own, named by the time
            name: VERSION.sub("v", Path(summary.outputs[name]).read_text())
            for name in ("scored", "alerts", "rejects")
        }
    assert outputs[10**9]["rejects"].count("\n") > 20
    assert all(out == outputs[10**9] for out in outputs.values())
