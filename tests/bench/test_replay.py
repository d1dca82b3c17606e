"""Generic replay: a user's labelled file read, replayed and judged per point and event."""

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest

from stream_ae.bench.labelled import LabelledSeries, Output, flagged, windows_of_flags
from stream_ae.bench.quality import judge
from stream_ae.bench.recording import load_recording
from stream_ae.cli.main import main
from stream_ae.connectors.labels import LabelError

HOUR = 3600.0


def labelled_csv(path: Path, rows: list[str], header: str = "timestamp,series,value,label") -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_a_label_column_becomes_windows_and_bad_rows_are_counted_not_scored(
    tmp_path: Path,
) -> None:
    rows = [f"{1_700_000_000 + 60 * i},a,{i},{int(i in (3, 4, 7))}" for i in range(10)]
    rows += ["1700000000,b,1.0,0", "1700000060,b,oops,0", "1699999990,b,2.0,1"]
    rows.append(rows[2])  # a repeated time: out of order
    got = load_recording(labelled_csv(tmp_path / "plant.csv", rows))
    assert got.series["a"].windows == [(3, 4), (7, 7)] and len(got.series["a"].ts) == 10
    assert got.series["b"].windows == [] and len(got.series["b"].ts) == 1
    assert (got.refused, got.out_of_order) == (1, 2)  # "oops"; a step back; the repeat
    assert got.channels == 1 and got.series["a"].values.ndim == 1


def test_a_label_cell_that_is_not_zero_or_one_stops_the_replay_naming_its_line(
    tmp_path: Path,
) -> None:
    rows = [f"{1_700_000_000 + i},a,1.0,{'maybe' if i == 4 else 0}" for i in range(6)]
    with pytest.raises(LabelError, match=r"line 6: 'maybe'"):
        load_recording(labelled_csv(tmp_path / "x.csv", rows))


def test_an_is_anomaly_column_in_a_semicolon_file_is_found_as_the_labels(
    tmp_path: Path,
) -> None:
    rows = [f"{1_700_000_000 + 60 * i};{i},5;{int(i in (3, 4))}" for i in range(8)]
    got = load_recording(labelled_csv(tmp_path / "u.csv", rows, "timestamp;value;is_anomaly"))
    assert got.series["u"].windows == [(3, 4)] and got.channels == 1
    assert got.series["u"].values[1] == 1.5  # the decimal comma read


def test_labels_are_asked_for_where_the_file_has_none(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("timestamp,value\n1,1.0\n2,2.0\n")
    with pytest.raises(LabelError, match=r"--label-column NAME.*--labels"):
        load_recording(plain)
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"series": "a", "ts": 1, "value": 1.0}\n')
    with pytest.raises(LabelError, match="JSONL: give its anomaly windows"):
        load_recording(jsonl)


def test_a_windows_file_labels_series_by_time_and_unknown_series_are_refused(
    tmp_path: Path,
) -> None:
    data = tmp_path / "p.jsonl"
    data.write_text(
        "".join(
            f'{{"series": "pump", "ts": {1_700_000_000 + 60 * i}, "value": {i}}}\n'
            for i in range(20)
        )
    )
    windows = tmp_path / "w.csv"
    windows.write_text("series,start,end\npump,1700000300,1700000420\n")
    assert load_recording(data, labels=windows).series["pump"].windows == [(5, 7)]
    windows.write_text("series,start,end\npump,1700000300,1700000420\nvalve,1,2\n")
    with pytest.raises(
        LabelError, match=r"labels series the data lacks: valve; series in p\.jsonl: pump"
    ):
        load_recording(data, labels=windows)


def series_of(n: int, windows: list[tuple[int, int]], step_s: float = HOUR) -> LabelledSeries:
    return LabelledSeries("s", Path("s.csv"), np.arange(n) * step_s, np.zeros(n), windows)


def test_quality_per_point_per_event_delay_and_alerts_per_day() -> None:
    s = series_of(400, [(100, 109), (200, 200), (300, 309)])  # probation 60 rows
    raised = np.zeros(400, dtype=bool)
    raised[105:112] = True  # 5 rows in the first window, 2 after it
    raised[203:205] = True  # a one-row event, caught 3 rows late (within tolerance 5)
    raised[250:252] = True  # a false page
    raised[30:40] = True  # inside probation: never judged
    q = judge([(s, flagged(raised.astype(float), raised))], tolerance=5)
    assert (q.point_tp, q.point_fp, q.point_fn) == (5, 2 + 2 + 2, 5 + 1 + 10)
    assert (q.events, q.caught, q.alerts, q.true_alerts) == (3, 2, 3, 2)
    assert q.delays_s == [5 * HOUR, 3 * HOUR]
    assert q.event_precision == pytest.approx(2 / 3) and q.event_recall == pytest.approx(2 / 3)
    assert q.alerts_per_day == pytest.approx(3 / (339 / 24))
    assert q.false_alerts_per_day == pytest.approx(1 / (339 / 24))


def test_a_perfect_detector_scores_100_and_a_silent_one_has_no_precision() -> None:
    s = series_of(400, [(100, 109), (300, 309)])
    perfect = np.zeros(400, dtype=bool)
    for lo, hi in s.windows:
        perfect[lo : hi + 1] = True
    q = judge([(s, flagged(perfect.astype(float), perfect))], tolerance=0)
    assert q.point_f1 == 1.0 and q.event_f1 == 1.0
    assert q.nab_alerts["standard"] == pytest.approx(100.0)
    silent = judge([(s, flagged(np.zeros(400), np.zeros(400)))], tolerance=0)
    assert math.isnan(silent.event_precision) and silent.event_recall == 0.0
    assert silent.nab_alerts["standard"] == pytest.approx(0.0)


def test_without_labelled_windows_the_nab_score_is_left_out() -> None:
    s = series_of(200, [])
    q = judge([(s, Output(np.zeros(200), np.zeros(200), np.zeros(200)))], tolerance=0)
    assert q.events == 0 and q.nab_alerts == {} and math.isnan(q.event_recall)


def test_runs_of_ones_are_windows() -> None:
    assert windows_of_flags(np.array([1, 1, 0, 0, 1, 0, 1])) == [(0, 1), (4, 4), (6, 6)]


def plant(path: Path, spike_at: int = 700, n: int = 900) -> Path:
    """Two sensors one minute apart; a +6 spike of 3 rows on pump-a, labelled."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(n):
        for name in ("pump-a", "pump-b"):
            v = np.sin(i / 6.0) + rng.normal(0, 0.05)
            spiked = name == "pump-a" and spike_at <= i < spike_at + 3
            rows.append(f"{1_700_000_000 + 60 * i},{name},{v + 6 * spiked:.4f},{int(spiked)}")
    return labelled_csv(path, rows)


def test_replay_runs_stream_ae_and_a_baseline_and_judges_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "small.toml"
    config.write_text(
        "[window]\nlength = 16\n[model]\nhidden = 8\nlatent = 4\nepochs = 6\n"
        "[threshold]\nhistory = 300\nwarmup = 50\n"
    )
    out = tmp_path / "out"
    args = ["bench", "replay", str(plant(tmp_path / "plant.csv")), "--out", str(out)]
    assert main([*args, "--config", str(config), "--detectors", "stream-ae,rolling-zscore"]) == 0
    printed = capsys.readouterr().out
    assert "2 series, 1,800 rows, 1 labelled windows" in printed
    quality = json.loads((out / "quality.json").read_text())
    assert set(quality) == {"stream-ae", "rolling-zscore"}
    ours = quality["stream-ae"]
    assert ours["caught"] == 1 and ours["events"] == 1 and ours["alerts"] >= 1
    assert ours["delays_s"][0] <= 5 * 60  # within a few rows of the spike
    # What the decision keeps of the score: own point F1, the best at one threshold, the ratio.
    head = next(line for line in printed.splitlines() if line.startswith("detector"))
    assert head.split()[:7] == ["detector", "point", "P", "R", "F1", "best", "F1"]
    assert "own/best" in head and "NAB own" in head
    for name, got in quality.items():
        assert got["point_f1_own"] == got["point_f1"] and 0 < got["point_f1_best"] <= 1
        assert got["point_f1_ratio"] == pytest.approx(got["point_f1"] / got["point_f1_best"])
        assert 0 < got["event_f1_best"] <= 1 and got["event_f1_best_threshold"] <= 1
        row = next(line for line in printed.splitlines() if line.startswith(name))
        assert f"{got['point_f1_best']:.2f} {got['point_f1_ratio']:8.2f}" in row
    header = (out / "stream-ae.csv").read_text().splitlines()[0]
    assert header == "series,timestamp,anomaly_score,label,alert,in_incident"
    assert len((out / "stream-ae.csv").read_text().splitlines()) == 1 + 1800


def test_replayers_are_handed_the_rows_without_the_labels(tmp_path: Path) -> None:
    from stream_ae.bench.detectors import rolling_zscore
    from stream_ae.bench.run_replay import per_series, run_replay

    given: list[LabelledSeries] = []

    def spy(s: LabelledSeries, scratch: Path) -> Output:
        given.append(s)
        return rolling_zscore(window=50)(s, scratch)

    recording = load_recording(plant(tmp_path / "plant.csv"))
    report = run_replay(recording, tmp_path / "out", {"zscore": per_series(spy)}, tolerance=5)
    assert [(s.name, s.windows) for s in given] == [("pump-a", []), ("pump-b", [])]
    assert report["zscore"][0].events == 1  # judged against the labels all the same


def test_baselines_refuse_several_channels_and_unknown_detectors_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [f"{1_700_000_000 + i},{i},{2 * i},0" for i in range(50)]
    data = str(labelled_csv(tmp_path / "two.csv", rows, header="timestamp,a,b,label"))
    out = str(tmp_path / "out")
    assert main(["bench", "replay", data, "--detectors", "rolling-zscore", "--out", out]) == 2
    assert "2 value channels; the baselines take one" in capsys.readouterr().err
    assert main(["bench", "replay", data, "--detectors", "htm", "--out", out]) == 2
    assert "unknown detector(s) ['htm']" in capsys.readouterr().err
    picked = ["--detectors", "rolling-zscore", "--value-columns", "b", "--out", out]
    assert main(["bench", "replay", data, *picked]) == 0
    assert "1 series, 50 rows" in capsys.readouterr().out


def test_replay_fits_stream_ae_on_the_first_points_asked_for(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "small.toml"
    config.write_text(
        "[window]\nlength = 16\n[model]\nhidden = 8\nlatent = 4\nepochs = 3\n"
        "[threshold]\nhistory = 300\nwarmup = 50\n"
    )
    data = str(plant(tmp_path / "plant.csv"))
    args = ["bench", "replay", data, "--out", str(tmp_path / "out"), "--config", str(config)]
    with caplog.at_level(logging.INFO, logger="stream_ae.runtime.first_fit"):
        assert main([*args, "--detectors", "stream-ae", "--fit-points", "200"]) == 0
    # Two series, each one's first 200 points: 200 - 16 + 1 windows apiece.
    assert "fitting a first model on 370 windows of 2 series" in caplog.text
