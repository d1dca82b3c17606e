"""The NAB harness on a hand-made corpus: layout, causality, labels kept from detectors."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from stream_ae.bench import detectors
from stream_ae.bench.labelled import LabelledSeries, Output
from stream_ae.bench.nab import load_corpus
from stream_ae.bench.run_nab import run_nab, scoreboard, table
from stream_ae.errors import InputError


def corpus(root: Path, n: int = 400, jump_at: int = 300) -> Path:
    (root / "data" / "synthetic").mkdir(parents=True)
    values = np.sin(np.arange(n) / 5.0)
    values[jump_at:] += 8.0
    rows = [f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00,{v:.6f}" for i, v in enumerate(values)]
    (root / "data" / "synthetic" / "jump.csv").write_text(
        "timestamp,value\n" + "\n".join(rows) + "\n"
    )
    (root / "data" / "synthetic" / "calm.csv").write_text(
        "timestamp,value\n" + "\n".join(r.rsplit(",", 1)[0] + ",1.0" for r in rows) + "\n"
    )
    windows = {
        "synthetic/jump.csv": [["2024-01-01 04:55:00.000000", "2024-01-01 05:20:00.000000"]],
        "synthetic/calm.csv": [],
    }
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    return root


def test_labels_become_row_windows(tmp_path: Path) -> None:
    files = {f.name: f for f in load_corpus(corpus(tmp_path))}
    assert files["synthetic/jump.csv"].windows == [(295, 320)]
    assert files["synthetic/calm.csv"].windows == [] and files["synthetic/calm.csv"].probation == 60


def test_a_folder_without_labels_is_refused_with_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="give the folder that holds data/ and labels/"):
        list(load_corpus(tmp_path))


def test_results_are_written_in_nab_layout_and_scored(tmp_path: Path) -> None:
    seen: list[int] = []

    def spy(f: LabelledSeries, scratch: Path) -> Output:
        seen.append(len(f.ts))  # a detector gets rows, never the label column
        assert not hasattr(f, "label")
        return detectors.rolling_zscore(window=50)(f, scratch)

    out = tmp_path / "out"
    report = run_nab(corpus(tmp_path / "nab"), out, {"zscore": spy})
    assert seen == [400, 400]
    with (out / "zscore" / "synthetic" / "zscore_jump.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "label", "alert"]
    assert [r["label"] for r in rows[294:297]] == ["0", "1", "1"]
    assert rows[300]["alert"] == "1" and float(rows[300]["anomaly_score"]) > 0.99
    # The jump is caught 5 rows into its window and nothing else clears the threshold.
    assert report[0].continuous["standard"] > 90 and report[0].alerts["standard"] > 90
    assert json.loads((out / "scores.json").read_text())[0]["name"] == "zscore"


def test_detectors_are_handed_rows_without_the_labelled_windows(tmp_path: Path) -> None:
    given: list[LabelledSeries] = []

    def spy(f: LabelledSeries, scratch: Path) -> Output:
        given.append(f)
        return detectors.rolling_zscore(window=50)(f, scratch)

    report = run_nab(corpus(tmp_path / "nab"), tmp_path / "out", {"zscore": spy})
    assert [(f.name, f.windows, f.probation) for f in given] == [
        ("synthetic/calm.csv", [], 60),
        ("synthetic/jump.csv", [], 60),
    ]
    assert report[0].alerts["standard"] > 90  # scored against the windows all the same


def test_the_real_corpus_has_58_files_and_116_windows(nab_dir: Path) -> None:
    files = list(load_corpus(nab_dir))
    assert len(files) == 58 and sum(len(f.windows) for f in files) == 116
    assert sum(len(f.ts) for f in files) == 365_558
    assert sum(not f.windows for f in files) == 6


def test_our_rows_sit_among_the_published_scoreboard(nab_dir: Path) -> None:
    published = scoreboard(nab_dir / "SCORING.md")
    assert ("Numenta HTM", ["70.1", "63.1", "74.3"]) in published and len(published) == 13


def test_the_table_ranks_by_the_standard_profile(tmp_path: Path) -> None:
    report = run_nab(
        corpus(tmp_path / "nab"), tmp_path / "out", {"zscore": detectors.rolling_zscore(50)}
    )
    lines = table(
        report, [("perfect", ["100", "100", "100"]), ("null", ["0", "0", "0"])]
    ).splitlines()
    assert lines[2].startswith("perfect") and lines[-1].startswith("null")
    assert any(line.startswith("zscore alerts") for line in lines)


def test_stream_ae_fits_on_probation_and_scores_the_jump_top(tmp_path: Path) -> None:
    from stream_ae.settings import Settings

    settings = Settings.model_validate(
        {
            "window": {"length": 16},
            "model": {"hidden": 8, "latent": 4, "epochs": 6},
            "threshold": {"history": 200, "warmup": 30},
            "alerts": {"open_k": 1, "open_n": 1},
        }
    )
    (jump, _) = sorted(
        load_corpus(corpus(tmp_path / "nab")), key=lambda f: f.name != "synthetic/jump.csv"
    )
    result = detectors.stream_ae(settings)(jump, tmp_path / "scratch")
    assert (result.anomaly_score[:15] == 0).all()  # no full window yet
    assert result.alert[300] == 1 and result.alert[jump.probation : 300].sum() <= 2
    assert result.anomaly_score[300] > result.anomaly_score[jump.probation : 300].max()
    # Above 0.5 exactly where the policy paged: 0.5 reproduces its own alerts.
    assert ((result.anomaly_score > 0.5) == (result.alert == 1)).all()
    ranked = detectors.stream_ae(settings, score="rank")(jump, tmp_path / "scratch-rank")
    assert ranked.anomaly_score[300] == 1.0
    manifests = list((tmp_path / "scratch" / "models").glob("*/manifest.json"))
    assert len(manifests) == 1
    assert json.loads(manifests[0].read_text())["training"]["windows"] == jump.probation - 15


def test_bench_nab_prints_what_the_alerts_keep_of_the_score(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stream_ae.cli.main import main

    root = corpus(tmp_path / "nab")
    (root / "data" / "synthetic" / "skipped.csv").write_text(
        (root / "data" / "synthetic" / "calm.csv").read_text()
    )
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    windows["synthetic/skipped.csv"] = []
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    config = tmp_path / "small.toml"
    config.write_text(
        "[window]\nlength = 16\n[model]\nhidden = 8\nlatent = 4\nepochs = 6\n"
        "[threshold]\nhistory = 200\nwarmup = 30\n[alerts]\nopen_k = 1\nopen_n = 1\n"
    )
    out = tmp_path / "out"
    args = ["bench", "nab", str(root), "--out", str(out), "--config", str(config)]
    picked = ["--detectors", "stream-ae,rolling-zscore", "--files", "synthetic/[cj]*"]
    assert main([*args, *picked]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert sorted(p.name for p in (out / "rolling-zscore" / "synthetic").iterdir()) == [
        "rolling-zscore_calm.csv",
        "rolling-zscore_jump.csv",
    ]
    head = printed.index(next(line for line in printed if "point F1 own" in line))
    assert printed[head].split() == [
        "detector", "NAB", "own", "best", "point", "F1", "own", "best", "at", "score",
        "own/best", "event", "F1", "own", "best", "own/best",
    ]  # fmt: skip
    scores = {s["name"]: s for s in json.loads((out / "scores.json").read_text())}
    for row, name in zip(
        printed[head + 2 : head + 4], ("stream-ae", "rolling-zscore"), strict=True
    ):
        d = scores[name]["decision"]
        assert {k for k in d if k.startswith("point")} == {
            "point_f1_own", "point_f1_best", "point_f1_best_threshold", "point_f1_ratio"
        }  # fmt: skip
        assert d["point_f1_own"] > 0 and 0 < d["point_f1_best"] <= 1  # the jump is caught
        assert d["point_f1_ratio"] == pytest.approx(d["point_f1_own"] / d["point_f1_best"])
        assert d["event_f1_ratio"] == pytest.approx(d["event_f1_own"] / d["event_f1_best"])
        cells = row.split()
        assert cells[0] == name
        assert float(cells[1]) == pytest.approx(scores[name]["alerts"]["standard"], abs=0.05)
        assert float(cells[3]) == pytest.approx(d["point_f1_own"], abs=5e-4)
        assert float(cells[6]) == pytest.approx(d["point_f1_ratio"], abs=5e-3)
        assert float(cells[-1]) == pytest.approx(d["event_f1_ratio"], abs=5e-3)
