"""Poison messages through a running detector: each becomes one dead letter with its
reason, and the detector scores on (issue 12, items 1, 2, 4 and 9)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import orjson

from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.runtime.service import DetectorService
from stream_ae.settings import Settings

from .conftest import T0, WINDOW, base_settings, consume_all, encode, prefix, produce, sine_points


def run_until(settings: Settings, artifact: Path, points: int) -> DetectorService:
    async def main() -> DetectorService:
        stop = asyncio.Event()
        service = DetectorService(settings, artifact=artifact)
        task = asyncio.create_task(service.run(stop))
        while service.stats.points < points and not task.done():
            await asyncio.sleep(0.2)
        stop.set()
        await task  # raises what the detector died of, if it died
        return service

    return asyncio.run(main())


def test_poison_messages_are_dead_lettered_and_the_detector_goes_on(
    broker: EmbeddedBroker, artifact: Path, tmp_path: Path
) -> None:
    p = prefix()
    settings = base_settings(tmp_path, broker.address, p)
    good = sine_points(["pump-1"], 120, spikes={})
    late = sine_points(["pump-2"], 2 * WINDOW, spikes={})
    poison: list[tuple[bytes | None, bytes, str]] = [
        (b"x", b'{"series":"\\ud800","ts":1700000000,"value":1}', "invalid_series"),
        (b"\xff", json.dumps({"ts": T0, "value": 1}).encode(), "invalid_series"),
        (b"x", json.dumps({"series": "x", "ts": T0, "value": 1e39}).encode(), "out_of_range"),
        (b"x", json.dumps({"series": "x", "ts": T0, "value": 1e300}).encode(), "out_of_range"),
        (b"x", b"[]", "empty"),
        # pump-2's first point is mislabelled: its correct points after it must count.
        (
            b"pump-2",
            json.dumps({"series": "pump-2", "ts": T0 - 60, "values": {"temp": 1}}).encode(),
            "wrong_channels",
        ),
    ]
    messages = [(x.series.encode(), encode(x)) for x in good[:60]]
    messages += [(k, v) for k, v, _ in poison]
    messages += [(x.series.encode(), encode(x)) for x in good[60:] + late]
    asyncio.run(produce(broker.address, f"{p}.points", messages))

    service = run_until(settings, artifact, len(good) + len(late))

    dead = [orjson.loads(m.value) for m in asyncio.run(consume_all(broker.address, f"{p}.dead"))]
    assert sorted(d["reason"] for d in dead) == sorted(r for *_, r in poison)
    assert service.stats.dead_letters == len(poison)
    wrong = next(d for d in dead if d["reason"] == "wrong_channels")
    assert "window.channels" in wrong["detail"] and '"temp"' in wrong["raw"]
    scores = [
        orjson.loads(m.value) for m in asyncio.run(consume_all(broker.address, f"{p}.scores"))
    ]
    by_series = {s: sum(1 for x in scores if x["series"] == s) for s in ("pump-1", "pump-2")}
    assert by_series == {"pump-1": len(good) - WINDOW + 1, "pump-2": len(late) - WINDOW + 1}


def test_a_point_the_detector_refuses_carries_itself_as_its_raw_input(
    broker: EmbeddedBroker, artifact: Path, tmp_path: Path
) -> None:
    # out_of_order and duplicate are decided by the detector, after decoding: their dead
    # letters must still carry the refused input, not an empty raw.
    p = prefix()
    settings = base_settings(tmp_path, broker.address, p)
    good = sine_points(["pump-1"], 40, spikes={})
    older, again = good[10], good[19]
    messages = [(x.series.encode(), encode(x)) for x in good[:20]]
    messages += [(b"pump-1", encode(older)), (b"pump-1", encode(again))]
    messages += [(x.series.encode(), encode(x)) for x in good[20:]]
    asyncio.run(produce(broker.address, f"{p}.points", messages))

    run_until(settings, artifact, len(good) + 2)

    dead = [orjson.loads(m.value) for m in asyncio.run(consume_all(broker.address, f"{p}.dead"))]
    by_reason = {d["reason"]: json.loads(d["raw"]) for d in dead}
    sent = {"out_of_order": older, "duplicate": again}
    assert by_reason == {r: json.loads(encode(x)) for r, x in sent.items()}
