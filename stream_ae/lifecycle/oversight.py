"""What each scored batch says about the model that serves.

After every batch the service asks three questions of the serving model: which
one is it and how old (the dashboards' model panel), did a model that just took
over page too much (then the registry rolls back), and did some series' scores
drift (then a retrain is asked for early). `ModelOversight.observe` answers them;
it touches no Kafka and no detector state beyond reading what serves.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime

from stream_ae.core.detector import Detector
from stream_ae.core.drift import DriftMonitor
from stream_ae.core.output import Output
from stream_ae.core.records import AlertState
from stream_ae.errors import StreamAEError
from stream_ae.lifecycle.registry import ModelRegistry
from stream_ae.lifecycle.schedule import RetrainScheduler
from stream_ae.lifecycle.watch import SwapGuard
from stream_ae.metrics import ServiceMetrics

log = logging.getLogger(__name__)


class ModelOversight:
    """Follows the serving model through swaps, judges new ones, and watches for drift."""

    def __init__(
        self,
        detector: Detector,
        registry: ModelRegistry,
        metrics: ServiceMetrics,
        guard: SwapGuard,
        drift: DriftMonitor | None,
        retrains: RetrainScheduler,
        created_at: float,
    ) -> None:
        self.detector = detector
        self.registry = registry
        self.metrics = metrics
        self.guard = guard
        self.drift = drift
        self.retrains = retrains
        self._version = detector.serving.version
        self._created_at = created_at

    def describe(self) -> None:
        """Export which model serves and its age; note when a new one took over."""
        serving, m = self.detector.serving, self.metrics
        if serving.version != self._version:  # a new model just took over
            log.info("model %s now serves (was %s)", serving.version, self._version)
            self._version = serving.version
            self._created_at = self._published_at(serving.version)
            self.guard.swapped(serving.version)
            if self.drift is not None:
                self.drift.reset()  # the new model's scores are a new stream
        m.model.info({"version": serving.version, "scorer": serving.name, "device": serving.device})
        m.model_age.set(time.time() - self._created_at)

    def observe(self, out: Output) -> None:
        """Take one scored batch: follow a swap, judge it, and watch for drift."""
        self.describe()
        self._judge_swap(out)
        self._watch_drift(out)

    def _published_at(self, version: str) -> float:
        """When `version` was published (its manifest), else now."""
        with contextlib.suppress(StreamAEError, ValueError):
            return datetime.fromisoformat(self.registry.get(version).created_at).timestamp()
        return time.time()

    def _judge_swap(self, out: Output) -> None:
        opened = sum(a.state is AlertState.OPEN for a in out.alerts)
        try:
            back = self.guard.observe(out.points_scored, opened)
        except StreamAEError as exc:
            log.error("cannot roll back after a noisy swap: %s", exc)
            return
        if back is not None:
            self.metrics.model_rollbacks.inc()

    def _watch_drift(self, out: Output) -> None:
        if self.drift is None or self.detector.serving.name == "hst":
            return  # no model of ours serves yet: nothing to retrain
        drifted = list(  # once per series, however many drains the batch took
            dict.fromkeys(
                name for rows in out.scored for name in self.drift.update(rows.series, rows.score)
            )
        )
        if drifted:
            self.metrics.drifts.inc(len(drifted))
            self.retrains.ask_for_drift(drifted)
