"""Own alerts beside the best single threshold on the score, as event F1 (NAB and the plant).

    stream-ae bench nab ../shared/data/nab --detectors stream-ae --out out/nab
    python benchmarks/alerts_vs_threshold.py nab out/nab     # the replay's NAB-format results
    python benchmarks/alerts_vs_threshold.py plant           # the simulated plant, detector alone

An opening is a row where a flag starts: the detector's own (an incident opened) or,
for a threshold t, the first row of each run with score >= t. Precision = openings that
count / all openings; recall = labelled windows (NAB) or injected incidents (plant) with
at least one opening that counts. NAB: an opening counts inside a labelled window. The
plant (the demo's: 24 units of 4 channels, seed 0, a model fitted on the 1,500 clean
steps, the demo's defaults): it counts on its unit between an incident's start and one
window after its end, as the demo's evaluation does. One threshold for all files or
units, the best by F1 over quantiles of the scores. Own F1 / best F1 is what the
decision layer keeps.
"""

from __future__ import annotations

import glob
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

Files = list[tuple[np.ndarray, np.ndarray, np.ndarray]]


def f1_of(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def nab_files(root: str) -> Files:
    """(score, label, opened) per file of a `bench nab` results folder."""
    files = []
    for f in sorted(glob.glob(f"{root}/stream-ae/*/*.csv")):
        d = np.genfromtxt(f, delimiter=",", skip_header=1, usecols=(2, 3, 4)).reshape(-1, 3)
        files.append((d[:, 0], d[:, 1].astype(bool), d[:, 2].astype(bool)))
    return files


def nab_f1(files: Files, flags_of: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> tuple:
    good = opens = hit = total = 0
    for score, label, opened in files:
        flags = flags_of(score, opened)
        starts = np.flatnonzero(flags & ~np.r_[False, flags[:-1]])
        opens += len(starts)
        good += int(label[starts].sum())
        edges = np.diff(np.r_[0, label.astype(int), 0])
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            total += 1
            hit += int(((starts >= a) & (starts < b)).any())
    p, r = (good / opens if opens else 0.0), (hit / total if total else 0.0)
    return f1_of(p, r), p, r, opens


def nab(root: str) -> None:
    files = nab_files(root)
    own = nab_f1(files, lambda s, o: o)
    scores = np.concatenate([s for s, _, _ in files])
    candidates = np.unique(np.quantile(scores[scores > 0], np.linspace(0.5, 0.9999, 400)))
    best = max((nab_f1(files, lambda s, o, t=t: s >= t) for t in candidates), key=lambda x: x[0])
    report("NAB", own, best)


def plant() -> None:
    from stream_ae import wiring
    from stream_ae.runtime.demo import demo_settings, pretrain
    from stream_ae.simulate import CHANNELS, DEMO_SENSORS, DEMO_STEPS, Plant

    sim = Plant(DEMO_SENSORS, 0)
    steps = list(sim.points(DEMO_STEPS))
    settings = demo_settings("unused:1", Path(tempfile.mkdtemp()))
    detector = wiring.detector(settings, CHANNELS, pretrain(settings, steps[: sim.clean_steps]))
    rows: list[tuple[str, float, float]] = []
    opened: list[tuple[str, float]] = []
    for k in range(sim.clean_steps, len(steps), 20):
        out = detector.process([p for step in steps[k : k + 20] for p in step])
        for s in out.scored:
            rows += zip(s.series, s.ts.tolist(), s.score.tolist(), strict=True)
        opened += [(a.series, a.ts) for a in out.alerts if a.state.value == "open"]
    grace = settings.window.length * 60.0
    truth = sim.truth

    def f1(openings: list[tuple[str, float]]) -> tuple:
        def counts(series: str, t: float) -> bool:
            return any(i.series == series and i.start_ts <= t <= i.end_ts + grace for i in truth)

        good = sum(counts(s, t) for s, t in openings)
        hit = sum(
            any(s == i.series and i.start_ts <= t <= i.end_ts + grace for s, t in openings)
            for i in truth
        )
        p, r = (good / len(openings) if openings else 0.0), hit / len(truth)
        return f1_of(p, r), p, r, len(openings)

    series = np.array([r[0] for r in rows])
    ts = np.array([r[1] for r in rows])
    score = np.array([r[2] for r in rows])
    best: tuple = (0.0, 0.0, 0.0, 0)
    for t in np.unique(np.quantile(score, np.linspace(0.9, 0.99999, 150))):
        openings = []
        for name in np.unique(series):
            flag = score[series == name] >= t
            start = flag & ~np.r_[False, flag[:-1]]
            openings += [(str(name), x) for x in ts[series == name][start].tolist()]
        best = max(best, f1(openings), key=lambda x: x[0])
    report("plant", f1(opened), best)


def report(what: str, own: tuple, best: tuple) -> None:
    print(
        f"{what}: own alerts F1 {own[0]:.3f} (P {own[1]:.3f} R {own[2]:.3f}, {own[3]} opened); "
        f"best threshold F1 {best[0]:.3f} (P {best[1]:.3f} R {best[2]:.3f}, {best[3]} opened); "
        f"own / best {own[0] / best[0]:.2f}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["nab"] and len(sys.argv) == 3:
        nab(sys.argv[2])
    elif sys.argv[1:] == ["plant"]:
        plant()
    else:
        sys.exit(__doc__)
