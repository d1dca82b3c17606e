from pathlib import Path

import matplotlib.image
import pytest

from stream_ae.cli import main


def test_demo_runs_end_to_end_on_a_small_plant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["demo", "--out", str(tmp_path), "--sensors", "4", "--steps", "1900"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "broker listening on 127.0.0.1:" in printed
    assert "detector metrics on http://127.0.0.1:" in printed
    assert "7,600 points scored through Kafka" in printed
    # The closing table: one row per injected kind present, and the overall figures.
    assert "all " in printed and "precision" in printed and "median delay" in printed
    image = matplotlib.image.imread(tmp_path / "demo.png")
    assert image.shape[0] > 300 and image.shape[1] > 600
    assert any((tmp_path / "models").iterdir())
