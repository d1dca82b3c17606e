"""`stream-ae run`: signals, logs and probes around one DetectorService."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from stream_ae.metrics import ServiceMetrics
from stream_ae.ratelimit import limit_connection_logs
from stream_ae.runtime.arenas import limit_malloc_arenas
from stream_ae.runtime.console import describe
from stream_ae.runtime.service import DetectorService
from stream_ae.runtime.stopping import exit_on_signals
from stream_ae.settings import Settings

log = logging.getLogger(__name__)

CONNECTION_LOG_INTERVAL_S = 10.0
"""Repeated Kafka connection warnings and errors: one line per this many seconds."""


def serve(settings: Settings, artifact: Path | None = None, echo: bool = True) -> None:
    """Run the service until SIGTERM or SIGINT (the `stream-ae run` command).

    Either signal ends every phase with exit code 0: while the model loads it
    exits at once (nothing was read yet); once the loop runs it stops the wait for
    Kafka, or finishes the batches read, commits and leaves the group.
    """
    exit_on_signals()  # until the event loop takes the signals over
    limit_malloc_arenas()  # before the scoring thread and the metrics server start
    limit_connection_logs(CONNECTION_LOG_INTERVAL_S)
    printer = (lambda a: print(describe(a), flush=True)) if echo else None
    metrics = ServiceMetrics(CollectorRegistry())
    probes: dict[str, Callable[[], tuple[bool, str]]] = {
        "/healthz": lambda: (True, "starting"),
        "/readyz": lambda: (False, "loading the model"),
    }
    where = metrics.serve(settings.metrics.address, probes)
    log.info("metrics on http://%s/metrics (probes: /healthz, /readyz)", where)
    # Built before the loop, on the main thread, so a signal interrupts the model load.
    service = DetectorService(settings, artifact=artifact, on_alert=printer, metrics=metrics)
    probes.update(service.health.probes())
    # What start made (torch, numba, the model: about 220,000 objects) lives as long as
    # the process. Left to the collector, every full collection walks it again: 100-170
    # ms with both threads stopped, every second or two under load. Frozen, it is skipped.
    gc.collect()
    gc.freeze()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await service.run(stop)

    asyncio.run(main())
    if service.first_fit is not None and service.first_fit.fitting:
        # Everything read was committed and the group left; only the fit's thread
        # remains, and the interpreter would join it. Its model was not published
        # (publishing is atomic), so the next start fits again.
        log.warning("a first fit was still running: abandoned; the next start fits again")
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)
