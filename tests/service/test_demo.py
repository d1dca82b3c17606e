from pathlib import Path

import matplotlib.image
import pytest

from stream_ae.cli import main


def test_demo_runs_end_to_end_on_a_small_plant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo's settings take the environment like every command's; a short fit is
    # enough for what this checks (the path through Kafka and the table's shape).
    monkeypatch.setenv("STREAM_AE_MODEL__EPOCHS", "15")
    code = main(["demo", "--out", str(tmp_path), "--sensors", "4", "--steps", "1900"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "broker listening on 127.0.0.1:" in printed
    assert "detector metrics on http://127.0.0.1:" in printed
    assert "7,600 points scored through Kafka" in printed
    assert "of 4 units (flow, pressure, temperature, vibration)" in printed
    # The closing table: one row per injected kind present, and the overall figures,
    # with how much of each fault an alert covered.
    assert "all " in printed and "precision" in printed and "median delay" in printed
    header = next(line for line in printed.splitlines() if line.startswith("kind "))
    assert header.split()[-3:] == ["point", "recall", "open/length"]
    overall = next(line for line in printed.splitlines() if line.startswith("all "))
    assert all(0.0 <= float(cell) <= 1.0 for cell in overall.split()[-2:])
    image = matplotlib.image.imread(tmp_path / "demo.png")
    assert image.shape[0] > 300 and image.shape[1] > 600
    assert any((tmp_path / "models").iterdir())
