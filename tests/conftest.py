"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

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
