"""The quick sizes of benchmarks/chaos.py: one test per scenario, each asserting the
right value of every row (the table is in the failure message)."""

from pathlib import Path

import pytest

from stream_ae.runtime.broker import EmbeddedBroker

from .suite import QUICK, SCENARIOS, Context, run_scenario, table


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_chaos_scenario(
    scenario: str, broker: EmbeddedBroker, artifact: Path, tmp_path: Path
) -> None:
    rows, seconds = run_scenario(Context(broker, artifact, tmp_path, QUICK), scenario)
    assert rows, "a scenario measures something"
    failed = [r for r in rows if not r.ok]
    assert not failed, "\n" + table(rows, {scenario: seconds})
