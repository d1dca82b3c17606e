"""`stream-ae bench nab`: the replay benchmark on the NAB corpus."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from stream_ae.settings import load_settings


def _nab(args: argparse.Namespace) -> int:
    from stream_ae.bench.run_nab import all_detectors, run_nab, scoreboard, table

    known = all_detectors(load_settings(args.config))
    chosen = args.detectors.split(",") if args.detectors else list(known)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise SystemExit(f"stream-ae: unknown detector(s) {unknown}; choose from {sorted(known)}")
    report = run_nab(args.corpus, args.out, {n: known[n] for n in chosen}, files=args.files)
    published = (
        scoreboard(args.corpus / "SCORING.md") if (args.corpus / "SCORING.md").is_file() else []
    )
    print(table(report, published))
    for s in report:
        print(f"{s.name}: {s.seconds:.0f} s; thresholds {s.thresholds}")
    print(f"results: {args.out} (NAB layout, plus scores.json)")
    return 0


def add_bench_commands(sub: Any) -> None:
    b = sub.add_parser("bench", help="replay benchmarks: detection quality against baselines")
    kinds = b.add_subparsers(dest="kind", required=True)
    nab = kinds.add_parser("nab", help="replay the NAB corpus causally and score it")
    nab.add_argument("corpus", type=Path, help="NAB folder holding data/ and labels/")
    nab.add_argument("--out", type=Path, default=Path("out/nab"), help="results folder")
    nab.add_argument(
        "--config", type=Path, help="TOML settings for stream-ae (frozen for all files)"
    )
    nab.add_argument("--detectors", help="comma-separated subset (default: all)")
    nab.add_argument("--files", default="*", help="only corpus files matching this glob")
    nab.set_defaults(run=_nab)
