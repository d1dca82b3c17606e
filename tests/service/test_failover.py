"""At least once, for real: detector processes killed with SIGKILL, a group of two."""

import asyncio
import json
import re
from pathlib import Path

from stream_ae import wiring
from stream_ae.core.records import Alert, Point
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.settings import Settings

from .conftest import (
    WINDOW,
    ServiceProcess,
    base_settings,
    consume_all,
    prefix,
    produce_points,
    sine_points,
    wait_for,
)

SERIES = [f"sensor-{i}" for i in range(6)]


def with_model(settings: Settings, artifact: Path) -> Settings:
    return settings.model_copy(
        update={"model": settings.model.model_copy(update={"artifact": artifact})}
    )


def scored(address: str, topic: str) -> set[tuple[str, float]]:
    messages = asyncio.run(consume_all(address, topic, idle_s=0.5))
    return {(b["series"], b["ts"]) for b in (json.loads(m.value) for m in messages)}


def scorable(points: list[Point]) -> set[tuple[str, float]]:
    """Every point that ends a full window of its series."""
    seen: dict[str, int] = {}
    out = set()
    for p in points:
        seen[p.series] = seen.get(p.series, 0) + 1
        if seen[p.series] >= WINDOW:
            out.add((p.series, p.ts))
    return out


def clean_run_alerts(settings: Settings, artifact: Path, points: list[Point]) -> dict[str, Alert]:
    detector = wiring.detector(settings, ("value",), artifact)
    return {a.alert_id: a for a in detector.process(points).alerts}


def test_sigkill_midstream_then_restart_loses_nothing(
    broker: EmbeddedBroker, artifact: Path, tmp_path: Path
) -> None:
    p = prefix()
    settings = with_model(base_settings(tmp_path, broker.address, p, max_batch_points=20), artifact)
    points = sine_points(SERIES, 700, spikes={"sensor-1": 300, "sensor-4": 620})
    a, b = len(points) * 4 // 10, len(points) * 7 // 10
    want = scorable(points)

    first = ServiceProcess(settings, tmp_path, "first")
    try:
        produce_points(broker.address, f"{p}.points", points[:a])
        wait_for(
            lambda: len(scored(broker.address, f"{p}.scores")) > a // 3,
            "the first detector to be scoring",
        )
        produce_points(broker.address, f"{p}.points", points[a:b])
        first.kill()  # while it works through the second part
    finally:
        first.close()
    produce_points(broker.address, f"{p}.points", points[b:])

    second = ServiceProcess(settings, tmp_path, "second")
    try:
        wait_for(lambda: scored(broker.address, f"{p}.scores") >= want, "every point scored")
        assert second.terminate() == 0
    finally:
        second.close()
    assert "re-reading offsets" in second.text()  # windows and thresholds rebuilt

    alerts = asyncio.run(consume_all(broker.address, f"{p}.alerts", idle_s=0.5))
    got = {json.loads(m.value)["alert_id"]: json.loads(m.value) for m in alerts}
    expected = clean_run_alerts(settings, artifact, points)
    assert expected, "the data should make the clean run alert"
    missing = sorted((a.series, a.ts, a.state.value) for k, a in expected.items() if k not in got)
    extra = sorted((a["series"], a["ts"], a["state"]) for k, a in got.items() if k not in expected)
    assert not missing, f"missing {missing[:10]}; extra {extra[:10]}"


def assigned(log: str) -> set[int]:
    """Partitions of the last assignment a detector logged."""
    found = re.findall(r"partitions assigned: (.*)", log)
    return {int(x.rsplit("/", 1)[1]) for x in found[-1].split(", ")} if found else set()


def test_two_detectors_split_partitions_and_one_takes_over(
    broker: EmbeddedBroker, artifact: Path, tmp_path: Path
) -> None:
    p = prefix()
    settings = with_model(base_settings(tmp_path, broker.address, p, max_batch_points=60), artifact)
    points = sine_points(SERIES, 600, spikes={})
    half = len(points) // 2
    a = ServiceProcess(settings, tmp_path, "a")
    b = ServiceProcess(settings, tmp_path, "b")
    try:

        def split() -> bool:
            mine, theirs = assigned(a.text()), assigned(b.text())
            return bool(mine) and bool(theirs) and mine | theirs == {0, 1, 2, 3}

        wait_for(split, "the two detectors to split the four partitions")
        assert not assigned(a.text()) & assigned(b.text())
        produce_points(broker.address, f"{p}.points", points[:half])
        wait_for(
            lambda: scored(broker.address, f"{p}.scores") >= scorable(points[:half]),
            "the first half scored by the pair",
        )
        a.kill()
        produce_points(broker.address, f"{p}.points", points[half:])
        wait_for(lambda: assigned(b.text()) == {0, 1, 2, 3}, "the survivor to take over")
        wait_for(
            lambda: scored(broker.address, f"{p}.scores") >= scorable(points),
            "every point scored after the takeover",
        )
        assert b.terminate() == 0
    finally:
        a.close()
        b.close()
