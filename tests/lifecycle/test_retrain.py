"""`stream-ae retrain`: data in, incidents out, candidate judged, promoted only if better."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, tzinfo
from pathlib import Path

import numpy as np
import pytest

from stream_ae.cli.main import main
from stream_ae.connectors.labels import read_label_windows
from stream_ae.core.records import Point
from stream_ae.core.windows import WindowStore
from stream_ae.lifecycle.dataset import cut_windows, incidents, split_holdout, without_incidents
from stream_ae.lifecycle.registry import ModelRegistry
from stream_ae.lifecycle.retrain import RetrainError, run_retrain
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.runtime.prometheus import tool
from stream_ae.settings import Settings

from ..service.conftest import T0, base_settings, produce, produce_points, sine_points


def settings_for(
    tmp_path: Path, bootstrap: str = "unused:1", prefix: str = "x", **retrain: object
) -> Settings:
    raw = base_settings(tmp_path, bootstrap, prefix).model_dump()
    raw["retrain"] = {"min_windows": 100, "holdout_fraction": 0.25, **retrain}
    return Settings.model_validate(raw)


def write_csv(path: Path, values: np.ndarray) -> Path:
    lines = ["timestamp,value"] + [f"{T0 + 60 * i},{v:.5f}" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    return path


def wave(n: int, level: float = 0.0, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 0.05, n)
    return level + np.sin(2 * np.pi * np.arange(n) / 25) + noise


# -- the data --------------------------------------------------------------------------


def test_windows_leave_out_incidents_and_hold_out_the_newest() -> None:
    points = [Point(s, T0 + 60 * t, (float(t),)) for t in range(40) for s in ("a", "b")]
    windows = cut_windows(points, WindowStore(10, 1))
    assert len(windows) == 2 * 31
    spans = incidents(
        [
            {
                "series": "a",
                "incident_id": "i1",
                "state": "open",
                "opened_ts": T0 + 600,
                "ts": T0 + 600,
            },
            {
                "series": "a",
                "incident_id": "i1",
                "state": "resolved",
                "opened_ts": T0 + 600,
                "ts": T0 + 900,
            },
            {
                "series": "b",
                "incident_id": "i2",
                "state": "open",
                "opened_ts": T0 + 2100,
                "ts": T0 + 2100,
            },
        ]
    )
    assert spans == {"a": [(T0 + 600, T0 + 900)], "b": [(T0 + 2100, float("inf"))]}
    clean, dropped = without_incidents(windows, spans)
    # a: windows ending at steps 10..24 touch steps 10..15; b: every window ending at 35+.
    assert dropped == 15 + 5 and len(clean) == 62 - 20
    train, holdout = split_holdout(clean, 0.25)
    assert len(train) + len(holdout) == len(clean)
    for s in ("a", "b"):
        newest_train = max(t for t, x in zip(train.end_ts, train.series, strict=True) if x == s)
        oldest_held = min(t for t, x in zip(holdout.end_ts, holdout.series, strict=True) if x == s)
        assert newest_train < oldest_held


# -- from files ------------------------------------------------------------------------


def test_first_retrain_promotes_then_a_level_shift_is_learned_with_lineage(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    registry = ModelRegistry(settings.model.artifact_dir)
    before = write_csv(tmp_path / "pump.csv", wave(600))
    first = run_retrain(settings, files=[before], progress=False)
    assert first.promoted and first.parent is None and registry.current() == first.candidate

    after = write_csv(tmp_path / "pump.csv", wave(600, level=3.0, seed=1))
    second = run_retrain(settings, files=[after], progress=False)
    assert second.promoted, second.text()
    assert second.parent == first.candidate and registry.current() == second.candidate
    c, s = second.figures["candidate"], second.figures["serving"]
    assert c["p99"] < s["p99"]  # the old model has never seen this level
    manifest = registry.get(second.candidate).manifest
    assert manifest["training"]["parent"] == first.candidate
    assert manifest["training"]["source"] == str(after)
    assert manifest["validation"]["holdout"]["candidate"]["p99"] == c["p99"]
    assert not [p.name for p in registry.root.iterdir() if p.name.startswith(".staging")]


class _FrozenClock(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _FrozenClock:
        return cls(2026, 11, 23, 0, 10, 18, tzinfo=tz)


def test_the_same_model_retrained_in_the_same_second_is_kept_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A version is named by its second and its weights: the same data and seed
    # fitted twice within a second give one name, which must not fail the job.
    monkeypatch.setattr("stream_ae.model.artifact.datetime", _FrozenClock)
    settings = settings_for(tmp_path)
    registry = ModelRegistry(settings.model.artifact_dir)
    data = write_csv(tmp_path / "pump.csv", wave(600))
    first = run_retrain(settings, files=[data], progress=False)
    again = run_retrain(settings, files=[data], progress=False)
    assert again.promoted and again.candidate == first.candidate
    assert [v.name for v in registry.versions()] == [first.candidate]
    assert registry.current() == first.candidate

    # Another model under that name (fitted on other data elsewhere, copied in).
    (tmp_path / "other").mkdir()
    elsewhere = settings_for(tmp_path / "other")
    moved = run_retrain(elsewhere, files=[write_csv(tmp_path / "moved.csv", wave(600, level=3.0))])
    shutil.rmtree(registry.root / first.candidate)
    shutil.copytree(elsewhere.model.artifact_dir / moved.candidate, registry.root / first.candidate)
    with pytest.raises(RetrainError, match="already holds a different model"):
        run_retrain(settings, files=[data], progress=False)
    assert registry.current() == first.candidate
    assert not [p.name for p in registry.root.iterdir() if p.name.startswith(".staging")]


@pytest.mark.parametrize(("share", "level"), [(0.25, 3.0), (1.0, 1.0)])
def test_a_series_that_moved_is_scaled_by_its_newest_windows(
    tmp_path: Path, share: float, level: float
) -> None:
    moved = np.concatenate([wave(400), wave(400, level=3.0, seed=1)])
    settings = settings_for(tmp_path, scale_on_newest=share)
    result = run_retrain(settings, files=[write_csv(tmp_path / "pump.csv", moved)], progress=False)
    scaler = ModelRegistry(settings.model.artifact_dir).get(result.candidate).manifest["scaler"]
    ((mean,),) = [stats["mean"] for stats in scaler["series"].values()]
    # Training covers steps 0-603 (the newest quarter of windows is held out): its
    # newest quarter lies after the shift at 400; all of it averages 3 x 204 / 604.
    assert mean == pytest.approx(level, abs=0.35)


def test_labels_are_left_out_of_training_and_score_both_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    config = _toml(tmp_path, settings)
    data = write_csv(tmp_path / "pump.csv", wave(600))
    assert main(["retrain", "--config", str(config), "--file", str(data), "--no-progress"]) == 0
    spiky = wave(600, seed=2)
    spikes = [200, 470, 520, 570]  # one in training, three in the held-out newest quarter
    spiky[spikes] += 6.0
    data = write_csv(tmp_path / "pump.csv", spiky)
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "series,start,end\n" + "".join(f"pump,{T0 + 60 * t},{T0 + 60 * t}\n" for t in spikes)
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("series,start,end\npump,later,1\n")
    retrain = ["retrain", "--config", str(config), "--file", str(data), "--no-progress"]
    capsys.readouterr()

    assert main([*retrain, "--labels", str(bad)]) == 2
    assert "line 2: The timestamp 'later'" in capsys.readouterr().err
    assert len(ModelRegistry(settings.model.artifact_dir).versions()) == 1

    assert main([*retrain, "--labels", str(labels)]) == 0
    printed = capsys.readouterr().out
    assert "labelled F1" in printed and printed.count("recall") == 2

    result = run_retrain(settings, files=[data], labels=read_label_windows(labels), progress=False)
    assert result.figures["excluded_windows"] == 4 * 16  # every window that holds a spike
    assert result.figures["labelled_windows"] == 3 * 16
    for model in ("candidate", "serving"):
        f = result.figures[model]
        assert f["recall"] >= 0.75 and f["precision"] >= 0.75, f
        assert f["f1"] == pytest.approx(
            2 * f["precision"] * f["recall"] / (f["precision"] + f["recall"])
        )


def test_a_worse_candidate_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    data = write_csv(tmp_path / "pump.csv", wave(600))
    first = run_retrain(settings, files=[data], progress=False)
    strict = settings_for(tmp_path, max_error_ratio=0.01)  # nothing can be 100x better
    second = run_retrain(strict, files=[data], progress=False)
    assert not second.promoted and "> 0.01 x" in second.reason
    registry = ModelRegistry(settings.model.artifact_dir)
    assert registry.current() == first.candidate
    assert [v.name for v in registry.versions()] == [first.candidate]  # not even published


def test_too_little_data_is_a_sentence_and_changes_nothing(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, min_windows=5000)
    data = write_csv(tmp_path / "pump.csv", wave(300))
    with pytest.raises(RetrainError, match="only 214 clean training windows"):
        run_retrain(settings, files=[data], progress=False)
    assert ModelRegistry(settings.model.artifact_dir).versions() == []


# -- from the topic, with incidents left out and metrics pushed ---------------------------


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [tool("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://{address}/metrics", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    yield address
    proc.terminate()
    proc.wait(timeout=30)


def test_retrain_reads_the_topic_leaves_out_incidents_and_pushes_metrics(
    broker: EmbeddedBroker, pushgateway: str, tmp_path: Path
) -> None:
    p = f"r{time.monotonic_ns()}"
    settings = settings_for(tmp_path, broker.address, p, pushgateway=pushgateway)
    points = sine_points(["pump-1", "pump-2"], 400, spikes={"pump-2": 300})
    produce_points(broker.address, f"{p}.points", points)
    incident = [
        {
            "series": "pump-2",
            "incident_id": "i",
            "state": "open",
            "opened_ts": T0 + 60 * 300,
            "ts": T0 + 60 * 300,
        },
        {
            "series": "pump-2",
            "incident_id": "i",
            "state": "resolved",
            "opened_ts": T0 + 60 * 300,
            "ts": T0 + 60 * 310,
        },
    ]
    asyncio.run(
        produce(
            broker.address, f"{p}.alerts", [(b"pump-2", json.dumps(a).encode()) for a in incident]
        )
    )

    assert (
        main(
            [
                "retrain",
                "--since",
                "1h",
                "--no-progress",
                "--config",
                str(_toml(tmp_path, settings)),
            ]
        )
        == 0
    )
    registry = ModelRegistry(settings.model.artifact_dir)
    manifest = registry.get(registry.current() or "").manifest
    # Windows of 16 steps touching steps 300..310 of pump-2: ends 300..325.
    assert manifest["training"]["excluded_windows"] == 26
    assert (
        manifest["validation"]["holdout"]["train_windows"]
        + manifest["validation"]["holdout"]["holdout_windows"]
        == 2 * (400 - 15) - 26
    )
    pushed = urllib.request.urlopen(f"http://{pushgateway}/metrics").read().decode()
    assert 'stream_ae_retrain_promoted{instance="",job="stream-ae-retrain"} 1' in pushed
    assert (
        'stream_ae_retrain_windows{instance="",job="stream-ae-retrain",set="excluded"} 26' in pushed
    )


def _toml(tmp_path: Path, settings: Settings) -> Path:
    """The settings as a TOML file, for the command line."""
    path = tmp_path / "stream-ae.toml"
    path.write_text(settings.summary())
    return path


def test_the_topic_is_read_with_the_detectors_channels(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """One mislabelled first point must not make retraining drop a series' good points, as
    the detector (which knows its channels) does not drop them either."""
    from stream_ae.connectors.kafka_common import ensure_topics
    from stream_ae.lifecycle.retrain import _from_topics

    p = f"r{time.time_ns()}"
    settings = settings_for(tmp_path, broker.address, p)
    good = sine_points(["s"], 50, spikes={})
    wrong = json.dumps({"series": "s", "ts": T0 - 60, "values": {"temp": 1.0}}).encode()
    messages = [(b"s", wrong)] + [
        (b"s", json.dumps({"series": "s", "ts": q.ts, "value": q.values[0]}).encode()) for q in good
    ]
    k = settings.kafka
    asyncio.run(ensure_topics(k, [k.input_topic, k.alert_topic]))
    asyncio.run(produce(broker.address, f"{p}.points", messages))
    points, _ = asyncio.run(_from_topics(settings, 0.0, time.time() + 60, ("value",)))
    assert [q.ts for q in points] == [q.ts for q in good]


def test_the_topic_is_read_in_the_detectors_input_format(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """A detector fed by Telegraf retrains on the same lines it scored."""
    from stream_ae.connectors.kafka_common import ensure_topics
    from stream_ae.lifecycle.retrain import _from_topics

    p = f"r{time.time_ns()}"
    raw = settings_for(tmp_path, broker.address, p).model_dump()
    raw["kafka"] |= {"input_format": "influx", "series_from": "{id}"}
    settings = Settings.model_validate(raw)
    good = sine_points(["s"], 50, spikes={})
    lines = [f"pump,id=s value={q.values[0]} {int(q.ts * 1e9)}".encode() for q in good]
    k = settings.kafka
    asyncio.run(ensure_topics(k, [k.input_topic, k.alert_topic]))
    asyncio.run(produce(broker.address, f"{p}.points", [(b"s", line) for line in lines]))
    points, _ = asyncio.run(_from_topics(settings, 0.0, time.time() + 60, ("value",)))
    assert points == good
