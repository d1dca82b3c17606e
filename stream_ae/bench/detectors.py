"""The detectors the NAB harness replays: stream-ae itself, and the baselines.

Every one sees a file's rows in order, learns only from rows before the one it
scores, and uses the probation rows (and nothing else it is told) to warm up.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from stream_ae.bench.labelled import Detector, LabelledSeries, Output, flagged
from stream_ae.bench.nab import rolling_rank
from stream_ae.connectors.files import PointReader, open_points
from stream_ae.connectors.scored import ScoredSeries, read_scored
from stream_ae.settings import Settings


def stream_ae(settings: Settings, score: str = "policy") -> Detector:
    """The real detector (`stream-ae detect`'s path) on one file of one series: cold
    start on the probation rows, its first model fitted on them, then row by row.

    The anomaly score, from the row's graded `level` in [0, 1] (0.5 at the series'
    threshold, a tail probability under its reference of normal):
    - "policy": 0.5 + level / 2 on rows where the alert policy opened an incident,
      level / 2 elsewhere: a threshold of 0.5 gives exactly the detector's own
      alerts, and a sweep ranks the pages by how unusual they were, or adds rows the
      policy did not page for. NAB counts every flagged row outside a window as a
      false positive, so a per-row score that stays high through an anomaly (as
      `level` does) scores far lower there: 5 against 59 at its best threshold;
      Point-wise figures sweep the level itself (`Output.point_score`);
    - "level": the level itself;
    - "rank": the error's rank among the series' last `threshold.history` errors.
    """

    def replay(f: LabelledSeries, scratch: Path) -> Output:
        reader = open_points(f.path)
        return replay_stream_ae(settings, reader, {reader.series_default: f}, scratch, score)[
            reader.series_default
        ]

    return replay


def replay_stream_ae(
    settings: Settings,
    reader: PointReader,
    series: Mapping[str, LabelledSeries],
    scratch: Path,
    score: str = "policy",
) -> dict[str, Output]:
    """One detector over every series of a file, as a deployment runs them. Its first
    model fits on what `model.fit_points`, `fit_span_s` or `fit_until` names (`bench
    replay --fit-points` ...), else once the file has given as many windows as all
    series' probation rows hold (with the series interleaved in time, that is when each
    has passed probation)."""
    from stream_ae.runtime.detect_job import DetectJob

    fills = settings.window.length - 1
    fit_after = max(16, sum(max(1, s.probation - fills) for s in series.values()))
    model = settings.model.model_copy(
        update={"fit_after_windows": fit_after, "artifact_dir": scratch / "models"}
    )
    cold = settings.cold_start.model_copy(update={"fit_mode": "wait"})
    run = settings.model_copy(update={"model": model, "cold_start": cold})
    DetectJob(reader, run, scratch, echo_alerts=False).run(progress=False)
    _, scored = read_scored(scratch / "scored.csv")
    return {
        name: _output(s, scored.get(name), settings.threshold.history, score)
        for name, s in series.items()
    }


def _output(s: LabelledSeries, scored: ScoredSeries | None, history: int, score: str) -> Output:
    """The scored rows laid on the series' rows; rows the detector refused or had no
    window (or no threshold) for yet keep a score of 0."""
    error = np.full(len(s.ts), np.nan)
    level = np.zeros(len(s.ts))
    opened = np.zeros(len(s.ts), dtype=np.int8)
    within = np.zeros(len(s.ts), dtype=np.int8)
    if scored is not None:
        row_of = {t: i for i, t in reversed(list(enumerate(s.ts.tolist())))}
        taken = set()
        incident = scored.in_incident
        for j, t in enumerate(scored.ts.tolist()):
            i = row_of.get(t)
            if i is None or i in taken:  # a repeated timestamp was refused: its first row
                continue
            taken.add(i)
            error[i], level[i] = scored.score[j], scored.level[j]
            opened[i], within[i] = scored.state[j] == "open", incident[j]
    if score == "rank":
        return Output(rolling_rank(error, history), opened, within)
    level = np.nan_to_num(level, nan=0.0)
    if score == "level":
        return Output(level, opened, within)
    paged = np.where(opened == 1, 0.5 + 0.5 * level, 0.5 * level)
    return Output(paged, opened, within, point_score=level)


def rolling_zscore(window: int = 288, alert_z: float = 4.0) -> Detector:
    """|x - mean| / std over the previous `window` rows; the score is erf(z / sqrt 2),
    the alert z > `alert_z` (the tutorials' 4 sigma)."""

    def replay(f: LabelledSeries, scratch: Path) -> Output:
        recent: deque[float] = deque(maxlen=window)
        score = np.zeros(len(f.values))
        for i, x in enumerate(f.values.tolist()):
            if len(recent) >= 2:
                mean = sum(recent) / len(recent)
                std = math.sqrt(sum((v - mean) ** 2 for v in recent) / (len(recent) - 1))
                z = abs(x - mean) / std if std > 0 else (0.0 if x == mean else math.inf)
                score[i] = math.erf(z / math.sqrt(2)) if math.isfinite(z) else 1.0
            recent.append(x)
        alert = score > math.erf(alert_z / math.sqrt(2))
        return flagged(score, alert)

    return replay


def half_space_trees(
    trees: int = 25, height: int = 8, window: int = 250, seed: int = 0
) -> Detector:
    """river's HalfSpaceTrees on the value scaled by the probation rows' range; its own
    score in [0, 1], the alert above that score's 99th percentile over probation."""

    def replay(f: LabelledSeries, scratch: Path) -> Output:
        from river.anomaly import HalfSpaceTrees

        model = HalfSpaceTrees(n_trees=trees, height=height, window_size=window, seed=seed)
        head = f.values[: max(f.probation, 2)]
        lo, span = float(head.min()), float(head.max() - head.min()) or 1.0
        score = np.zeros(len(f.values))
        for i, x in enumerate(f.values.tolist()):
            features = {"x": (x - lo) / span}
            score[i] = model.score_one(features)
            model.learn_one(features)
        bar = (
            float(np.quantile(score[window : max(f.probation, window + 1)], 0.99))
            if f.probation > window
            else 1.0
        )
        return flagged(score, score > bar)

    return replay


def dense_autoencoder(window: int = 32, sigmas: float = 4.0) -> Detector:
    """The tutorials' method: a dense autoencoder fitted on the probation rows' windows
    (scaled by their mean and std), alerting where the error exceeds the training
    errors' mean + 4 sigma. The score is r / (1 + r) for r = error / that threshold."""

    def replay(f: LabelledSeries, scratch: Path) -> Output:
        from stream_ae.model.dense import dense_errors, fit_dense

        head = f.values[: f.probation]
        mean, std = float(head.mean()), float(head.std()) or 1.0
        x = (f.values - mean) / std
        windows = np.lib.stride_tricks.sliding_window_view(x, window)  # row i + window - 1 ends it
        train = windows[: max(f.probation - window + 1, 1)]
        model = fit_dense(np.ascontiguousarray(train))
        reference = dense_errors(model, np.ascontiguousarray(train))
        bar = float(reference.mean() + sigmas * reference.std()) or 1e-12
        ratio = np.zeros(len(x))
        ratio[window - 1 :] = dense_errors(model, np.ascontiguousarray(windows)) / bar
        return flagged(ratio / (1 + ratio), ratio > 1)

    return replay
