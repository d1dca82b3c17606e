"""`benchmarks/decision_layer.py compare` replays every candidate over a recording."""

import pickle
from pathlib import Path

import numpy as np
import pytest

from stream_ae.plant.simulate import Incident

from ..benchmark_modules import benchmark_module


@pytest.fixture(scope="module")
def decision_layer():  # type: ignore[no-untyped-def]
    with benchmark_module("decision_layer") as module:
        yield module


def test_compare_prints_one_row_per_candidate(
    decision_layer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    ts = np.arange(3000, dtype=np.float64)
    score = rng.gamma(2.0, 0.5, len(ts))
    score[2000:2400] += np.linspace(0.0, 20.0, 400)  # a fault that grows
    fault = Incident("u1", "valve_closing", 2000.0, 2399.0, ("flow",))
    recorded = decision_layer.Recorded(
        "u1",
        ts,
        score,
        rng.gamma(2.0, 0.5, 500),
        (ts >= 2000) & (ts <= 2399),
        # the raw values sent, the window before each scored row included
        {"faults": [fault], "values": rng.normal(size=(3031, 4)), "index": np.arange(31, 3031)},
    )
    path = tmp_path / "plant.pkl"
    path.write_bytes(pickle.dumps({"series": [recorded], "grace": 10.0, "days": 1.0}))

    decision_layer.compare([path])

    rows = capsys.readouterr().out.splitlines()
    assert [r.split("  ")[0].strip() for r in rows] == list(decision_layer.CANDIDATES)
    default = rows[0]
    assert "plant event F1 1.000" in default  # the fault paged, nothing else did
    assert "valve_closing" in default
    # once paged, the incident holds to the fault's end: what it misses is the onset
    assert "open share once open: valve_closing 1.00" in default
