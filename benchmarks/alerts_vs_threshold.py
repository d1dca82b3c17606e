"""Own alerts beside the best single threshold on the score, on the simulated plant.

    python benchmarks/alerts_vs_threshold.py plant

The plant: the demo's 24 units of 4 channels, seed 0, a model fitted on the 1,500 clean
steps, the demo's
defaults; every later step is judged. The figures are the replay judge's
(`stream_ae.bench.quality`, as `stream-ae bench replay` prints them): per point, a row
inside an open incident against a row inside an injected incident; per event, an
incident caught by a row raised on its sensor from its start to one window after its
end, a page true there. The best threshold is one for all sensors (point F1 over every
distinct score, event F1 over quantiles of them). Own F1 / best F1 is what the decision
layer keeps. For NAB, `stream-ae bench nab` prints the same figures per detector.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from stream_ae.bench.labelled import LabelledSeries, Output, windows_of_spans
from stream_ae.bench.quality import judge


def plant() -> None:
    from stream_ae import wiring
    from stream_ae.core.alerting import ACTIVE, OPENED
    from stream_ae.plant.simulate import CHANNELS, DEMO_SENSORS, DEMO_STEPS, Plant
    from stream_ae.runtime.demo import demo_settings, pretrain

    sim = Plant(DEMO_SENSORS, 0)
    steps = list(sim.points(DEMO_STEPS))
    settings = demo_settings("unused:1", Path(tempfile.mkdtemp()))
    detector = wiring.detector(settings, CHANNELS, pretrain(settings, steps[: sim.clean_steps]))
    rows: dict[str, list[tuple[float, float, int]]] = {}
    for k in range(sim.clean_steps, len(steps), 20):
        out = detector.process([p for step in steps[k : k + 20] for p in step])
        for s in out.scored:
            for name, t, score, state in zip(
                s.series, s.ts.tolist(), s.score.tolist(), s.state.tolist(), strict=True
            ):
                rows.setdefault(name, []).append((t, score, state))
    pairs = []
    for name, got in sorted(rows.items()):
        ts, score, state = (np.array(c) for c in zip(*got, strict=True))
        spans = [(i.start_ts, i.end_ts) for i in sim.truth if i.series == name]
        s = LabelledSeries(name, Path(name), ts, score, windows_of_spans(ts, spans), warmup=0)
        opened = (state == OPENED).astype(np.int8)
        pairs.append((s, Output(score, opened, np.isin(state, (OPENED, ACTIVE)).astype(np.int8))))
    d = judge(pairs, tolerance=settings.window.length, nab=False).score_vs_decision()
    for kind in ("point", "event"):
        print(
            f"plant, {kind} F1: own alerts {d[f'{kind}_f1_own']:.3f}; best threshold "
            f"{d[f'{kind}_f1_best']:.3f} (score >= {d[f'{kind}_f1_best_threshold']:.4g}); "
            f"own / best {d[f'{kind}_f1_ratio']:.2f}"
        )


if __name__ == "__main__":
    if sys.argv[1:] == ["plant"]:
        plant()
    else:
        sys.exit(__doc__)
