"""Every chaos scenario by name, shared by benchmarks/chaos.py and tests/chaos."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from .brokers import broker_pause, broker_replacement
from .harness import FULL, QUICK, Context, Row, Sizes, fit_model, table
from .inputs import channel_mismatch, clock_skew, flood, fuzz_input
from .lifecycle import corrupt_current, sigkill_backlog, sigkill_live, sigterm

__all__ = [
    "FULL",
    "QUICK",
    "SCENARIOS",
    "Context",
    "Row",
    "Sizes",
    "fit_model",
    "run_scenario",
    "table",
]

SCENARIOS: dict[str, Callable[[Context], Awaitable[list[Row]]]] = {
    "sigkill-backlog": sigkill_backlog,
    "sigkill-live": sigkill_live,
    "fuzz": fuzz_input,
    "flood": flood,
    "clock-skew": clock_skew,
    "channel-mismatch": channel_mismatch,
    "broker-pause": broker_pause,
    "broker-replace": broker_replacement,
    "sigterm": sigterm,
    "corrupt-current": corrupt_current,
}


def run_scenario(ctx: Context, name: str) -> tuple[list[Row], float]:
    """One scenario on its own event loop; its rows and seconds."""
    started = time.monotonic()
    rows = asyncio.run(SCENARIOS[name](ctx))
    return rows, time.monotonic() - started
