from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.image
import pytest

from stream_ae.core.records import Alert, AlertState, Severity
from stream_ae.errors import StreamAEError
from stream_ae.pictures.plant import pick_sensors, plot_sensors, series_arrays
from stream_ae.plant.simulate import Plant


def alert(series: str, ts: float, state: AlertState) -> Alert:
    return Alert("a", "i1", series, ts, 2.0, 1.0, Severity.MAJOR, state, "v1", "lstm-ae", ts)


def test_writes_a_readable_png(tmp_path: Path) -> None:
    plant = Plant(6, seed=0, clean_steps=100, rate=6.0)
    arrays = series_arrays(p for step in plant.points(900) for p in step)
    truth = plant.truth
    assert truth
    first = truth[0]
    alerts = [
        alert(first.series, first.start_ts + 120.0, AlertState.OPEN),
        alert(first.series, first.end_ts + 600.0, AlertState.RESOLVED),
    ]
    out = plot_sensors(
        arrays, alerts, truth, tmp_path / "sub" / "demo.png", sensors=3, channels=plant.channels
    )
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] > 500 and image.shape[1] > 1000
    assert image.std() > 0.01, "the picture should not be blank"


def test_sensors_with_incidents_come_first() -> None:
    plant = Plant(8, seed=1, clean_steps=10, rate=3.0)
    list(plant.points(400))
    with_incidents = {inc.series for inc in plant.truth}
    picked = pick_sensors(plant.series, plant.truth, 4)
    assert len(picked) == 4
    assert set(picked[: len(with_incidents)]) <= with_incidents


def test_nothing_to_plot_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no series to plot"):
        plot_sensors({}, [], [], tmp_path / "x.png")


def test_missing_matplotlib_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = series_arrays(p for step in Plant(1, seed=0).points(10) for p in step)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(StreamAEError, match=r"pip install 'stream-ae\[plots\]'"):
        plot_sensors(arrays, [], [], tmp_path / "x.png")
