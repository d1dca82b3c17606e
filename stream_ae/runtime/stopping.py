"""Stopping `stream-ae run` in every phase: before the event loop (the model loads) a
signal exits at once; on the loop it cancels a wait for Kafka, or ends the run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable

log = logging.getLogger(__name__)


def exit_on_signals() -> None:
    """Until the event loop takes over the signals, SIGTERM and SIGINT exit at once
    with code 0, interrupting a model load: nothing was read, so nothing is lost."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop_now)


def _stop_now(signum: int, frame: object) -> None:
    log.info("%s before the detector started: exiting", signal.Signals(signum).name)
    # Not a raise: the handler may run inside code that catches every exception (torch's
    # C++ bindings abort on one while a module imports), so the exit must not depend
    # on the exception reaching the top.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


async def unless_stopped(stop: asyncio.Event, work: Awaitable[None]) -> bool:
    """Run `work` unless `stop` is set first (then cancel it); True when it finished."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if task.done():
        task.result()  # its error, if any
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False
