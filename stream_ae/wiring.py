"""The one place where settings become objects.

Model imports stay inside the functions that need them: torch takes seconds to
import, and `check-config` or a file reader should not pay for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_ae.core.alerting import AlertPolicy
from stream_ae.core.detector import Detector, Lane
from stream_ae.core.normalize import Normalizer
from stream_ae.core.stillness import StuckChannels
from stream_ae.core.threshold import RollingThreshold
from stream_ae.core.training import FitShare, TrainingCollector
from stream_ae.core.windows import WindowStore
from stream_ae.lifecycle.registry import ModelRegistry, RegistryError, Skipped, Version
from stream_ae.settings import Settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from stream_ae.connectors.kafka_sink import KafkaSink
    from stream_ae.connectors.kafka_source import KafkaSource
    from stream_ae.lifecycle.oversight import ModelOversight
    from stream_ae.lifecycle.schedule import RetrainScheduler
    from stream_ae.lifecycle.watch import ModelWatcher
    from stream_ae.metrics import ServiceMetrics, WatchedSeries
    from stream_ae.model.training import TrainConfig
    from stream_ae.runtime.first_fit import FirstFit
    from stream_ae.runtime.health import Health


def threshold(settings: Settings) -> RollingThreshold:
    t = settings.threshold
    return RollingThreshold(
        history=t.history,
        quantile=t.quantile,
        warmup=t.warmup,
        protect=t.protect,
        escape_after=t.escape_after,
        floor=t.floor,
        rise_limit=t.rise_limit,
        rise_span=t.rise_span,
        return_after=t.return_after,
    )


def cold_lane(settings: Settings, channels: int) -> Lane:
    """The online HST scorer, for the time before a model exists."""
    from stream_ae.model.online import HalfSpaceTreesScorer

    c = settings.cold_start
    scorer = HalfSpaceTreesScorer(
        settings.window.length,
        channels,
        trees=c.hst_trees,
        height=c.hst_height,
        window_size=c.hst_window,
        seed=settings.model.seed,
    )
    # Without trained statistics every series learns its own as it goes.
    return Lane(scorer, Normalizer(channels), threshold(settings))


def model_lane(settings: Settings, artifact: Path, channels: Sequence[str]) -> Lane:
    """Load, verify and wrap a published model; raises ArtifactError naming the bad file."""
    from stream_ae.model.artifact import load_artifact
    from stream_ae.model.scorer import AutoencoderScorer

    loaded = load_artifact(
        artifact, expect_window=settings.window.length, expect_channels=len(channels)
    )
    s = settings.scoring
    scorer = AutoencoderScorer.from_artifact(
        loaded, device=s.device, max_batch=s.max_batch, engine=s.engine, threads=s.threads
    )
    known: dict[str, Any] = loaded.manifest.scaler.get("series", {})
    normalizer = Normalizer(len(channels), known, online=settings.normalize.online)
    # A series the model was fitted on starts its threshold from its fit scores and is
    # judged from its first window; the others warm up on their own scores.
    m, seeded = loaded.manifest, settings.threshold.seed_from_fit
    seeds = m.fit_scores if seeded else {}
    fit_scores = {name: np.asarray(scores, dtype=np.float64) for name, scores in seeds.items()}
    runs = {name: np.asarray(profile) for name, profile in m.fit_runs.items()} if seeded else {}
    return Lane(scorer, normalizer, threshold(settings), fit_scores=fit_scores, fit_runs=runs)


def loads_as_served(settings: Settings | None) -> Callable[[Version], object]:
    """A registry check: load and verify a version as a detector with these settings
    would (ArtifactError when it cannot serve); without settings, only that it is whole
    (manifest, sha256, TorchScript, a dry run), whatever window it was fitted for."""

    def check(version: Version) -> object:
        from stream_ae.model.artifact import load_artifact

        return load_artifact(
            version.path,
            expect_window=None if settings is None else settings.window.length,
            expect_channels=len(version.channels),
        )

    return check


@dataclass(frozen=True)
class ModelChoice:
    """The model a starting service serves, and where it came from."""

    artifact: Path | None
    """The version directory; None: the cold-start scorer until a first fit."""
    origin: str
    """Why this one: '--model', 'model.artifact', 'the registry's current', ..."""
    skipped: tuple[Skipped, ...] = ()
    """Newer registry versions passed over because they do not load."""


def choose_model(settings: Settings, registry: ModelRegistry, explicit: Path | None) -> ModelChoice:
    """An explicit artifact, else `model.artifact`, else the registry's current version,
    else (when that does not load) the newest loadable one of its history, else none."""
    if explicit is not None:
        return ModelChoice(explicit, "--model")
    if settings.model.artifact is not None:
        return ModelChoice(settings.model.artifact, "model.artifact")
    version, skipped = registry.loadable(loads_as_served(settings))
    for s in skipped:
        log.error(
            "model %s in %s does not load (%s), passed over: %s",
            s.version,
            registry.root,
            s.reason,
            s.detail,
        )
    if version is None and skipped:
        raise RegistryError(
            f"no version in {registry.root} loads ({len(skipped)} tried, reasons above); "
            "promote a good one (`stream-ae model promote`), or move the registry aside to "
            "start cold and fit a first model from the stream"
        )
    if version is None:
        return ModelChoice(
            None,
            f"no model yet: the cold-start scorer until a first fit, published to {registry.root}",
        )
    if skipped:
        origin = f"a fallback in {registry.root}: its current {skipped[0].version} does not load"
    elif registry.current() is None:
        origin = f"the newest version in {registry.root} (none promoted yet)"
    else:
        origin = f"the registry's current in {registry.root}"
    return ModelChoice(version.path, origin, tuple(skipped))


def window_store(settings: Settings, channels: int) -> WindowStore:
    w = settings.window
    return WindowStore(
        w.length,
        channels,
        hop=w.hop,
        stagger=w.stagger,
        max_series=w.max_series,
        idle_evict_s=w.idle_evict_s,
        max_ahead_s=w.max_ahead_s,
        gap_policy=w.gap_policy,
        gap_factor=w.gap_factor,
        out_of_order=w.out_of_order,
        duplicates=w.duplicates,
        stats_alpha=settings.normalize.online_alpha,
        irregular_after=w.irregular_after,
        on_irregular=lambda series: log.warning(
            "%s: %d gaps in a row came before its window filled; it is sampled irregularly, "
            "so its windows span its gaps from now on (window.irregular_after)",
            series,
            w.irregular_after,
        ),
    )


def alert_policy(settings: Settings) -> AlertPolicy:
    a = settings.alerts
    return AlertPolicy(
        a.open_k,
        a.open_n,
        a.resolve_after,
        a.cooldown,
        a.open_ratio,
        resolve_ratio=a.resolve_ratio,
        hold_ratio=a.hold_ratio,
        hold_after=a.hold_after,
    )


def detector(settings: Settings, channels: Sequence[str], artifact: Path | None = None) -> Detector:
    """A detector serving `artifact`, or, without one, the cold-start scorer that
    collects windows for a first model."""
    store = window_store(settings, len(channels))
    a = settings.alerts
    policy = alert_policy(settings)
    if artifact is not None:
        lane, collector = model_lane(settings, artifact, channels), None
    else:
        lane = cold_lane(settings, len(channels))
        collector = TrainingCollector(settings.model.fit_after_windows, fit_share(settings))
    return Detector(
        store,
        lane,
        policy,
        channel_names=channels,
        top_contributors=a.top_contributors,
        collector=collector,
        severity_ratios=(a.major_ratio, a.critical_ratio),
        judged_on=a.judged_on,
        stuck=stuck_channels(settings, len(channels)),
    )


def stuck_channels(settings: Settings, channels: int) -> StuckChannels | None:
    """The judge of runs of repeats, when the settings ask for it (see
    `threshold.stuck_channels`)."""
    t, w = settings.threshold, settings.window
    if not t.stuck_channels or settings.alerts.judged_on != "tail":
        return None
    return StuckChannels(
        channels,
        t.quantile,
        w.length,
        hop=w.hop,
        warmup=t.warmup,
        # Long runs are rare events: ten histories hold enough of them to judge by, and
        # the counts cost the same memory whatever the horizon.
        horizon=10 * t.history,
        escape_after=t.escape_after,
    )


def fit_share(settings: Settings) -> FitShare | None:
    """The part of each series cold start fits on, if the settings name one."""
    m = settings.model
    if m.fit_points is not None:
        return FitShare(points=m.fit_points)
    if m.fit_span_s is not None:
        return FitShare(span_s=m.fit_span_s)
    if m.fit_until is not None:
        return FitShare(until=m.fit_until.timestamp())
    return None


def first_fit(
    settings: Settings,
    channels: Sequence[str],
    lineage: dict[str, Any],
    progress: bool | None,
    promote: bool = False,
) -> Callable[[Sequence[str], np.ndarray], Lane]:
    """What cold start runs once it has collected windows: fit, publish, load back, and
    (for the service) promote it in the registry so a restart serves it."""

    def fit(series: Sequence[str], windows: np.ndarray) -> Lane:
        root = settings.model.artifact_dir
        path = publish_fit(settings, series, windows, channels, root, lineage, progress)
        lane = model_lane(settings, path, channels)
        if promote:
            ModelRegistry(settings.model.artifact_dir).promote(path.name, reason="first fit")
        return lane

    return fit


def publish_fit(
    settings: Settings,
    series: Sequence[str],
    windows: np.ndarray,
    channels: Sequence[str],
    root: Path,
    lineage: dict[str, Any],
    progress: bool | None,
    scale_on_newest: float = 1.0,
) -> Path:
    """Fit a model on raw windows with the configured training settings; publish it
    under `root` (not promoted) and return its directory."""
    from stream_ae.model.publish import train_and_publish

    return train_and_publish(
        series,
        windows,
        channel_names=channels,
        config=train_config(settings),
        root=root,
        lineage=lineage,
        progress=progress,
        scale_on_newest=scale_on_newest,
        fit_scores_kept=settings.threshold.history,
    )


def train_config(settings: Settings) -> TrainConfig:
    from stream_ae.model.training import TrainConfig

    m = settings.model
    return TrainConfig(
        kind=model_kind(settings),
        hidden=m.hidden,
        latent=m.latent,
        layers=m.layers,
        epochs=m.epochs,
        batch_size=m.batch_size,
        learning_rate=m.learning_rate,
        patience=m.patience,
        val_fraction=m.val_fraction,
        seed=m.seed,
        max_windows=m.max_train_windows,
        threads=settings.scoring.threads,
    )


def model_kind(settings: Settings) -> str:
    """The model kind to fit: `model.kind`, with "auto" read from the window's shape."""
    kind = settings.model.kind
    if kind == "auto":
        return "dense" if settings.window.length == 1 else "lstm"
    return kind


def watched_series(settings: Settings, metrics: ServiceMetrics) -> WatchedSeries:
    from stream_ae.metrics import WatchedSeries

    return WatchedSeries(metrics, settings.metrics.series, settings.metrics.top_k)


@dataclass
class ServiceParts:
    """Everything one `stream-ae run` process is made of, built from its settings; the
    service (`runtime.service.DetectorService`) only connects their hooks and runs them."""

    settings: Settings
    registry: ModelRegistry
    detector: Detector
    first_fit: FirstFit | None
    """The cold-start fitter, when no model serves yet."""
    metrics: ServiceMetrics
    watched: WatchedSeries
    watcher: ModelWatcher
    retrains: RetrainScheduler
    oversight: ModelOversight
    source: KafkaSource
    sink: KafkaSink
    health: Health


def service_parts(
    settings: Settings, artifact: Path | None = None, metrics: ServiceMetrics | None = None
) -> ServiceParts:
    """The parts of a detector service serving `artifact`; without one, the registry's
    current model (an earlier run's first fit, say, so a restart scores as before; one
    that does not load gives way to the newest loadable version before it), or else the
    cold-start scorer and its first fit."""
    import time
    from datetime import datetime

    from prometheus_client import CollectorRegistry

    from stream_ae.connectors.kafka_sink import KafkaSink
    from stream_ae.connectors.kafka_source import KafkaSource
    from stream_ae.core.drift import DriftMonitor
    from stream_ae.lifecycle.oversight import ModelOversight
    from stream_ae.lifecycle.schedule import RetrainScheduler
    from stream_ae.lifecycle.watch import ModelWatcher, SwapGuard
    from stream_ae.metrics import ServiceMetrics
    from stream_ae.model.artifact import read_manifest
    from stream_ae.runtime.first_fit import FirstFit
    from stream_ae.runtime.health import Health

    registry = ModelRegistry(settings.model.artifact_dir)
    choice = choose_model(settings, registry, artifact)
    artifact = choice.artifact
    channels = settings.window.channels
    created = time.time()  # a first fit is as new as the service
    if artifact is not None:
        # The manifest only: `detector` loads and checks the module itself.
        manifest = read_manifest(artifact)
        channels = manifest.channel_names
        created = datetime.fromisoformat(manifest.created_at).timestamp()
    built = detector(settings, channels, artifact)
    fitter = None
    if artifact is None:
        fit = first_fit(
            settings,
            channels,
            lineage={"source": settings.kafka.input_topic},
            progress=False,
            promote=True,
        )
        fitter = FirstFit(
            built,
            fit,
            blocking=settings.cold_start.fit_mode == "wait",
            seed=settings.threshold.seed_from_fit,
        )
    metrics = metrics or ServiceMetrics(CollectorRegistry())
    for skipped in choice.skipped:
        metrics.reload_failures.labels(reason=skipped.reason).inc()
    serving = f"model {built.serving.version} from " if artifact else ""
    log.info("serving %s%s", serving, choice.origin)
    m, r = settings.model, settings.retrain
    retrains = RetrainScheduler(settings, metrics)
    source = KafkaSource(
        settings.kafka, channels=built.channel_names, max_series=settings.window.max_series
    )
    return ServiceParts(
        settings=settings,
        registry=registry,
        detector=built,
        first_fit=fitter,
        metrics=metrics,
        watched=watched_series(settings, metrics),
        watcher=ModelWatcher(registry, lambda path: model_lane(settings, path, channels), metrics),
        retrains=retrains,
        oversight=ModelOversight(
            built,
            registry,
            metrics,
            SwapGuard(registry, m.rollback_alert_rate, m.rollback_check_windows),
            None if r.drift == "off" else DriftMonitor(r.drift),
            retrains,
            created,
        ),
        source=source,
        sink=KafkaSink(settings.kafka),
        health=Health(source.assignment, stall_s=settings.metrics.stall_s),
    )
