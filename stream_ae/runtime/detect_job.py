"""`stream-ae detect FILE`: the whole detection path over a recorded file, no broker."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stream_ae import wiring
from stream_ae.connectors.dead_letters import point_raw
from stream_ae.connectors.files import DEFAULT_COLUMNS, Columns, PointReader
from stream_ae.connectors.scored import ScoredCsvWriter
from stream_ae.connectors.writers import AlertWriter, RejectWriter
from stream_ae.core.alerting import STATE_NAMES
from stream_ae.core.detector import Detector
from stream_ae.core.output import Output
from stream_ae.core.records import AlertState, Point, PointColumns, Rejection
from stream_ae.errors import InputError, StreamAEError
from stream_ae.ratelimit import RateLimitedLog
from stream_ae.runtime.console import describe
from stream_ae.runtime.first_fit import FirstFit
from stream_ae.runtime.guard import log_eviction, process_guarded
from stream_ae.settings import Settings

log = logging.getLogger(__name__)


class FirstFitFailed(StreamAEError):
    """`detect` fitted no model: the run ended there, its outputs so far written."""

    exit_status = 1


@dataclass
class DetectSummary:
    """What a run did; written as summary.json and printed."""

    file: str
    points_read: int = 0
    points_scored: int = 0
    points_refused: int = 0
    """Of the points read, those the detector refused (rows the reader refused were
    never points and are not among points_read)."""
    rejected: dict[str, int] = field(default_factory=dict)
    alerts_opened: int = 0
    alerts_resolved: int = 0
    severity: dict[str, int] = field(default_factory=dict)
    scored_by: dict[str, int] = field(default_factory=dict)
    model_version: str = ""
    model_artifact: str = ""
    elapsed_s: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    error: str = ""
    """Why the run ended early (the first model fit failed), else empty."""

    @property
    def points_per_s(self) -> float:
        return self.points_read / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def text(self) -> str:
        rejected = ", ".join(f"{k} {v}" for k, v in sorted(self.rejected.items())) or "none"
        scorers = ", ".join(f"{k} {v}" for k, v in sorted(self.scored_by.items())) or "none"
        severity = ", ".join(f"{k} {v}" for k, v in sorted(self.severity.items())) or "none"
        lines = [
            f"file            {self.file}",
            f"points          {self.points_read} read, {self.points_scored} scored "
            f"({self.points_per_s:,.0f} points/s over {self.elapsed_s:.1f} s)",
            f"rejected        {rejected}",
            f"scored by       {scorers}",
            f"model           {self.model_version or 'none'} {self.model_artifact}".rstrip(),
            f"alerts          {self.alerts_opened} opened, {self.alerts_resolved} resolved "
            f"(severity: {severity})",
        ]
        lines += [f"{name:<16}{path}" for name, path in self.outputs.items()]
        return "\n".join(lines)


class _Outputs:
    """The files one run writes, opened together and closed together."""

    def __init__(self, out_dir: Path, channels: Sequence[str]) -> None:
        self.paths = {
            "alerts": out_dir / "alerts.jsonl",
            "scored": out_dir / "scored.csv",
            "rejects": out_dir / "rejects.jsonl",
            "summary": out_dir / "summary.json",
        }
        self.alerts = AlertWriter(self.paths["alerts"])
        self.scored = ScoredCsvWriter(self.paths["scored"], channels)
        self.rejects = RejectWriter(self.paths["rejects"])

    def close(self) -> None:
        for writer in (self.alerts, self.scored, self.rejects):
            writer.close()


class DetectJob:
    """Streams a file through a detector in micro-batches and records everything."""

    def __init__(
        self,
        reader: PointReader,
        settings: Settings,
        out_dir: Path,
        *,
        artifact: Path | None = None,
        echo_alerts: bool = True,
    ) -> None:
        if not reader.channels:
            raise InputError(
                f"{reader.path} holds no valid point, so its channels are unknown; "
                "check the rejects or the file's format"
            )
        self.reader = reader
        self.settings = settings
        self.out_dir = out_dir
        self.echo_alerts = echo_alerts
        self.detector: Detector = wiring.detector(settings, reader.channels, artifact)
        self.summary = DetectSummary(file=str(reader.path))
        if artifact is not None:
            self.summary.model_artifact = str(artifact)
        self._first_fit: FirstFit | None = None
        if artifact is None:
            background = settings.cold_start.fit_mode == "background"
            fit = wiring.first_fit(
                settings,
                reader.channels,
                lineage={"source": str(reader.path)},
                # A fit that pauses the stream may show its own bar; one in the
                # background would tangle with the stream's.
                progress=False if background else None,
            )
            self._first_fit = FirstFit(
                self.detector,
                fit,
                blocking=not background,
                seed=settings.threshold.seed_from_fit,
            )
        self._limited = RateLimitedLog(log)
        self.detector.store.on_evict = self._on_evict
        self._rejected: Counter[str] = Counter()
        self._severity: Counter[str] = Counter()
        self._scored_by: Counter[str] = Counter()
        self._series: set[str] = set()
        self._shown = 0
        """Points of the batch being formed that the collector has been shown."""

    def run(self, progress: bool | None = None) -> DetectSummary:
        started = time.perf_counter()
        outputs = _Outputs(self.out_dir, self.reader.channels)
        show = sys.stderr.isatty() if progress is None else progress
        failed: FirstFitFailed | None = None
        try:
            with tqdm(desc="detect", unit=" pt", disable=not show, mininterval=0.5) as bar:
                # Points left over from the last chunk join the next one, and a refused
                # row is written after the batches that ended before it was read: the
                # micro-batches and the outputs are those of reading point by point.
                points = PointColumns.of([], len(self.reader.channels))
                lines: list[int] = []
                refused: list[tuple[int, Rejection]] = []  # (points before it, the row)
                for chunk in self.reader.chunks(self.settings.files.batch_points):
                    refused += [
                        (len(points) + at, r)
                        for at, r in zip(chunk.refused_at, chunk.refused, strict=True)
                    ]
                    points = PointColumns.join(points, chunk.points)
                    lines = lines + chunk.lines
                    start = 0
                    while (stop := self._batch_end(points, start)) is not None:
                        refused = self._reject_before(outputs, refused, stop)
                        self._step(outputs, points.rows(start, stop), lines[start:stop])
                        bar.update(stop - start)
                        start = stop
                    points, lines = points.rows(start, len(points)), lines[start:]
                    refused = [(at - start, r) for at, r in refused]
                self._reject_before(outputs, refused, len(points) + 1)
                self._step(outputs, points, lines)
                bar.update(len(points))
            if self._first_fit is not None:
                self._first_fit.wait()  # let a started fit publish its artifact
                self._check_fit()
        except FirstFitFailed as exc:
            failed = exc
        finally:
            if self._first_fit is not None:
                self._first_fit.close()
            outputs.close()
        s = self.summary
        if s.points_read == 0 and not self._rejected:
            raise InputError(f"{self.reader.path} has no data rows; nothing to score")
        s.elapsed_s = time.perf_counter() - started
        s.rejected, s.severity = dict(self._rejected), dict(self._severity)
        s.scored_by = dict(self._scored_by)
        s.model_version = self.detector.serving.version
        if self._first_fit is not None and self._first_fit.installed is not None:
            version = self._first_fit.installed.scorer.version
            s.model_artifact = str(self.settings.model.artifact_dir / version)
        s.outputs = {k: str(v) for k, v in outputs.paths.items()}
        if self._first_fit is None and self.settings.threshold.seed_from_fit:
            self._say_unseeded()
        s.error = "" if failed is None else str(failed)
        outputs.paths["summary"].write_text(json.dumps(asdict(s), indent=2) + "\n")
        if failed is not None:
            raise failed
        return s

    def _say_unseeded(self) -> None:
        """Name the series a given model was not fitted on: they warmed up on their own
        scores before they could alert, which a short file may never finish."""
        known = self.detector.lanes[0].fit_scores
        unseeded = sorted(self._series - set(known))
        if not unseeded:
            return
        fitted = ", ".join(sorted(known)[:5]) or "none (an older model without fit scores)"
        log.warning(
            "%d series the model was not fitted on (%s) warmed up on their own scores before "
            "they could alert; it was fitted on %s. Give the series the name it had in the "
            "fit (--series) to judge it from its first window",
            len(unseeded),
            ", ".join(unseeded[:5]),
            fitted,
        )

    def _check_fit(self) -> None:
        """End the run when the first fit failed: without a model the rest of the file
        would be judged by the cold-start scorer alone, which is not what was asked."""
        error = None if self._first_fit is None else self._first_fit.error
        if error is not None:
            raise FirstFitFailed(
                f"the first model fit failed ({type(error).__name__}: {error}) after "
                f"{self.summary.points_read} points; the outputs so far are in "
                f"{self.out_dir}. Fix the cause (the log above says more), or pass a "
                "fitted model with --model."
            ) from error

    def _batch_points(self) -> int:
        """Points per micro-batch; smaller while a first model's data is being
        collected, so a waiting fit starts at the window that completed it."""
        collector = self.detector.collector
        full = self.settings.files.batch_points
        to_go = None if self._first_fit is None or collector is None else collector.points_to_go()
        return full if to_go is None else max(1, min(full, to_go))

    def _reject_before(
        self, outputs: _Outputs, refused: list[tuple[int, Rejection]], stop: int
    ) -> list[tuple[int, Rejection]]:
        """Write the refused rows read before point `stop`; the others stay."""
        for _, rejection in (pair for pair in refused if pair[0] < stop):
            self._reject(outputs, rejection)
        return [pair for pair in refused if pair[0] >= stop]

    def _batch_end(self, points: PointColumns, start: int) -> int | None:
        """Where the micro-batch from `start` ends: at `_batch_points` points, or at the
        point that completes the part of a series named normal (model.fit_*), so the
        model judges from the next point; None if `points` end before either. While
        that part is collected the collector is shown each point once, as it is read
        (`_shown` of the batch so far); when the detector takes it, the same time
        again is not counted twice."""
        collector = self.detector.collector
        if self._first_fit is None or collector is None or not collector.watching:
            stop = start + self._batch_points()
        else:
            stop = len(points) + 1
            for i in range(start + self._shown, len(points)):
                if i - start + 1 >= self._batch_points():
                    stop = i + 1
                    break
                collector.see(points.series[i], float(points.ts[i]))
                if collector.ready:
                    stop = i + 1
                    break
        if stop > len(points):
            self._shown = len(points) - start
            return None
        self._shown = 0
        return stop

    def _step(self, outputs: _Outputs, points: PointColumns, lines: list[int]) -> None:
        """Score `points`, read from the file's `lines`."""
        out = process_guarded(self.detector, points, self._limited)
        self.summary.points_read += len(points)
        self.summary.points_refused += len({index for index, _ in out.rejected})
        for index, rejection in out.rejected:
            raw = point_raw(points[index], self.reader.channels)
            source = self.reader.source(lines[index])
            self._reject(outputs, replace(rejection, source=source, raw=raw))
        self._record(outputs, out)
        if self._first_fit is not None:
            self._first_fit.poll()
            self._check_fit()

    def _on_evict(self, series: str, reason: str) -> None:
        log_eviction(self._limited, series, reason)

    def _reject(self, outputs: _Outputs, rejection: Rejection) -> None:
        outputs.rejects.write(rejection)
        self._rejected[rejection.reason.value] += 1
        log.debug("rejected %s: %s", rejection.source, rejection.detail)

    def _record(self, outputs: _Outputs, out: Output) -> None:
        for scored in out.scored:
            self.summary.points_scored += len(scored)
            self._series.update(scored.series)
            self._scored_by.update(scored.scorer)
            scores, thresholds = scored.score.tolist(), scored.threshold.tolist()
            levels = scored.level.tolist()
            # Values come back from the float32 windows: print float32's 7 digits.
            values = [[float(f"{v:.7g}") for v in row] for row in scored.values.tolist()]
            states = scored.state.tolist()
            for i, series in enumerate(scored.series):
                outputs.scored.write(
                    Point(series, float(scored.ts[i]), tuple(values[i])),
                    None if np.isnan(scores[i]) else scores[i],
                    None if np.isnan(thresholds[i]) else thresholds[i],
                    STATE_NAMES[states[i]],
                    scored.scorer[i],
                    None if np.isnan(levels[i]) else levels[i],
                )
        for alert in out.alerts:
            outputs.alerts.write(alert)
            if alert.state is AlertState.OPEN:
                self.summary.alerts_opened += 1
                self._severity[alert.severity.value] += 1
            else:
                self.summary.alerts_resolved += 1
            if self.echo_alerts:
                print(describe(alert), file=sys.stderr)


def run_detect(
    path: Path,
    settings: Settings,
    out_dir: Path,
    *,
    artifact: Path | None = None,
    columns: Columns = DEFAULT_COLUMNS,
    progress: bool | None = None,
    echo_alerts: bool = True,
    announce: Callable[[str], object] | None = None,
) -> DetectSummary:
    """Score the file at `path` into `out_dir`. `announce` is handed, before any point is
    read, the line saying how the file is read (its separator and channels), so a wrong
    guess shows before the run rather than after."""
    reader = columns.open(path)
    if announce is not None:
        announce(reader.describe())
    settings = with_model_home(settings, out_dir)
    job = DetectJob(reader, settings, out_dir, artifact=artifact, echo_alerts=echo_alerts)
    return job.run(progress)


def with_model_home(settings: Settings, out_dir: Path) -> Settings:
    """`detect` keeps the model it fits with its outputs (`<out>/models`), not in the
    registry `stream-ae run` serves from, unless `model.artifact_dir` was set on purpose
    (in the file, the environment, or `--model-dir`): a local experiment must not
    change what production serves."""
    if "artifact_dir" in settings.model.model_fields_set:
        return settings
    model = settings.model.model_copy(update={"artifact_dir": out_dir / "models"})
    return settings.model_copy(update={"model": model})
