"""The decision layer side by side: one recording of the model's scores, many policies.

    python benchmarks/decision_layer.py record-nab ../shared/data/nab out/nab-scores.pkl
    python benchmarks/decision_layer.py record-plant out/plant-scores.pkl
    python benchmarks/decision_layer.py compare out/nab-scores.pkl out/plant-scores.pkl
    python benchmarks/decision_layer.py picture out/plant-scores.pkl out/decision.png
    python benchmarks/decision_layer.py picture out/plant-scores.pkl out/stuck.png sensor_stuck

The model's score does not depend on the decisions made from it, so each corpus is
replayed once through the real detector (NAB: `bench nab`'s causal path, first model
fitted on each file's probation rows; the plant: the demo's, fitted on its clean
steps) and its scores, and those on the fit windows, are kept. `compare` then runs the
real `RollingThreshold` and `AlertPolicy` over the recorded scores, series by series,
under each candidate setting, and prints per candidate:

- NAB: the three profile scores of the own alerts, and point F1 of the own alerts
  (rows inside an open incident) beside the best point F1 of the level at one
  threshold for the corpus;
- the plant: event F1 of the own pages (as the demo counts them), point F1 own and
  best, and per lasting fault kind the median share of the fault an incident covered,
  and the same share counted from the fault's first row inside an incident (how well
  an incident, once open, holds to the fault's end: the rest is detection delay).
"""

from __future__ import annotations

import pickle
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stream_ae import wiring
from stream_ae.bench.nab_scoring import FileRows, score_profiles
from stream_ae.bench.point_f1 import at_flags, best_threshold
from stream_ae.core.alerting import OPENED, QUIET
from stream_ae.core.judging import Judge
from stream_ae.core.records import Point
from stream_ae.core.threshold import level_of
from stream_ae.settings import Settings


@dataclass(frozen=True)
class Recorded:
    """One series: its scored rows and the model's scores on its fit windows."""

    name: str
    ts: np.ndarray
    score: np.ndarray
    fit: np.ndarray
    labels: np.ndarray
    """[rows] bool: inside a labelled anomaly."""
    extra: dict[str, Any]


def record_nab(corpus: Path, out: Path) -> None:
    from stream_ae.bench.detectors import replay_stream_ae
    from stream_ae.bench.nab import load_corpus
    from stream_ae.connectors.files import open_points
    from stream_ae.connectors.scored import read_scored
    from stream_ae.lifecycle.registry import resolve_model
    from stream_ae.model.artifact import load_artifact

    recorded = []
    for f in load_corpus(corpus):
        with tempfile.TemporaryDirectory() as scratch:
            reader = open_points(f.path)
            name = reader.series_default
            replay_stream_ae(Settings(), reader, {name: f.unlabelled()}, Path(scratch))
            _, scored = read_scored(Path(scratch) / "scored.csv")
            model = load_artifact(resolve_model(Path(scratch) / "models"))
            rows = scored[name]
            by_model = np.array([s == "lstm-ae" for s in _scorers(Path(scratch) / "scored.csv")])
        index = np.searchsorted(f.ts, rows.ts)
        recorded.append(
            Recorded(
                f.name,
                rows.ts[by_model],
                rows.score[by_model],
                np.asarray(model.manifest.fit_scores[name]),
                f.labels().astype(bool)[index][by_model],
                {"file": f, "index": index[by_model]},
            )
        )
        print(f.name, flush=True)
    out.write_bytes(pickle.dumps(recorded))


def _scorers(path: Path) -> list[str]:
    import csv

    with path.open(newline="") as handle:
        return [row["scorer"] for row in csv.DictReader(handle)]


def record_plant(out: Path) -> None:
    from stream_ae import wiring
    from stream_ae.model.artifact import load_artifact
    from stream_ae.plant.simulate import CHANNELS, DEMO_SENSORS, DEMO_STEPS, Plant
    from stream_ae.runtime.demo import demo_settings, pretrain

    sim = Plant(DEMO_SENSORS, 0)
    steps = list(sim.points(DEMO_STEPS))
    settings = demo_settings("unused:1", Path(tempfile.mkdtemp()))
    artifact = pretrain(settings, steps[: sim.clean_steps])
    manifest = load_artifact(artifact).manifest
    fit, runs = manifest.fit_scores, manifest.fit_runs
    detector = wiring.detector(settings, CHANNELS, artifact)
    rows: dict[str, list[tuple[float, float]]] = {}
    for k in range(sim.clean_steps, len(steps), 20):
        for s in detector.process([p for step in steps[k : k + 20] for p in step]).scored:
            for name, t, score in zip(s.series, s.ts.tolist(), s.score.tolist(), strict=True):
                rows.setdefault(name, []).append((t, score))
    recorded = []
    sent: dict[str, list[Point]] = {}
    for step in steps:
        for p in step:
            sent.setdefault(p.series, []).append(p)
    for name, got in rows.items():
        ts, score = np.array(got).T
        values = np.array([p.values for p in sent[name]], dtype=np.float32)
        index = np.searchsorted(np.array([p.ts for p in sent[name]]), ts)
        faults = [i for i in sim.truth if i.series == name]
        labels = np.zeros(len(ts), dtype=bool)
        for i in faults:
            labels |= (ts >= i.start_ts) & (ts <= i.end_ts)
        recorded.append(
            Recorded(
                name,
                ts,
                score,
                np.asarray(fit[name]),
                labels,
                {"faults": faults, "values": values, "index": index, "runs": runs.get(name)},
            )
        )
    grace = settings.window.length * sim.interval_s
    out.write_bytes(pickle.dumps({"series": recorded, "grace": grace, "days": sim.sensor_days}))


@dataclass(frozen=True)
class Trace:
    """What the decision layer did at each row of one series."""

    inside: np.ndarray
    opened: np.ndarray
    exponent: np.ndarray
    """The score's tail exponent (0 while warming up); `level_of` makes it the level."""
    threshold: np.ndarray
    reference: np.ndarray
    """The threshold the open incident opened at (NaN when none is open): its scores
    stay out of the history, so the threshold it is resolved against stays there."""


def windows(r: Recorded, length: int) -> tuple[np.ndarray, np.ndarray]:
    """The raw windows the detector saw before the recorded rows (NAB: those the cold
    start scored) and at each recorded row."""
    raw = r.extra["file"].values if "file" in r.extra else r.extra["values"]
    values = np.asarray(raw, dtype=np.float32)
    values = values[:, None] if values.ndim == 1 else values
    index = r.extra["index"]
    first = length - 1 if "file" in r.extra else int(index[0]) if len(index) else 0

    def at(rows: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros((0, length, values.shape[1]), np.float32)
        return np.stack([values[i - length + 1 : i + 1] for i in rows.tolist()])

    return at(np.arange(first, int(index[0]) if len(index) else first)), at(index)


def decide(r: Recorded, settings: Settings) -> Trace:
    """The detector's own judging step (`Judge.turn`), its threshold, stuck-channel
    judge and policy built as the detector builds them, over one recorded series."""
    threshold, policy = wiring.threshold(settings), wiring.alert_policy(settings)
    slot = np.zeros(1, dtype=np.int64)
    threshold.seed(0, r.fit)
    policy.reset(0)
    before, at = windows(r, settings.window.length)
    stuck = wiring.stuck_channels(settings, at.shape[2])
    if stuck is not None and r.extra.get("runs") is not None:  # fitted elsewhere
        stuck.seed(0, np.asarray(r.extra["runs"]))
    for window in before if stuck is not None else ():
        stuck.learn(slot, window[None])
    judge = Judge(policy, settings.alerts.judged_on, stuck)
    n = len(r.score)
    out = Trace(*(np.zeros(n, bool) for _ in range(2)), *(np.zeros(n) for _ in range(3)))
    opened_at = np.nan
    for i in range(n):
        turn = judge.turn(slot, [threshold], [r.score[i : i + 1]], at[i : i + 1], r.ts[i : i + 1])
        out.exponent[i] = np.nan_to_num(turn.exponent)[0]
        out.inside[i] = turn.moves.state[0] != QUIET
        out.opened[i] = turn.moves.state[0] == OPENED
        out.threshold[i] = turn.threshold[0]
        opened_at = turn.threshold[0] if out.opened[i] else opened_at
        out.reference[i] = opened_at if out.inside[i] else np.nan
    return out


def nab_figures(recorded: list[Recorded], settings: Settings) -> str:
    own, continuous, flags, levels, labels = [], [], [], [], []
    for r in recorded:
        got = decide(r, settings)
        inside, opened, level = got.inside, got.opened, level_of(got.exponent)
        f, index = r.extra["file"], r.extra["index"]
        alert, paged = np.zeros(len(f.ts)), np.zeros(len(f.ts))
        alert[index] = opened
        paged[index] = np.where(opened, 0.5 + 0.5 * level, 0.5 * level)
        own.append(FileRows(alert, f.windows, f.probation))
        continuous.append(FileRows(paged, f.windows, f.probation))
        judged = index >= f.probation
        flags.append(inside[judged])
        levels.append(level[judged])
        labels.append(r.labels[judged])
    profiles = score_profiles(continuous, own)
    point_own = at_flags(np.concatenate(flags), np.concatenate(labels)).f1
    point_best = best_threshold(np.concatenate(levels), np.concatenate(labels)).f1
    nab = " / ".join(f"{p.alerts:.1f}" for p in profiles.values())
    return f"NAB {nab}  point F1 {point_own:.3f} vs {point_best:.3f}"


def plant_figures(data: dict[str, Any], settings: Settings) -> str:
    grace, pages, true_pages = data["grace"], 0, 0
    caught, faults = 0, 0
    share: dict[str, list[float]] = {}
    after: dict[str, list[float]] = {}
    flags, levels, labels = [], [], []
    for r in data["series"]:
        got = decide(r, settings)
        inside, opened, level = got.inside, got.opened, level_of(got.exponent)
        flags.append(inside)
        levels.append(level)
        labels.append(r.labels)
        page_ts = r.ts[opened]
        spans = [(i.start_ts, i.end_ts + grace) for i in r.extra["faults"]]
        pages += len(page_ts)
        true_pages += sum(any(lo <= x <= hi for lo, hi in spans) for x in page_ts.tolist())
        for i, (lo, hi) in zip(r.extra["faults"], spans, strict=True):
            faults += 1
            caught += bool(((page_ts >= lo) & (page_ts <= hi)).any())
            rows = (r.ts >= i.start_ts) & (r.ts <= i.end_ts)
            if rows.any():
                share.setdefault(i.kind, []).append(float(inside[rows].mean()))
                during = inside[rows]
                if during.any():  # from the first row inside an incident to the fault's end
                    after.setdefault(i.kind, []).append(float(during[np.argmax(during) :].mean()))
    precision, recall = true_pages / max(pages, 1), caught / max(faults, 1)
    event = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    point_own = at_flags(np.concatenate(flags), np.concatenate(labels)).f1
    point_best = best_threshold(np.concatenate(levels), np.concatenate(labels)).f1
    lasting = "  ".join(f"{k} {np.median(v):.2f}" for k, v in sorted(share.items()))
    held = "  ".join(f"{k} {np.median(v):.2f}" for k, v in sorted(after.items()))
    return (
        f"plant event F1 {event:.3f}  point F1 {point_own:.3f} vs {point_best:.3f}"
        f"  open share: {lasting}  |  open share once open: {held}"
    )


CANDIDATES: dict[str, dict[str, Any]] = {
    "default": {},
    "judged on the score": {"alerts": {"judged_on": "score", "open_ratio": 1.2, "hold_ratio": 1.5}},
    "hold at 2x": {"alerts": {"hold_ratio": 2.0}},
    "hold only incidents": {"alerts": {"hold_ratio": 1e9}},
    "no hold after an incident": {"alerts": {"hold_after": 0}},
    "hold every exceedance": {"alerts": {"hold_ratio": 1.0}},
    "no hysteresis": {"alerts": {"resolve_ratio": 1.0}},
    "never escape": {"threshold": {"escape_after": 10**9}},
    "never return": {"threshold": {"return_after": None}},
    "rise unlimited": {"threshold": {"rise_limit": None}},
    "rise limit 1.0": {"threshold": {"rise_limit": 1.0}},
    "rise per score": {"threshold": {"rise_span": None}},
}
"""Settings changed from the defaults, per candidate."""


def compare(paths: list[Path]) -> None:
    corpora = [pickle.loads(p.read_bytes()) for p in paths]
    for name in CANDIDATES:
        settings = candidate(name)
        cells = [
            nab_figures(c, settings) if isinstance(c, list) else plant_figures(c, settings)
            for c in corpora
        ]
        print(f"{name:<28} " + "  |  ".join(cells), flush=True)


def candidate(name: str) -> Settings:
    """The default settings with one candidate's changes."""
    base, change = Settings(), CANDIDATES[name]
    return base.model_copy(
        update={
            "threshold": base.threshold.model_copy(update=change.get("threshold", {})),
            "alerts": base.alerts.model_copy(update=change.get("alerts", {})),
        }
    )


def picture(plant: Path, out: Path, kind: str = "valve_closing") -> None:
    """Score, threshold, reference of normal and incident around the longest fault of
    `kind` on the plant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = pickle.loads(plant.read_bytes())
    r, fault = max(
        ((r, i) for r in data["series"] for i in r.extra["faults"] if i.kind == kind),
        key=lambda pair: pair[1].end_ts - pair[1].start_ts,
    )
    settings = Settings()
    got = decide(r, settings)
    hours = (r.ts - r.ts[0]) / 3600.0
    start, end = ((x - r.ts[0]) / 3600.0 for x in (fault.start_ts, fault.end_ts))
    fig, (ax, below) = plt.subplots(
        2, 1, figsize=(10, 5.4), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    ax.plot(hours, r.score, lw=0.8, color="0.35", label="score")
    ax.plot(hours, got.threshold, lw=1.4, color="tab:orange", label="threshold")
    ax.plot(hours, got.reference, lw=2.2, color="tab:red", label="threshold it opened at")
    top = float(np.nanquantile(r.score, 0.999)) * 1.2
    ceiling = 3 * settings.alerts.open_ratio
    below.plot(hours, np.minimum(got.exponent, ceiling), lw=0.8, color="0.35")
    a = settings.alerts
    below.axhline(a.open_ratio, color="tab:red", lw=1, ls="--", label=f"opens at {a.open_ratio}")
    below.axhline(
        a.resolve_ratio, color="tab:green", lw=1, ls="--", label=f"calm at {a.resolve_ratio}"
    )
    for axis, height in ((ax, top), (below, ceiling)):
        axis.axvspan(
            start, end, color="tab:blue", alpha=0.12, label=f"{kind.replace('_', ' ')} fault"
        )
        axis.fill_between(
            hours, 0, height, where=got.inside, color="tab:red", alpha=0.12, label="incident open"
        )
        axis.set_ylim(0, height)
    ax.set_ylabel("score")
    below.set_ylabel("tail exponent")
    below.set_xlabel("hours after the fit")
    what = kind.replace("_", " ")
    ax.set_title(f"{r.name}: {what}, {(end - start) * 60:.0f} minutes")
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    below.legend(loc="upper left", fontsize=8, ncol=4)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["record-nab", corpus, out]:
            record_nab(Path(corpus), Path(out))
        case ["record-plant", out]:
            record_plant(Path(out))
        case ["picture", plant, out, *kind] if len(kind) <= 1:
            picture(Path(plant), Path(out), *kind)
        case ["compare", *paths] if paths:
            compare([Path(p) for p in paths])
        case _:
            sys.exit(__doc__)
