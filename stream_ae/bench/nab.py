"""Replay the NAB corpus through a detector and write NAB-format results.

Each file is replayed causally by a fresh detector built from one frozen
configuration. The probation rows (SCORING.md) are where it warms up and fits
its first model; labels are never shown to it, they only join the result files.

Per row a detector gives a continuous `anomaly_score` in [0, 1] (for threshold
sweeps) and its own binary `alert` (for scoring at a fixed threshold of 0.5).
"""

from __future__ import annotations

import csv
import json
import logging
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from stream_ae.bench.labelled import LabelledSeries, Output, windows_of_spans
from stream_ae.bench.nab_scoring import FileRows
from stream_ae.connectors.timestamps import format_ts, parse_ts
from stream_ae.errors import InputError

log = logging.getLogger(__name__)


def load_corpus(root: Path) -> Iterator[LabelledSeries]:
    """Every file of a NAB corpus folder (data/ and labels/combined_windows.json)."""
    labels_path = root / "labels" / "combined_windows.json"
    if not labels_path.is_file():
        raise InputError(
            f"{root} is not a NAB corpus: {labels_path} is missing; give the folder that "
            "holds data/ and labels/"
        )
    windows = json.loads(labels_path.read_text())
    for name in sorted(windows):
        path = root / "data" / name
        if not path.is_file():
            raise InputError(f"the labels name {name}, but {path} is missing")
        yield _read(path, name, windows[name])


def _read(path: Path, name: str, spans: list[list[str]]) -> LabelledSeries:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))[1:]
    ts = np.array([parse_ts(r[0]) for r in rows])
    values = np.array([float(r[1]) for r in rows])
    windows = windows_of_spans(ts, [(parse_ts(start), parse_ts(end)) for start, end in spans])
    return LabelledSeries(name, path, ts, values, windows)


def rolling_rank(scores: np.ndarray, history: int) -> np.ndarray:
    """Each score's rank among the series' previous `history` scores, in [0, 1]: the
    share of them it exceeds. Causal, and 0 until there is a history (or for NaN).

    >>> rolling_rank(np.array([np.nan, 1.0, 2.0, 3.0, 0.5, 4.0]), history=3).tolist()
    [0.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    """
    out = np.zeros(len(scores))
    ordered: list[float] = []
    recent: deque[float] = deque()
    for i, s in enumerate(scores.tolist()):
        if s != s:
            continue
        if ordered:
            out[i] = bisect_left(ordered, s) / len(ordered)
        insort(ordered, s)
        recent.append(s)
        if len(recent) > history:
            ordered.pop(bisect_left(ordered, recent.popleft()))
    return out


def write_results(out: Path, detector: str, f: LabelledSeries, result: Output) -> Path:
    """NAB's layout: <out>/<detector>/<folder>/<detector>_<file>.csv."""
    folder, file = f.name.split("/", 1)
    path = out / detector / folder / f"{detector}_{file}"
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = f.labels()
    with path.open("w", newline="") as handle:
        w = csv.writer(handle, lineterminator="\n")
        w.writerow(["timestamp", "value", "anomaly_score", "label", "alert"])
        for i in range(len(f.ts)):
            w.writerow(
                [
                    format_ts(float(f.ts[i])),
                    f"{f.values[i]:.10g}",
                    f"{result.anomaly_score[i]:.6f}",
                    int(labels[i]),
                    int(result.alert[i]),
                ]
            )
    return path


def scored_rows(f: LabelledSeries, result: Output, alerts: bool = False) -> FileRows:
    """The file as the scorer sees it: continuous scores, or the alerts as 0/1."""
    scores = result.alert.astype(np.float64) if alerts else result.anomaly_score
    return FileRows(scores=scores, windows=f.windows, probation=f.probation)
