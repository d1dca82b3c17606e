"""Where `detect` keeps its model, how it ends when its first fit fails, and its exit
status when it refused every row."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from stream_ae import wiring
from stream_ae.cli.main import ALL_REFUSED, main
from stream_ae.errors import StreamAEError
from stream_ae.runtime.detect_job import run_detect
from stream_ae.settings import Settings

from .conftest import sine_csv

SMALL = """\
[window]
length = 16
[model]
hidden = 8
latent = 4
epochs = 4
patience = 2
fit_after_windows = 150
[threshold]
history = 300
warmup = 100
[cold_start]
hst_window = 20
"""


def test_detect_keeps_its_model_with_its_outputs_not_in_the_service_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # where `stream-ae run` would look: ./models
    config = tmp_path / "small.toml"
    config.write_text(SMALL)
    out = tmp_path / "out"
    argv = ["detect", str(sine_csv(tmp_path / "p.csv")), "--config", str(config), "-q"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    assert not (tmp_path / "models").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert Path(summary["model_artifact"]).parent == out / "models"
    assert (Path(summary["model_artifact"]) / "model.pt").is_file()
    # Told otherwise, by a flag or by model.artifact_dir in the file, it goes there.
    assert main([*argv, "--out", str(tmp_path / "o2"), "--model-dir", "shared"]) == 0
    assert [p.name for p in (tmp_path / "shared").iterdir()] != []
    config.write_text(SMALL.replace("[model]\n", '[model]\nartifact_dir = "mine"\n'))
    assert main([*argv, "--out", str(tmp_path / "o3")]) == 0
    assert [p.name for p in (tmp_path / "mine").iterdir()] != []
    assert not (tmp_path / "models").exists()


def _run_in_thread(fn: Any) -> tuple[Any, BaseException | None]:
    """Run `fn`; the join limit only ends a test whose run would hang for ever."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive(), "detect hung after its first fit failed"
    return box.get("result"), box.get("error")


@pytest.mark.parametrize("fit_mode", ["wait", "background"])
def test_a_failed_first_fit_ends_detect_with_a_sentence_and_its_outputs(
    tmp_path: Path, small_settings: Settings, monkeypatch: pytest.MonkeyPatch, fit_mode: str
) -> None:
    def broken_fit(*args: Any, **kwargs: Any) -> Path:
        raise RuntimeError("out of memory while fitting")

    monkeypatch.setattr(wiring, "publish_fit", broken_fit)
    raw = small_settings.model_dump(mode="json")
    raw["cold_start"]["fit_mode"] = fit_mode
    settings = Settings.model_validate(raw)
    out = tmp_path / "out"
    csv = sine_csv(tmp_path / "p.csv", n=3000)
    _, error = _run_in_thread(lambda: run_detect(csv, settings, out, echo_alerts=False))
    assert isinstance(error, StreamAEError), error
    assert "first model fit failed" in str(error) and "out of memory" in str(error)
    assert str(out) in str(error)
    # The outputs so far are there, whole: the points scored before the failure.
    scored = (out / "scored.csv").read_text().splitlines()
    assert len(scored) > 150
    summary = json.loads((out / "summary.json").read_text())
    assert summary["points_scored"] == len(scored) - 1
    assert "out of memory" in summary["error"]


def test_detect_that_refused_every_row_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nan.csv"
    rows = [f"{1_700_000_000 + 60 * i},nan" for i in range(50)]
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    code = main(["detect", str(path), "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == ALL_REFUSED != 0
    err = capsys.readouterr().err
    assert "every one of the 50 rows was refused" in err and "rejects.jsonl" in err
    assert (tmp_path / "out" / "rejects.jsonl").read_text().count("\n") == 50
    assert code != 0


def test_detect_that_accepted_rows_exits_zero_however_many_lines_were_garbage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 20 points reach the detector (too few to fill a window: none is scored) and 30
    # lines are refused by the reader. Before the fix the reader's refusals were
    # compared with the points read, and the run exited 3, "every row refused".
    path = tmp_path / "mixed.jsonl"
    good = [f'{{"series": "s", "ts": {1_700_000_000 + 60 * i}, "value": 1.0}}' for i in range(20)]
    path.write_text("\n".join(good + ["{not json"] * 30) + "\n")
    code = main(["detect", str(path), "--out", str(tmp_path / "out"), "--no-progress"])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (summary["points_read"], sum(summary["rejected"].values())) == (20, 30)
    assert code == 0, capsys.readouterr().err
