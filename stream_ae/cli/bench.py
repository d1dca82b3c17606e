"""`stream-ae bench nab | replay`: replay benchmarks, stream-ae beside baselines."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from stream_ae.cli.columns import add_column_arguments, column_options
from stream_ae.cli.model import add_fit_share_arguments, with_fit_share
from stream_ae.errors import ConfigError
from stream_ae.settings import load_settings

T = TypeVar("T")


def _choose(known: Mapping[str, T], asked: str | None) -> dict[str, T]:
    chosen = asked.split(",") if asked else list(known)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise ConfigError(f"unknown detector(s) {unknown}; choose from {sorted(known)}")
    return {name: known[name] for name in chosen}


def _nab(args: argparse.Namespace) -> int:
    from stream_ae.bench.run_nab import all_detectors, decision_table, run_nab, scoreboard, table

    chosen = _choose(all_detectors(load_settings(args.config)), args.detectors)
    report = run_nab(args.corpus, args.out, chosen, files=args.files)
    published = (
        scoreboard(args.corpus / "SCORING.md") if (args.corpus / "SCORING.md").is_file() else []
    )
    print(table(report, published))
    print()
    print(decision_table(report))
    print(
        "point F1: rows past probation inside an open incident (own) or scoring at or above "
        "the one threshold best for all files (best), against rows inside a labelled window; "
        "event F1: a window caught by a row raised in it, a page true inside a window; "
        "NAB: standard profile"
    )
    for s in report:
        print(f"{s.name}: {s.seconds:.0f} s; thresholds {s.thresholds}")
    print(f"results: {args.out} (NAB layout, plus scores.json)")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from stream_ae.bench.recording import load_recording
    from stream_ae.bench.run_replay import replayers, run_replay, table

    settings = with_fit_share(load_settings(args.config), args)
    chosen = _choose(replayers(settings), args.detectors)
    recording = load_recording(
        args.data, labels=args.labels, label_column=args.label_column, columns=column_options(args)
    )
    windows = sum(len(s.windows) for s in recording.series.values())
    print(
        f"{args.data}: {len(recording.series)} series, "
        f"{sum(len(s.ts) for s in recording.series.values()):,} rows, {windows} labelled "
        f"windows; {recording.refused} rows refused, {recording.out_of_order} out of order"
    )
    tolerance = settings.window.length if args.tolerance is None else args.tolerance
    report = run_replay(recording, args.out, chosen, tolerance)
    print(table(report))
    print(
        "per point: rows inside an open incident; best F1: the score at the one threshold "
        "best for all series (own/best: what the alerts keep of it); per event: a window "
        f"caught by an incident open from its start to {tolerance} rows after its end; NAB: "
        "normalised, standard profile, own alerts and best threshold"
    )
    print(f"results: {args.out} (a CSV per detector, quality.json)")
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

    replay = kinds.add_parser(
        "replay", help="replay your own labelled CSV or JSONL and score every detector"
    )
    replay.add_argument("data", type=Path, help="points, as `stream-ae detect` reads them")
    given = replay.add_mutually_exclusive_group()
    given.add_argument(
        "--labels", type=Path, help="anomaly windows, a CSV with header series,start,end"
    )
    given.add_argument(
        "--label-column", help="the data's 0/1 label column (default: 'label', if present)"
    )
    add_column_arguments(replay)
    replay.add_argument("--out", type=Path, default=Path("out/replay"), help="results folder")
    replay.add_argument("--config", type=Path, help="TOML settings for stream-ae")
    replay.add_argument("--detectors", help="comma-separated subset (default: all)")
    add_fit_share_arguments(replay)
    replay.add_argument(
        "--tolerance",
        type=int,
        help="rows after a window's end an alert still counts for it (default: window.length)",
    )
    replay.set_defaults(run=_replay)
