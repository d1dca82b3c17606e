"""ModelWatcher and SwapGuard on their own, with a real registry directory."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from stream_ae.core.detector import Lane
from stream_ae.core.normalize import Normalizer
from stream_ae.core.threshold import RollingThreshold
from stream_ae.lifecycle.registry import ModelRegistry
from stream_ae.lifecycle.watch import ModelWatcher, SwapGuard
from stream_ae.metrics import ServiceMetrics
from stream_ae.model.manifest import ArtifactError

from ..core.doubles import LastStepScorer
from .conftest import counted
from .test_registry import fake_version


def lane(version: str) -> Lane:
    return Lane(LastStepScorer(16, 1, version=version), Normalizer(1), RollingThreshold(100))


def test_watcher_loads_each_promotion_once_and_counts_refusals(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    for name in ("a", "b", "wide", "odd"):
        fake_version(tmp_path, name)
    registry.promote("a")
    loaded: list[str] = []

    def load(path: Path) -> Lane:
        loaded.append(path.name)
        if path.name == "wide":
            raise ArtifactError(f"{path}: expects 2 channels", reason="mismatch")
        if path.name == "odd":
            raise RuntimeError("CUDA out of memory")
        return lane(path.name)

    metrics = ServiceMetrics(CollectorRegistry())
    watcher = ModelWatcher(registry, load, metrics)
    assert watcher.poll(serving="a", in_shadow=None) is None  # nothing new since start
    registry.promote("b")
    new = watcher.poll(serving="a", in_shadow=None)
    assert new is not None and new.scorer.version == "b"
    assert watcher.poll(serving="a", in_shadow="b") is None  # not loaded twice
    registry.promote("wide")
    assert watcher.poll(serving="b", in_shadow=None) is None
    assert watcher.poll(serving="b", in_shadow=None) is None  # a refused one is not retried
    assert counted(metrics, "stream_ae_model_reload_failures_total", reason="mismatch") == 1
    registry.promote("odd")  # an unexpected error is counted too, and watching goes on
    assert watcher.poll(serving="b", in_shadow=None) is None
    assert counted(metrics, "stream_ae_model_reload_failures_total", reason="load") == 1
    registry.rollback()  # back to wide, refused before: not retried until it moves
    registry.rollback()  # back to b, which serves: nothing to load
    assert watcher.poll(serving="b", in_shadow=None) is None
    assert loaded == ["b", "wide", "odd"]


def test_guard_rolls_back_a_noisy_swap_once(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    for name in ("a", "b"):
        fake_version(tmp_path, name)
    registry.promote("a")
    registry.promote("b")
    guard = SwapGuard(registry, max_alert_rate=0.01, check_windows=1000)
    assert guard.observe(500, 100) is None  # nothing swapped in yet: nothing judged
    guard.swapped("b")
    assert guard.observe(600, 9) is None  # not enough windows yet
    assert guard.observe(600, 4) == "a"  # 13 alerts in 1200 windows > 0.01
    assert registry.current() == "a"
    assert guard.observe(10_000, 10_000) is None  # judged once


def test_guard_keeps_a_calm_swap_and_a_later_promotion(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    for name in ("a", "b", "c"):
        fake_version(tmp_path, name)
    registry.promote("a")
    registry.promote("b")
    guard = SwapGuard(registry, max_alert_rate=0.01, check_windows=1000)
    guard.swapped("b")
    assert guard.observe(1000, 10) is None  # exactly at the bound: kept
    assert registry.current() == "b"
    guard.swapped("b")
    registry.promote("c")  # someone moved on meanwhile: do not undo their promotion
    assert guard.observe(1000, 500) is None
    assert registry.current() == "c"
    off = SwapGuard(registry, max_alert_rate=0.0, check_windows=1)
    off.swapped("c")
    assert off.observe(10, 10) is None and registry.current() == "c"
