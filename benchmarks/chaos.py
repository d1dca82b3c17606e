"""Chaos: what kills, bad input, floods, skewed clocks and broker trouble do to the detector.

Against the embedded (Tansu) broker and real `python -m stream_ae.cli run` processes,
with seeded inputs and bounded waits, each scenario measures and prints one table row
per measurement with the value that is right (0 where nothing else is) and a mark:

- sigkill-backlog / sigkill-live: the detector SIGKILLed at random moments (20 times
  each) while it works through a backlog / while points arrive; then one detector
  finishes. Points unscored, alerts of an uninterrupted in-process run missing (by
  alert_id), duplicate alert messages, committed-offset regressions (read with
  `AIOKafkaConsumer.committed` after each kill), re-scored points (a kill may re-score
  the one batch sent but not committed).
- fuzz: 10,000 seeded malformed messages (tests/chaos/fuzz.py lists the kinds) among
  good points: crashes (each one restarted, up to a limit), certainly-invalid messages
  with no dead letter naming their offset, good points unscored.
- flood: 1M distinct series ids with window.max_series 1000: resident memory (VmRSS)
  of the detector as the ids go through, and its growth after the store filled.
- clock-skew, channel-mismatch, broker-pause (SIGSTOP 10 s), broker-replace (a new
  empty broker on the same port), sigterm (under load; and while Kafka is unreachable),
  corrupt-current (garbage model.pt as the registry's current version).

The scenarios live in tests/chaos/harness.py; tests/chaos runs them at the --quick
sizes in CI.

    python benchmarks/chaos.py [--quick] [--only SCENARIO[,SCENARIO]] [--seed N] [--out FILE]
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the harness is shared with the tests

from stream_ae.runtime.broker import EmbeddedBroker  # noqa: E402
from tests.chaos.suite import FULL, QUICK, SCENARIOS, Context, fit_model, run_scenario, table  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")


def _stop(signum: int, frame: object) -> None:
    # Unwinds the scenario's `with` blocks, so its detectors and brokers are stopped too.
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI sizes (~3 minutes)")
    parser.add_argument("--only", help=f"comma-separated scenarios of: {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the table here (markdown)")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
    logging.basicConfig(level=logging.WARNING)
    rows, seconds = [], {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp, EmbeddedBroker() as broker:
        workdir = Path(tmp)
        (workdir / "model").mkdir()
        artifact = fit_model(workdir / "model")
        sizes = QUICK if args.quick else FULL
        ctx = Context(
            broker, artifact, workdir, sizes, args.seed, log=lambda s: print(s, flush=True)
        )
        for name in names:
            got, took = run_scenario(ctx, name)
            rows += got
            seconds[name] = took
            print(f"{name}: {took:.0f} s", flush=True)
    seconds["total"] = time.monotonic() - started
    text = table(rows, seconds)
    sizes_line = f"sizes: {'quick' if args.quick else 'full'} {sizes}; seed {args.seed}"
    print("\n" + sizes_line + "\n\n" + text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(sizes_line + "\n\n" + text + "\n")
    failed = sum(not r.ok for r in rows)
    print(f"\n{failed} of {len(rows)} rows not at their right value")


if __name__ == "__main__":
    main()
