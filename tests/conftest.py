"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stream_ae.runtime.broker import EmbeddedBroker

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
