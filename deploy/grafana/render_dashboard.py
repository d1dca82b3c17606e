"""Render deploy/grafana/dashboard.png from real data.

Runs `stream-ae demo` (embedded broker, simulated plant, detector) paced over a few
minutes of wall time, with a real Prometheus scraping the detector every second,
then runs every panel's PromQL from stream-ae.json over that time range and draws
the answers in the dashboard's layout. Needs Debian's `prometheus` package.

    python deploy/grafana/render_dashboard.py [--minutes 4] [--out deploy/grafana/dashboard.png]
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import tempfile
import time
from pathlib import Path

from stream_ae.pictures.dashboard import render_dashboard
from stream_ae.plant.simulate import DEMO_SENSORS, DEMO_STEPS, Plant
from stream_ae.runtime.demo import run_demo
from stream_ae.runtime.prometheus import LocalPrometheus

HERE = Path(__file__).resolve().parent


def watched_sensors(sensors: int, steps: int, seed: int, kinds: tuple[str, ...]) -> list[str]:
    """One sensor per kind of incident, the first to have one, for the score panel."""
    plant = Plant(sensors, seed)
    for _ in plant.points(steps):
        pass
    chosen: dict[str, str] = {}
    for incident in plant.truth:
        chosen.setdefault(incident.kind, incident.series)
    return [chosen[k] for k in kinds if k in chosen]


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--minutes", type=float, default=4.0, help="wall time of the paced run")
    args.add_argument("--sensors", type=int, default=DEMO_SENSORS)
    args.add_argument("--steps", type=int, default=DEMO_STEPS)
    args.add_argument("--out", type=Path, default=HERE / "dashboard.png")
    opts = args.parse_args()

    watch = watched_sensors(opts.sensors, opts.steps, 0, ("level_shift", "spike"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    speed = opts.steps * 60.0 / (opts.minutes * 60)  # one-minute steps
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalPrometheus(Path(tmp) / "prometheus", [f"127.0.0.1:{port}"]) as prometheus,
    ):
        started = time.time()
        result = run_demo(
            Path(tmp) / "demo",
            sensors=opts.sensors,
            steps=opts.steps,
            speed=speed,
            echo=False,
            picture=False,
            metrics_address=f"127.0.0.1:{port}",
            watch=watch,
        )
        time.sleep(3)  # the last scrapes
        board = json.loads((HERE / "stream-ae.json").read_text())
        had = render_dashboard(
            board,
            prometheus.query_range,
            started,
            time.time(),
            opts.out,
            # A regex inside a PromQL string: its backslashes escaped once more.
            series="|".join(re.escape(name).replace("\\", "\\\\") for name in watch),
        )
    print(result.report.table())
    print(f"watched: {', '.join(watch)}")
    print(f"panels without data: {[t for t, ok in had.items() if not ok] or 'none'}")
    print(f"wrote {opts.out}")


if __name__ == "__main__":
    main()
