"""Records through the embedded broker to a real `stream-ae run` serving the dense kind:
each message one record, judged on its own, and the outliers paged."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from stream_ae import fit_model
from stream_ae.model.artifact import read_manifest
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.settings import Settings

from ..runtime.test_records import FIELDS, NORMAL, OUTLIERS, records
from .conftest import ServiceProcess, base_settings, prefix, produce, read_to_end, scored_by

T0 = 1_700_000_000.0


def record_settings(tmp_path: Path, bootstrap: str, p: str, artifact: Path | None) -> Settings:
    raw = base_settings(tmp_path, bootstrap, p).model_dump(mode="json")
    raw["window"] |= {"length": 1, "channels": list(FIELDS)}
    raw["model"] |= {"epochs": 25, "latent": None}
    if artifact is not None:
        raw["model"]["artifact"] = str(artifact)
    raw["threshold"] |= {"history": 900, "warmup": 300}
    raw["alerts"] |= {"open_k": 1, "open_n": 1, "resolve_after": 1, "cooldown": 0}
    return Settings.model_validate(raw)


def test_stream_ae_run_pages_outlying_records_with_the_dense_kind(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    p = prefix()
    rows = records()
    fit = record_settings(tmp_path, broker.address, p, None)
    # Fitted on the series' own history: its threshold starts from the fit's scores.
    model = fit_model(
        rows[:NORMAL], series="orders", channels=FIELDS, settings=fit, out=tmp_path / "registry"
    )
    assert read_manifest(model).kind == "dense"
    messages = [
        (
            b"orders",
            json.dumps({"ts": T0 + i, "values": dict(zip(FIELDS, row, strict=True))}).encode(),
        )
        for i, row in enumerate(rows[NORMAL:].tolist(), start=NORMAL)
    ]
    asyncio.run(produce(broker.address, f"{p}.points", messages))
    proc = ServiceProcess(record_settings(tmp_path, broker.address, p, model), tmp_path, "records")
    scores = scored_by(proc, broker.address, f"{p}.scores", len(messages))
    assert len(scores) == len(messages)  # every record judged, from the first
    alerts = [json.loads(m.value) for m in asyncio.run(read_to_end(broker.address, f"{p}.alerts"))]
    opened = {int(a["ts"] - T0) for a in alerts if a["state"] == "open"}
    assert set(OUTLIERS) <= opened
    assert len(opened - set(OUTLIERS)) <= 5  # a few borderline ones of ~300 normal rows
    assert {a["scorer"] for a in alerts} == {"dense-ae"}
    # The alert names the fields that drove it, as for a window of a sequence.
    paged = [a for a in alerts if a["state"] == "open" and int(a["ts"] - T0) in OUTLIERS]
    assert all(a["channel"] in FIELDS and a["contributors"] for a in paged)
    assert {c["channel"] for a in paged for c in a["contributors"]} <= set(FIELDS)
