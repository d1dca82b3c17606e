"""`stream-ae retrain`: fit a candidate on recent data and promote it only if it is better.

1. Read the last `retrain.since_s` of the input topic (found with
   `offsets_for_times`), or files, and the alerts of the same span.
2. Cut windows as the detector does; leave out every window that overlaps an
   incident alerted on, or a labelled anomaly, so incidents never become the new
   normal. Hold out the newest `retrain.holdout_fraction` of each series' windows;
   fit a candidate on the rest (staged inside the registry, invisible to detectors).
3. Score the clean holdout with the candidate and with the serving model, each
   with its own scaling: error quantiles, and the share of windows above the
   model's own threshold. With labels, also precision and recall of those
   verdicts on every window after the training ones, labelled windows included.
4. Promote the candidate only if its 99th-percentile error is at most
   `retrain.max_error_ratio` times the serving model's and, with labels, its F1
   is at least the serving model's.
5. Record lineage and figures in the candidate's manifest; publish and promote it,
   or delete it. Metrics go to their own registry, pushed to a Pushgateway if set.

A failed or worse candidate changes nothing that serves.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from stream_ae import wiring
from stream_ae.connectors.files import open_points
from stream_ae.core.detector import Lane
from stream_ae.core.records import Point, WindowBatch
from stream_ae.errors import StreamAEError
from stream_ae.lifecycle.dataset import (
    Incidents,
    after_training,
    cut_windows,
    incidents,
    merged,
    overlapping,
    split_holdout,
    without_incidents,
)
from stream_ae.lifecycle.registry import ModelRegistry
from stream_ae.settings import Settings

log = logging.getLogger(__name__)
STAGING_PREFIX = ".staging-"


class RetrainError(StreamAEError):
    """The job could not produce a candidate; nothing that serves changed."""

    exit_status = 1


@dataclass
class RetrainResult:
    promoted: bool
    candidate: str
    parent: str | None
    figures: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def text(self) -> str:
        c, s = self.figures.get("candidate", {}), self.figures.get("serving", {})
        lines = [
            f"candidate {self.candidate} (parent {self.parent or 'none'}): "
            + ("PROMOTED" if self.promoted else "not promoted")
            + f" — {self.reason}",
            f"windows: {self.figures.get('train_windows', 0)} train, "
            f"{self.figures.get('holdout_windows', 0)} holdout, "
            f"{self.figures.get('excluded_windows', 0)} left out (incidents)",
        ]
        for name, f in (("candidate", c), ("serving", s)):
            if f:
                lines.append(
                    f"{name:9} holdout error p50 {f['p50']:.4g}  p95 {f['p95']:.4g}  "
                    f"p99 {f['p99']:.4g}  exceedance {f['exceedance']:.4f}"
                    + (
                        f"  precision {f['precision']:.3f}  recall {f['recall']:.3f}  "
                        f"f1 {f['f1']:.3f}"
                        if "f1" in f
                        else ""
                    )
                )
        return "\n".join(lines)


def run_retrain(
    settings: Settings,
    *,
    files: list[Path] | None = None,
    alert_files: list[Path] | None = None,
    labels: Incidents | None = None,
    now: float | None = None,
    progress: bool | None = None,
    may_promote: Callable[[], bool] | None = None,
) -> RetrainResult:
    """`may_promote`, asked right before promoting, can withhold it (the service that
    started this job is gone)."""
    started = time.monotonic()
    now = time.time() if now is None else now
    since = now - settings.retrain.since_s
    registry = ModelRegistry(settings.model.artifact_dir)
    # A serving version that does not load is compared as the detectors serve: they
    # fall back to the newest loadable one before it (or to none).
    serving, skipped = registry.loadable(wiring.loads_as_served(settings))
    for s in skipped:
        log.warning("%s does not load (%s), compared without it: %s", s.version, s.reason, s.detail)
    channels = serving.channels if serving else tuple(settings.window.channels)
    if serving is not None and settings.model.kind == "auto":
        # The candidate is fitted as the serving model was, whatever "auto" reads now.
        kind = str(serving.manifest.get("kind", "lstm"))
        settings = settings.model_copy(
            update={"model": settings.model.model_copy(update={"kind": kind})}
        )
    if files:
        readers = [open_points(f) for f in files]
        if serving is None and "channels" not in settings.window.model_fields_set:
            # No model and no configured channels: the recording names them.
            channels = readers[0].channels or channels
        points = [p for reader in readers for p in reader if isinstance(p, Point)]
        alerts = [orjson.loads(line) for f in alert_files or [] for line in _lines(f)]
        source = ", ".join(str(f) for f in files)
    else:
        points, alerts = asyncio.run(_from_topics(settings, since, now, channels))
        source = f"{settings.kafka.input_topic} [{since:.0f}, {now:.0f})"
    windows = cut_windows(points, wiring.window_store(settings, len(channels)))
    labels = labels or {}
    clean, excluded = without_incidents(windows, merged(incidents(alerts), labels))
    train, holdout = split_holdout(clean, settings.retrain.holdout_fraction)
    if len(train) < settings.retrain.min_windows:
        raise RetrainError(
            f"only {len(train)} clean training windows in {source} (retrain.min_windows is "
            f"{settings.retrain.min_windows}); read a longer span (retrain.since_s) or wait"
        )
    parent = serving.name if serving else None
    lineage: dict[str, Any] = {
        "source": source,
        "data_from": float(train.ts[:, 0].min()),
        "data_to": float(clean.end_ts.max()),
        "parent": parent,
        "excluded_windows": excluded,
    }
    # A staging directory of its own: hidden from detectors, and a second job
    # running at the same time cannot delete this one's candidate.
    registry.root.mkdir(parents=True, exist_ok=True)
    log.info("fitting a candidate on %d windows of %s", len(train), source)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=registry.root))
    path = wiring.publish_fit(
        settings,
        train.series,
        train.values,
        channels,
        staging,
        lineage,
        progress,
        scale_on_newest=settings.retrain.scale_on_newest,
    )
    figures: dict[str, Any] = {
        "train_windows": len(train),
        "holdout_windows": len(holdout),
        "excluded_windows": excluded,
    }
    # Labelled verdicts are judged on every window after training, anomalies included.
    later = after_training(windows, train)
    truth = (later, overlapping(later, labels)) if labels else None
    if truth is not None:
        figures["labelled_windows"] = int(truth[1].sum())
    try:
        candidate = wiring.model_lane(settings, path, channels)
        figures["candidate"] = holdout_figures(candidate, train, holdout, settings, truth)
        if serving is not None:
            current = wiring.model_lane(settings, serving.path, channels)
            figures["serving"] = holdout_figures(current, train, holdout, settings, truth)
        promoted, reason = promotion_rule(figures, settings.retrain.max_error_ratio)
        if promoted and may_promote is not None and not may_promote():
            promoted, reason = False, "the service that started this job is gone"
        if promoted:
            _record(path, figures)
            _move_into(registry, path)
            registry.promote(path.name, reason=f"retrain: {reason}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result = RetrainResult(promoted, path.name, parent, figures, reason)
    _push_metrics(settings, result, time.monotonic() - started)
    return result


def promotion_rule(figures: dict[str, Any], max_ratio: float) -> tuple[bool, str]:
    """Promote when nothing serves, or when the candidate's p99 holdout error is at most
    `max_ratio` times the serving model's and (with labels) its F1 is no lower.

    >>> promotion_rule({"candidate": {"p99": 1.0}, "serving": {"p99": 2.0}}, 1.0)
    (True, 'holdout p99 error 1 <= 1 x 2 of the serving model')
    >>> promotion_rule({"candidate": {"p99": 1.0, "f1": 0.5},
    ...                 "serving": {"p99": 2.0, "f1": 0.8}}, 1.0)[1]
    'holdout p99 error 1 <= 1 x 2 of the serving model; labelled F1 0.5 < 0.8'
    """
    if "serving" not in figures:
        return True, "no model served before"
    c, s = figures["candidate"], figures["serving"]
    errors_ok = c["p99"] <= max_ratio * s["p99"]
    reason = (
        f"holdout p99 error {c['p99']:.4g} {'<=' if errors_ok else '>'} {max_ratio:g} x "
        f"{s['p99']:.4g} of the serving model"
    )
    if "f1" not in c or "f1" not in s:
        return errors_ok, reason
    f1_ok = c["f1"] >= s["f1"]
    return (
        errors_ok and f1_ok,
        f"{reason}; labelled F1 {c['f1']:.3g} {'>=' if f1_ok else '<'} {s['f1']:.3g}",
    )


def holdout_figures(
    lane: Lane,
    train: WindowBatch,
    holdout: WindowBatch,
    settings: Settings,
    truth: tuple[WindowBatch, np.ndarray] | None = None,
) -> dict[str, float]:
    """Error quantiles on the clean holdout, and the share of its windows above the
    threshold quantile of the same model's scores on the training windows. With
    `truth` (windows and which are labelled anomalous), precision, recall and F1 of
    that threshold's verdicts on them.

    The quantiles are of the plain mean squared error where the scorer reports it: a
    score on per-channel error scales is in units of the model's own fit, so two
    models' scores do not compare."""
    reference, _ = _scores(lane, train)
    scores, errors = _scores(lane, holdout)
    threshold = float(np.quantile(reference, settings.threshold.quantile))
    figures = {
        "p50": float(np.quantile(errors, 0.5)),
        "p95": float(np.quantile(errors, 0.95)),
        "p99": float(np.quantile(errors, 0.99)),
        "exceedance": float((scores > threshold).mean()),
    }
    if truth is not None:
        windows, anomalous = truth
        flagged = _scores(lane, windows)[0] > threshold
        hits = int((flagged & anomalous).sum())
        precision = hits / max(int(flagged.sum()), 1)
        recall = hits / max(int(anomalous.sum()), 1)
        f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
        figures |= {"precision": precision, "recall": recall, "f1": f1}
    return figures


def _scores(lane: Lane, windows: WindowBatch) -> tuple[np.ndarray, np.ndarray]:
    """(scores, plain mean squared errors; the scores where the scorer has none)."""
    names = list(dict.fromkeys(windows.series))
    for slot, name in enumerate(names):
        lane.normalizer.assign(slot, name)
    slot_of = {name: i for i, name in enumerate(names)}
    slots = np.fromiter((slot_of[s] for s in windows.series), dtype=np.int64, count=len(windows))
    scaled = lane.normalizer.scale(slots, windows.mean, windows.var).apply(windows.values)
    result = lane.scorer.score(scaled)
    return result.scores, result.scores if result.mse is None else result.mse


def _lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


async def _from_topics(
    settings: Settings, since: float, now: float, channels: Sequence[str]
) -> tuple[list[Point], list[dict[str, Any]]]:
    """The points of the input topic in [since, now) (the refused ones skipped, as the
    detector skipped them: checked against the same `channels`), and the alerts of the
    same span."""
    from stream_ae.connectors.formats import InputFormat
    from stream_ae.connectors.kafka_range import read_range
    from stream_ae.connectors.kafka_source import decode_message, message_decoder

    k = settings.kafka
    decoder = message_decoder(channels, InputFormat.of(k))
    points = [
        item
        for record in await read_range(k, k.input_topic, since, now)
        for item in decode_message(decoder, record.key, record.value, "retrain")
        if isinstance(item, Point)
    ]
    alerts = [orjson.loads(r.value) for r in await read_range(k, k.alert_topic, since, now + 1)]
    points.sort(key=lambda p: p.ts)  # partitions interleaved back into time order
    return points, alerts


def _move_into(registry: ModelRegistry, path: Path) -> None:
    """Move a staged candidate into the registry under its own name.

    A name is the publish time to the second plus a hash of the weights, so it is
    taken already only when the same model was published in the same second (the
    same data and seed fitted twice): that version is the candidate, and it stays.
    """
    final = registry.root / path.name
    if not final.exists():
        path.rename(final)
        return
    ours = json.loads((path / "manifest.json").read_text())["module_sha256"]
    if registry.get(path.name).manifest.get("module_sha256") != ours:
        raise RetrainError(
            f"{final} already holds a different model under the candidate's name; "
            "nothing was promoted, run the retrain again"
        )
    log.info("the candidate's weights are already published as %s; keeping that one", path.name)


def _record(path: Path, figures: dict[str, Any]) -> None:
    """Add the comparison to the candidate's manifest (the module's hash is unchanged)."""
    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["validation"] = {**manifest["validation"], "holdout": figures}
    manifest_path.write_text(json.dumps(manifest, indent=2))


def _push_metrics(settings: Settings, result: RetrainResult, seconds: float) -> CollectorRegistry:
    """The job's own metrics (a batch job: its own registry), pushed if a gateway is set."""
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(f"stream_ae_retrain_{name}", doc, labels, registry=registry)

    gauge("promoted", "1 if the last candidate was promoted.").set(int(result.promoted))
    gauge("duration_seconds", "Time the last retrain took.").set(seconds)
    gauge("last_run_timestamp_seconds", "When the last retrain ended.").set_to_current_time()
    windows = gauge("windows", "Windows of the last retrain, by use.", ("set",))
    for name in ("train", "holdout", "excluded"):
        windows.labels(set=name).set(result.figures.get(f"{name}_windows", 0))
    p99 = gauge("holdout_error_p99", "99th-percentile holdout error, by model.", ("model",))
    f1 = gauge("holdout_f1", "F1 on the labelled holdout (with labels only), by model.", ("model",))
    for name in ("candidate", "serving"):
        if name in result.figures:
            p99.labels(model=name).set(result.figures[name]["p99"])
            if "f1" in result.figures[name]:
                f1.labels(model=name).set(result.figures[name]["f1"])
    if settings.retrain.pushgateway:
        push_to_gateway(settings.retrain.pushgateway, job="stream-ae-retrain", registry=registry)
    return registry
