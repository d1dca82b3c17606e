"""Run the four tutorial scenarios and print their tables, one after another.

    python benchmarks/scenarios/run_all.py [--quick] [--out DIR]

Each scenario writes its artifacts (model versions, the digits PNG grids) under
DIR/<scenario>; without --out they go to a temporary directory that is removed at
the end, except that the digits grids are then not kept (pass --out to keep them).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import digits_ranking
import seasonal_windows
import sine_spike
import tabular_4sigma

SCENARIOS = (sine_spike, tabular_4sigma, seasonal_windows, digits_ranking)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each scenario's quick run")
    parser.add_argument("--out", type=Path, default=None, help="artifacts (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        for scenario in SCENARIOS:
            name = scenario.__name__
            started = time.perf_counter()
            result = scenario.run(args.quick, root / name)
            print(result["table"])
            print(f"[{name}: {time.perf_counter() - started:.1f} s]\n", flush=True)


if __name__ == "__main__":
    main()
