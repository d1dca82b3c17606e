"""The quick sizes of benchmarks/chaos.py: one test per scenario, each asserting the
right value of every row (the table is in the failure message).

Two scenarios have a dedicated test that checks the same rows, more closely, so CI
does not run them twice: SIGKILLs during a backlog (tests/service/test_restarts.py: 10
kills, offsets read after each, re-scored points per restart) and the flood of series
ids (tests/service/test_memory.py: 300k ids, RSS sampled through the run). The
benchmark runs all ten."""

from pathlib import Path

import pytest

from stream_ae.runtime.broker import EmbeddedBroker

from .suite import QUICK, SCENARIOS, Context, run_scenario, table

COVERED_ELSEWHERE = {"sigkill-backlog", "flood"}


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s not in COVERED_ELSEWHERE])
def test_chaos_scenario(
    scenario: str, broker: EmbeddedBroker, artifact: Path, tmp_path: Path
) -> None:
    rows, seconds = run_scenario(Context(broker, artifact, tmp_path, QUICK), scenario)
    assert rows, "a scenario measures something"
    failed = [r for r in rows if not r.ok]
    assert not failed, "\n" + table(rows, {scenario: seconds})
