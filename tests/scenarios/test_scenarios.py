"""The core claim of each tutorial scenario, on its --quick path (seeded, so repeatable)."""

from __future__ import annotations

import doctest
from pathlib import Path

import common
import digits_ranking
import matplotlib.image
import numpy as np
import seasonal_windows
import sine_spike
import tabular_4sigma


def test_common_helpers_do_what_their_examples_say() -> None:
    failed, tried = doctest.testmod(common)
    assert tried > 0
    assert failed == 0


def test_sine_spike_is_our_first_alert_exactly_at_its_time(tmp_path: Path) -> None:
    result = sine_spike.run(quick=True, out=tmp_path)
    ours = result["ours"]
    # No alert before the spike; the spike's own window opens the first (and only) one.
    assert ours["opened"] == [sine_spike.SPIKE_AT], ours["opened"]
    # The tutorial's own method points at a window that holds the spike.
    start, end = result["dense_clean"]["top"]
    assert start <= sine_spike.SPIKE_AT <= end
    assert "ours, 1-of-1" in result["table"]


def test_tabular_baseline_reproduces_the_tutorial_and_our_alerts_beat_it(tmp_path: Path) -> None:
    result = tabular_4sigma.run(quick=True, out=tmp_path)
    base, ours = result["baseline"], result["ours"]
    # Tutorial: every anomaly caught, a handful of normal rows above mean + 4σ (0.71).
    assert base.recall >= 0.95
    assert base.precision >= 0.5
    assert ours.recall >= 0.9
    assert ours.precision >= 0.5
    assert "tutorial (reported)" in result["table"]
    # A row a record (window 1, the dense kind), paged by our own alerts.
    dense = result["dense"]
    assert dense.f1 >= 0.95, dense
    assert dense.f1 > tabular_4sigma.REPORTED.f1


def test_seasonal_events_caught_with_few_false_positives(tmp_path: Path) -> None:
    result = seasonal_windows.run(quick=True, out=tmp_path)
    ours = result["ours"]
    assert sum(ours["hits"]) >= 4, ours["hits"]
    # q = 0.99 lets about 1% of normal scores through a warm threshold; allow twice that
    # for the shift from training to test data (trend, unseen noise).
    assert ours["fpr_clean"] <= 2 * (1 - seasonal_windows.QUANTILE)
    assert ours["false_alerts"] <= 1
    ours_rows = [
        line.split()[1] for line in result["table"].splitlines() if line.startswith("ours ")
    ]
    assert ours_rows == ["spike", "dip", "flat", "all"]


def test_digits_grids_are_written_and_our_dense_kind_ranks_best(tmp_path: Path) -> None:
    result = digits_ranking.run(quick=True, out=tmp_path)
    pngs = dict(result["all"]["png"])
    expected = matplotlib.image.imread(pngs.pop("dense_expected"))
    assert expected.shape == (416, 720, 4)  # figsize (9, 5.2) inches at 80 dpi, RGBA
    for png in pngs.values():
        image = matplotlib.image.imread(png)
        # figsize (6, 6.6) inches at 80 dpi, RGBA.
        assert image.shape == (528, 480, 4)
        assert float(image[..., :3].std()) > 0.05  # not a blank canvas
    one_class = result["one_class"]["ours"]
    assert one_class["other_share"] >= 0.8
    assert one_class["auc"] >= 0.95
    aucs = [result["one_class_sweep"][d]["ours"]["auc"] for d in range(10)]
    assert np.mean(aucs) >= 0.9, aucs
    # The dense kind ranks them at least as well as the tutorial's dense model.
    ours, tutorial = np.array(result["auc"]["dense"]), np.array(result["auc"]["tutorial"])
    assert ours.mean() >= tutorial.mean(), (ours, tutorial)
    assert ours.min() >= tutorial.min(), (ours, tutorial)
