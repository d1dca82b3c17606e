"""Cold start: fit the first model off the scoring path, then hand it to the detector."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from stream_ae.core.detector import Detector, Lane

log = logging.getLogger(__name__)

FitFn = Callable[[Sequence[str], np.ndarray], Lane]
"""Fits and publishes a model from (series ids, raw windows) and returns its lane."""


class FirstFit:
    """Watches the detector's training collector; when it is full, fits a model.

    Not blocking (the service default), the fit runs on a worker thread and the
    detector keeps scoring with the cold-start scorer; `poll()` between batches
    installs the new lane once it is ready. Blocking, the stream waits for the
    fit, which makes a replay's results independent of machine speed.
    """

    def __init__(
        self, detector: Detector, fit: FitFn, *, blocking: bool = False, seed: bool = True
    ) -> None:
        self._detector = detector
        self._fit = fit
        self._blocking = blocking
        self._seed = seed
        self._fitted_on: tuple[Sequence[str], np.ndarray] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._future: Future[Lane] | None = None
        self.installed: Lane | None = None
        self.error: BaseException | None = None

    @property
    def blocking(self) -> bool:
        """Whether `poll` fits in the caller's thread (the stream waits for it)."""
        return self._blocking

    @property
    def fitting(self) -> bool:
        return self._future is not None and not self._future.done()

    def poll(self) -> None:
        """Start a fit when the data is there; install a finished one."""
        collector = self._detector.collector
        if collector is not None and collector.ready and self._future is None:
            series, windows = collector.take()
            self._fitted_on = (series, windows) if self._seed else None
            log.info(
                "fitting a first model on %d windows of %d series", len(windows), len(set(series))
            )
            if self._blocking:
                self._future = Future()
                self._run_inline(series, windows)
            else:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="first-fit")
                self._future = self._pool.submit(self._fit, series, windows)
        future = self._future
        if future is not None and future.done() and self.installed is None and not self.error:
            self._install(future)

    def wait(self) -> None:
        """Block until a started fit ends, and install it (end of a finite replay)."""
        if self._future is not None and self.error is None:
            self._future.exception()
            self.poll()

    def close(self, wait: bool = True) -> None:
        """End the fit's thread; `wait=False` leaves a running fit to the process exit."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def _run_inline(self, series: Sequence[str], windows: np.ndarray) -> None:
        assert self._future is not None
        try:
            self._future.set_result(self._fit(series, windows))
        except Exception as exc:  # a failed fit must not stop scoring
            self._future.set_exception(exc)

    def _install(self, future: Future[Lane]) -> None:
        error = future.exception()
        if error is not None:
            self.error = error
            self.installed = None
            log.error(
                "the first model fit failed; scoring goes on with the cold-start scorer: %s", error
            )
            self._fitted_on = None  # the failed future stays: never retried in this run
            return
        lane = future.result()
        seed, self._fitted_on = self._fitted_on, None
        if lane.fit_scores:
            # The lane starts each series it was fitted on from the scores its manifest
            # keeps (`Detector.install` assigns them); seeding again would count them twice.
            seed = None
        seeded = sum(len(s) for s in lane.fit_scores.values()) if seed is None else len(seed[1])
        self._detector.install(lane, seed=seed)
        self.installed = lane
        if seeded:
            log.info(
                "model %s judges at once: its thresholds hold its scores on the %d windows "
                "it was fitted on",
                lane.scorer.version,
                seeded,
            )
        else:
            log.info("model %s scores in shadow until its thresholds warm up", lane.scorer.version)
