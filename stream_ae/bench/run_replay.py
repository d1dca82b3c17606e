"""`stream-ae bench replay`: a user's labelled recording through stream-ae and the
baselines, judged the same way for every detector."""

from __future__ import annotations

import csv
import json
import logging
import math
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path

from stream_ae.bench import detectors
from stream_ae.bench.labelled import Detector, LabelledSeries, Output
from stream_ae.bench.quality import Quality, judge
from stream_ae.bench.recording import Recording
from stream_ae.connectors.timestamps import format_ts
from stream_ae.errors import InputError
from stream_ae.settings import Settings

log = logging.getLogger(__name__)

Replayer = Callable[[Recording, Path], dict[str, Output]]
"""Replays a whole recording (a scratch folder for what it writes): an Output per series."""


def replayers(settings: Settings) -> dict[str, Replayer]:
    """stream-ae runs one detector over all series, as deployed; the baselines (one
    channel only) run one per series."""

    def ours(recording: Recording, scratch: Path) -> dict[str, Output]:
        return detectors.replay_stream_ae(settings, recording.reader(), recording.series, scratch)

    return {
        "stream-ae": ours,
        "rolling-zscore": per_series(detectors.rolling_zscore()),
        "half-space-trees": per_series(detectors.half_space_trees()),
        "dense-ae-4sigma": per_series(detectors.dense_autoencoder()),
    }


def per_series(detector: Detector) -> Replayer:
    def replay(recording: Recording, scratch: Path) -> dict[str, Output]:
        if recording.channels > 1:
            raise InputError(
                f"{recording.path.name} has {recording.channels} value channels; the "
                "baselines take one: replay it with --detectors stream-ae, or pick one "
                "with --value-columns"
            )
        return {name: detector(s, scratch) for name, s in recording.series.items()}

    return replay


def run_replay(
    recording: Recording, out: Path, chosen: Mapping[str, Replayer], tolerance: int
) -> dict[str, tuple[Quality, float]]:
    """Each detector's quality and its replay time in seconds; per-row results go to
    <out>/<detector>.csv and every figure to <out>/quality.json. A detector is handed
    the rows without their labels; the labels only judge what it answered."""
    report = {}
    for name, replay in chosen.items():
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="replay-") as scratch:
            outputs = replay(recording.unlabelled(), Path(scratch))
        seconds = time.perf_counter() - started
        write_rows(out / f"{name}.csv", recording.series, outputs)
        report[name] = (
            judge([(s, outputs[k]) for k, s in recording.series.items()], tolerance),
            seconds,
        )
        log.info("%s replayed in %.1f s", name, seconds)
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(
        json.dumps(
            {
                name: {**asdict(q), **summary(q), "seconds": seconds}
                for name, (q, seconds) in report.items()
            },
            indent=1,
            default=float,
        )
        + "\n"
    )
    return report


def write_rows(
    path: Path, series: Mapping[str, LabelledSeries], outputs: Mapping[str, Output]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        w = csv.writer(handle, lineterminator="\n")
        w.writerow(["series", "timestamp", "anomaly_score", "label", "alert", "in_incident"])
        for name, s in series.items():
            got, labels = outputs[name], s.labels()
            for i in range(len(s.ts)):
                w.writerow(
                    [
                        name,
                        format_ts(float(s.ts[i])),
                        f"{got.anomaly_score[i]:.6f}",
                        int(labels[i]),
                        int(got.alert[i]),
                        int(got.in_incident[i]),
                    ]
                )


def summary(q: Quality) -> dict[str, float]:
    return {
        "point_precision": q.point_precision,
        "point_recall": q.point_recall,
        "point_f1": q.point_f1,
        **q.score_vs_decision(),
        "event_precision": q.event_precision,
        "event_recall": q.event_recall,
        "event_f1": q.event_f1,
        "delay_p50_s": q.delay_s(50),
        "delay_p90_s": q.delay_s(90),
        "alerts_per_day": q.alerts_per_day,
        "false_alerts_per_day": q.false_alerts_per_day,
    }


def cell(v: float, fmt: str) -> str:
    """`v` formatted, or '-' where it is undefined (NaN), right-aligned to the width."""
    text = format(v, fmt)
    return "-".rjust(len(text)) if math.isnan(v) else text


def table(report: Mapping[str, tuple[Quality, float]]) -> str:
    head = (
        f"{'detector':<18} {'point P':>7} {'R':>5} {'F1':>5} {'best F1':>7} {'own/best':>8}  "
        f"{'event P':>7} {'R':>5} {'F1':>5} {'best':>5} {'caught':>7}  {'delay p50':>9}  "
        f"{'alerts/d':>8} {'false/d':>8}  "
        f"{'NAB own':>7} {'NAB best':>8}  {'s':>5}"
    )
    lines = [head, "-" * len(head)]
    for name, (q, seconds) in report.items():
        lines.append(
            f"{name:<18} {cell(q.point_precision, '7.3f')} {cell(q.point_recall, '5.2f')} "
            f"{cell(q.point_f1, '5.2f')} {cell(q.point_best.f1, '7.2f')} "
            f"{cell(q.decision.ratio, '8.2f')}  {cell(q.event_precision, '7.3f')} "
            f"{cell(q.event_recall, '5.2f')} {cell(q.event_f1, '5.2f')} "
            f"{cell(q.event_best_f1, '5.2f')} "
            f"{f'{q.caught}/{q.events}':>7}  {_delay(q.delay_s(50)):>9}  "
            f"{cell(q.alerts_per_day, '8.2f')} {cell(q.false_alerts_per_day, '8.2f')}  "
            f"{cell(q.nab_alerts.get('standard', math.nan), '7.1f')} "
            f"{cell(q.nab_best.get('standard', math.nan), '8.1f')}  {seconds:5.0f}"
        )
    return "\n".join(lines)


def _delay(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"
