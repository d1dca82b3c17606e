"""`stream-ae bench nab`: replay the corpus through each detector, score, compare."""

from __future__ import annotations

import fnmatch
import json
import logging
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stream_ae.bench import detectors
from stream_ae.bench.labelled import Detector, LabelledSeries, Output
from stream_ae.bench.nab import load_corpus, scored_rows, write_results
from stream_ae.bench.nab_scoring import PROFILES, FileRows, score_profiles
from stream_ae.bench.quality import judge
from stream_ae.bench.run_replay import cell
from stream_ae.settings import Settings

log = logging.getLogger(__name__)


def all_detectors(settings: Settings) -> dict[str, Detector]:
    return {
        "stream-ae": detectors.stream_ae(settings),
        "stream-ae-rank": detectors.stream_ae(settings, score="rank"),
        "rolling-zscore": detectors.rolling_zscore(),
        "half-space-trees": detectors.half_space_trees(),
        "dense-ae-4sigma": detectors.dense_autoencoder(),
    }


@dataclass
class DetectorScores:
    name: str
    seconds: float = 0.0
    continuous: dict[str, float] = field(default_factory=dict)
    """Normalised score per profile at the corpus-optimised threshold."""
    thresholds: dict[str, float] = field(default_factory=dict)
    alerts: dict[str, float] = field(default_factory=dict)
    """Normalised score per profile of the detector's own alerts."""
    decision: dict[str, float] = field(default_factory=dict)
    """Point and event F1 of the own alerts, the best of the score at one threshold for
    the whole corpus, that threshold, and own / best (`Quality.score_vs_decision`; an
    event is a window, caught by an incident open in it, a page true inside one)."""


def run_nab(
    corpus: Path,
    out: Path,
    chosen: Mapping[str, Detector],
    files: str = "*",
) -> list[DetectorScores]:
    """Replay every file matching `files` through each detector; write NAB-format
    results under `out` and return the scores. A detector is handed a file's rows
    without its windows; the windows only score what it answered."""
    corpus_files = [f for f in load_corpus(corpus) if fnmatch.fnmatch(f.name, files)]
    if not corpus_files:
        raise ValueError(f"no corpus file matches {files!r}")
    report = []
    for name, replay in chosen.items():
        started = time.perf_counter()
        continuous: list[FileRows] = []
        own: list[FileRows] = []
        answered: list[tuple[LabelledSeries, Output]] = []
        for f in corpus_files:
            with tempfile.TemporaryDirectory(prefix="nab-") as scratch:
                result = replay(f.unlabelled(), Path(scratch))
            answered.append((f, result))
            write_results(out, name, f, result)
            continuous.append(scored_rows(f, result))
            own.append(scored_rows(f, result, alerts=True))
            log.info("%s: %s replayed", name, f.name)
        scores = DetectorScores(name, seconds=time.perf_counter() - started)
        scores.decision = judge(answered, tolerance=0, nab=False).score_vs_decision()
        for profile, got in score_profiles(continuous, own).items():
            scores.continuous[profile] = got.best.normalised
            scores.thresholds[profile] = got.best.threshold
            scores.alerts[profile] = got.alerts
        report.append(scores)
    (out / "scores.json").write_text(
        json.dumps([s.__dict__ for s in report], indent=2, default=float) + "\n"
    )
    return report


def scoreboard(scoring_md: Path) -> list[tuple[str, list[str]]]:
    """The published rows of SCORING.md's scoreboard table: (detector, [3 scores])."""
    rows = []
    for line in scoring_md.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"-?[\d.]+", cells[1]):
            rows.append((cells[0], cells[1:]))
    return rows


def table(report: list[DetectorScores], published: list[tuple[str, list[str]]]) -> str:
    """Our rows (optimised threshold, and own alerts) among the published ones."""
    names = [p.name for p in PROFILES]
    rows = [(d, [float(v) for v in vals], "published") for d, vals in published]
    for s in report:
        rows.append((s.name, [s.continuous[n] for n in names], "this run, best threshold"))
        rows.append((f"{s.name} alerts", [s.alerts[n] for n in names], "this run, own alerts"))
    rows.sort(key=lambda r: -r[1][0])
    lines = [f"{'detector':<28} {'standard':>9} {'low FP':>9} {'low FN':>9}  source", "-" * 80]
    for d, vals, source in rows:
        lines.append(f"{d:<28} " + " ".join(f"{v:>9.1f}" for v in vals) + f"  {source}")
    return "\n".join(lines)


def decision_table(report: list[DetectorScores]) -> str:
    """Per detector, what its own alerts keep of its score: the standard profile, point
    F1 and event F1, each at the own alerts and at the score's best threshold for the
    whole corpus."""
    head = (
        f"{'detector':<20} {'NAB own':>7} {'best':>6}  {'point F1 own':>12} {'best':>5} "
        f"{'at score':>9} {'own/best':>8}  {'event F1 own':>12} {'best':>5} {'own/best':>8}"
    )
    lines = [head, "-" * len(head)]
    for s in report:
        d = s.decision
        lines.append(
            f"{s.name:<20} {s.alerts['standard']:7.1f} {s.continuous['standard']:6.1f}  "
            f"{cell(d['point_f1_own'], '12.3f')} {cell(d['point_f1_best'], '5.3f')} "
            f"{cell(d['point_f1_best_threshold'], '9.4g')} {cell(d['point_f1_ratio'], '8.2f')}  "
            f"{cell(d['event_f1_own'], '12.3f')} {cell(d['event_f1_best'], '5.3f')} "
            f"{cell(d['event_f1_ratio'], '8.2f')}"
        )
    return "\n".join(lines)
