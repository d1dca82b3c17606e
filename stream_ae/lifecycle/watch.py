"""Following the model registry from a running detector.

`ModelWatcher.poll()` reads the registry's `current` pointer; when it names a
version that neither serves nor waits in shadow, it loads and validates it (on
the caller's thread: the service runs it off the scoring path) and returns the
lane to install in shadow. A refused artifact is logged, counted, and not tried
again until the pointer moves.

`SwapGuard` judges a model that just took over: if it opens more alerts per
window than the configured bound over its first windows, the pointer goes back
to the version before it, which the watcher then loads like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stream_ae.core.detector import Lane
from stream_ae.errors import StreamAEError
from stream_ae.lifecycle.registry import ModelRegistry
from stream_ae.metrics import ServiceMetrics
from stream_ae.model.manifest import ArtifactError

log = logging.getLogger(__name__)

LoadLane = Callable[[Path], Lane]
"""Loads and validates a version directory into a lane; raises ArtifactError."""


class ModelWatcher:
    """Notices newly promoted versions and loads them."""

    def __init__(self, registry: ModelRegistry, load: LoadLane, metrics: ServiceMetrics) -> None:
        self.registry = registry
        self._load = load
        self._metrics = metrics
        self._seen: str | None = registry.current()
        """The pointer's value last acted on: a refused version is not retried."""

    def poll(self, serving: str, in_shadow: str | None) -> Lane | None:
        """A lane for a newly promoted version, or None when there is nothing to do."""
        try:
            wanted = self.registry.current()
        except StreamAEError as exc:
            log.error("cannot read the model registry: %s", exc)
            return None
        if wanted is None or wanted == self._seen:
            return None
        self._seen = wanted
        if wanted in (serving, in_shadow):
            return None
        path = self.registry.root / wanted
        log.info("model %s was promoted; loading it to score in shadow beside %s", wanted, serving)
        try:
            return self._load(path)
        except ArtifactError as exc:
            self._metrics.reload_failures.labels(reason=exc.reason).inc()
            log.error("model %s refused, %s keeps serving: %s", wanted, serving, exc)
            return None
        except Exception:  # whatever else loading raises must not stop the watching
            self._metrics.reload_failures.labels(reason="load").inc()
            log.exception("model %s could not be loaded, %s keeps serving", wanted, serving)
            return None


@dataclass
class SwapGuard:
    """Rolls the registry back when a swapped-in model alerts too much."""

    registry: ModelRegistry
    max_alert_rate: float
    check_windows: int
    version: str | None = None
    windows: int = 0
    alerts: int = 0

    def swapped(self, version: str) -> None:
        """`version` now serves: start judging it."""
        self.version, self.windows, self.alerts = version, 0, 0

    def observe(self, windows: int, opened: int) -> str | None:
        """Count a batch of the new model's work; returns the version rolled back to."""
        if self.version is None or self.max_alert_rate <= 0:
            return None
        self.windows += windows
        self.alerts += opened
        if self.windows < self.check_windows:
            return None
        version, rate = self.version, self.alerts / self.windows
        self.version = None  # judged once
        if rate <= self.max_alert_rate or self.registry.current() != version:
            return None  # calm enough, or someone promoted another since
        back = self.registry.rollback(
            reason=f"{version} opened {rate:.4f} alerts per window (bound {self.max_alert_rate})"
        )
        log.error(
            "model %s opened %d alerts in its first %d windows (%.4f per window, bound %g); "
            "rolled the registry back to %s",
            version,
            self.alerts,
            self.windows,
            rate,
            self.max_alert_rate,
            back,
        )
        return back
