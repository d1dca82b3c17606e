"""The detectors the NAB harness replays: stream-ae itself, and the baselines.

Every one sees a file's rows in order, learns only from rows before the one it
scores, and uses the probation rows (and nothing else it is told) to warm up.
"""

from __future__ import annotations

import csv
import math
from collections import deque
from pathlib import Path

import numpy as np

from stream_ae.bench.nab import Detector, NabFile, Output, rolling_rank
from stream_ae.connectors.files import open_points
from stream_ae.connectors.timestamps import parse_ts
from stream_ae.settings import Settings


def stream_ae(settings: Settings, score: str = "policy") -> Detector:
    """The real detector (`stream-ae detect`'s path): cold start on the probation rows,
    its first model fitted on them, then scored row by row.

    The anomaly score, from r = error / the series' threshold at that row:
    - "policy": r / (1 + r) on rows where the alert policy opened an incident (above
      0.5 there), half that elsewhere (below 0.5): a threshold of 0.5 gives exactly
      the detector's own alerts, and a sweep keeps only the stronger ones, or adds
      exceedances the policy did not page for;
    - "rank": the error's rank among the series' last `threshold.history` errors.
    """
    from stream_ae.runtime.detect_job import DetectJob

    def replay(f: NabFile, scratch: Path) -> Output:
        fit_after = max(16, f.probation - settings.window.length + 1)
        model = settings.model.model_copy(
            update={"fit_after_windows": fit_after, "artifact_dir": scratch / "models"}
        )
        cold = settings.cold_start.model_copy(update={"fit_mode": "wait"})
        run = settings.model_copy(update={"model": model, "cold_start": cold})
        DetectJob(open_points(f.path), run, scratch, echo_alerts=False).run(progress=False)
        error, threshold, opened = _scored(scratch / "scored.csv", f.ts)
        if score == "rank":
            return Output(rolling_rank(error, settings.threshold.history), opened)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.nan_to_num(error / threshold, nan=0.0, posinf=0.0)
        squashed = r / (1.0 + r)
        return Output(np.where(opened == 1, squashed, 0.5 * squashed), opened)

    return replay


def _scored(path: Path, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Errors, thresholds and opened alerts by row; rows the detector refused or had
    no window (or no threshold) for yet keep NaN and 0."""
    by_ts: dict[float, tuple[float, float, bool]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["score"]:
                by_ts.setdefault(
                    parse_ts(row["timestamp"]),
                    (
                        float(row["score"]),
                        float(row["threshold"]) if row["threshold"] else math.nan,
                        row["alert_state"] == "open",
                    ),
                )
    error = np.full(len(ts), np.nan)
    threshold = np.full(len(ts), np.nan)
    opened = np.zeros(len(ts), dtype=np.int8)
    for i, t in enumerate(ts.tolist()):
        hit = by_ts.pop(t, None)  # a repeated timestamp was refused: only its first row
        if hit is not None:
            error[i], threshold[i], opened[i] = hit[0], hit[1], hit[2]
    return error, threshold, opened


def rolling_zscore(window: int = 288, alert_z: float = 4.0) -> Detector:
    """|x - mean| / std over the previous `window` rows; the score is erf(z / sqrt 2),
    the alert z > `alert_z` (the tutorials' 4 sigma)."""

    def replay(f: NabFile, scratch: Path) -> Output:
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
        return Output(score, _openings(alert))

    return replay


def half_space_trees(
    trees: int = 25, height: int = 8, window: int = 250, seed: int = 0
) -> Detector:
    """river's HalfSpaceTrees on the value scaled by the probation rows' range; its own
    score in [0, 1], the alert above that score's 99th percentile over probation."""

    def replay(f: NabFile, scratch: Path) -> Output:
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
        return Output(score, _openings(score > bar))

    return replay


def _openings(flag: np.ndarray) -> np.ndarray:
    """1 where a run of raised rows starts: one page per run, as the detectors send."""
    flag = flag.astype(bool)
    start = flag & ~np.concatenate([[False], flag[:-1]])
    return start.astype(np.int8)


def dense_autoencoder(window: int = 32, sigmas: float = 4.0) -> Detector:
    """The tutorials' method: a dense autoencoder fitted on the probation rows' windows
    (scaled by their mean and std), alerting where the error exceeds the training
    errors' mean + 4 sigma. The score is r / (1 + r) for r = error / that threshold."""

    def replay(f: NabFile, scratch: Path) -> Output:
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
        return Output(ratio / (1 + ratio), _openings(ratio > 1))

    return replay
