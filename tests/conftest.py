"""Shared test fixtures."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream_ae.runtime.broker import EmbeddedBroker

if (
    signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    and threading.current_thread() is threading.main_thread()
):
    # A run started in the background of a script (`cmd &` without job control) starts
    # with Ctrl-C ignored, and every process a test starts would inherit that: the tests
    # that stop `stream-ae alerts --follow` with SIGINT then wait on it in vain.
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]
NAB = REPO.parent / "shared" / "data" / "nab"
"""The NAB corpus: CI clones the repo with shared/ beside it."""


@pytest.fixture(scope="session")
def nab_dir() -> Path:
    if not (NAB / "data").is_dir():
        raise FileNotFoundError(
            f"the NAB corpus is expected at {NAB}; tests run from a checkout with shared/ beside it"
        )
    return NAB


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One real Kafka-protocol broker (the embedded Tansu) for the session; its memory
    storage keeps tests apart by topic name. Never skipped: without the binary this
    errors and says how to install it."""
    with EmbeddedBroker() as started:
        yield started


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "broker: starts the embedded Kafka-protocol broker")
    config.addinivalue_line("markers", "prometheus: runs Prometheus, promtool or the Pushgateway")
    config.addinivalue_line("markers", "slow: replays a corpus or a tutorial scenario")


# Marked from what a test uses, so no test can forget its marker: `pytest -m "not broker
# and not prometheus and not slow"` runs the pure tests alone in seconds; CI runs all.
_PROMETHEUS_DIRS = {"observability", "deploy"}
_BROKER_DIRS = {"kafka", "service", "chaos"}  # some start their own broker or process
_SLOW_DIRS = {"scenarios"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        parts = set(item.path.relative_to(REPO).parts) if item.path.is_relative_to(REPO) else set()
        if "broker" in fixtures or parts & _BROKER_DIRS:
            item.add_marker(pytest.mark.broker)
        if "pushgateway" in fixtures or parts & _PROMETHEUS_DIRS:
            item.add_marker(pytest.mark.prometheus)
        if "nab_dir" in fixtures or parts & _SLOW_DIRS:
            item.add_marker(pytest.mark.slow)
