"""Running `stream-ae retrain` from the service, in its own process.

Every `retrain.interval_s`, or early when a drift asks for it (at most once per
`retrain.drift_cooldown_s`), one child process runs the retrain job; scoring goes
on meanwhile. A drift's retrain waits while a drifted series has an incident
open: the job leaves incidents out, so it would learn the series' old level and
not its new one, and a promoted candidate reaches the service through the registry
like any other promotion. One job at a time; a stopping service ends its job.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence

from stream_ae.lifecycle.parent import KEPT
from stream_ae.metrics import ServiceMetrics
from stream_ae.settings import ENV_PREFIX, Settings

log = logging.getLogger(__name__)

OpenIncidents = Callable[[Sequence[str]], list[str]]
"""Which of the given series have an incident open now."""


def _none_open(series: Sequence[str]) -> list[str]:
    return []


def _listed(names: Sequence[str], most: int = 5) -> str:
    """'a, b and 3 more': a line stays short however many series drift at once."""
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


class RetrainScheduler:
    """Decides when to start the retrain job, starts it, and reports how it ended."""

    def __init__(
        self,
        settings: Settings,
        metrics: ServiceMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._metrics = metrics
        self._clock = clock
        self._last_start = clock()  # the first scheduled run comes one interval in
        self._requested: str | None = None
        self._drifted: set[str] = set()
        self._waiting_on: list[str] = []
        self._child: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._child is not None

    def ask_for_drift(self, series: Sequence[str]) -> None:
        """Ask for a retrain because `series` drifted, saying so once per series until the
        job starts: a series whose spike recurs drifts again after every reset of its
        watch, and within the cooldown each drift would repeat the same line."""
        news = [name for name in dict.fromkeys(series) if name not in self._drifted]
        if news:
            log.warning("the scores of %s drifted; asking for a retrain", _listed(news))
        # The reason names every series waiting, not only this batch's.
        self.request(f"drift in {_listed(sorted(self._drifted.union(series)))}", series)

    def request(self, reason: str, series: Sequence[str] = ()) -> None:
        """Ask for a retrain soon because `series` drifted; honoured once the cooldown has
        passed and none of them has an incident open."""
        self._requested = reason
        self._drifted.update(series)

    def due(self, open_incidents: OpenIncidents = _none_open) -> str | None:
        """Why a job should start now, or None."""
        r, since = self.settings.retrain, self._clock() - self._last_start
        if r.interval_s > 0 and since >= r.interval_s:
            return f"every {r.interval_s:g} s"
        if self._requested is None or since < r.drift_cooldown_s:
            return None
        waiting = open_incidents(sorted(self._drifted))
        if waiting and waiting != self._waiting_on:
            log.info(
                "the retrain for %s waits until the open incident of %s resolves; until "
                "then the job would leave their new level out as an incident",
                self._requested,
                ", ".join(waiting),
            )
        self._waiting_on = waiting
        return None if waiting else self._requested

    async def tick(self, open_incidents: OpenIncidents = _none_open) -> None:
        """Collect a finished job; start one if it is due and none runs."""
        if self._child is not None and self._child.returncode is None:
            return
        if self._child is not None:
            await self._finish(self._child)
        reason = self.due(open_incidents)
        if reason is not None:
            await self._start(reason)

    async def _start(self, reason: str) -> None:
        self._requested = None
        self._drifted.clear()
        self._waiting_on = []
        self._last_start = self._clock()
        # Settings travel on the child's stdin, never in a file or its environment
        # (which could hold the password); the pipe stays open while this process
        # lives, and its EOF tells the child to end (stream_ae.lifecycle.parent).
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(ENV_PREFIX)}
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stream_ae.cli",
            "retrain",
            "--settings-stdin",
            "--no-progress",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        assert child.stdin is not None and child.stdout is not None  # asked for both pipes
        # A child that died at once closed its end; its exit status reports it.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            child.stdin.write(self.settings.for_child().encode("utf-8") + b"\n")
            await child.stdin.drain()
        self._child = child
        self._pump = asyncio.create_task(_log_lines(child.stdout, child.pid), name="retrain-log")
        log.info("retrain job started (pid %d): %s", child.pid, reason)

    async def _finish(self, child: asyncio.subprocess.Process) -> None:
        if self._pump is not None:
            await self._pump
        self._child, self._pump = None, None
        if child.stdin is not None:
            child.stdin.close()
        result = _RESULTS.get(child.returncode, "failed")
        if result == "failed":
            log.error("retrain job failed (exit %s); its output is logged above", child.returncode)
        else:
            log.info("retrain job ended, candidate %s", result)
        self._metrics.retrain_runs.labels(result=result).inc()

    async def close(self) -> None:
        """End a running job (the next run starts over)."""
        child = self._child
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.terminate()
            await child.wait()
        if child is not None and child.stdin is not None:
            child.stdin.close()
        if self._pump is not None:
            await self._pump


# The child's exit status says how it ended: its output is for people, not parsed.
_RESULTS: dict[int | None, str] = {0: "promoted", KEPT: "kept"}


async def _log_lines(stream: asyncio.StreamReader, pid: int) -> None:
    """The child's output into this log as it comes, so its pipe never fills. A JSON log
    record of the child's (`logging.format = "json"`) keeps its level and traceback."""
    async for line in stream:
        text = line.decode("utf-8", errors="replace").rstrip()
        if not text:
            continue
        record = _json_record(text)
        if record is None:
            log.info("retrain[%d]: %s", pid, text)
            continue
        level = logging.getLevelName(str(record.get("level", "INFO")))
        message = str(record.get("message", ""))
        if record.get("exc_info"):
            message += "\n" + str(record["exc_info"])
        log.log(level if isinstance(level, int) else logging.INFO, "retrain[%d] %s: %s",
                pid, record.get("logger", "?"), message)  # fmt: skip


def _json_record(text: str) -> dict[str, object] | None:
    if not text.startswith("{"):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "message" in record else None
