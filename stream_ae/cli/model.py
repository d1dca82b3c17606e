"""`stream-ae model list | show | promote | rollback` and `stream-ae retrain`: the
model's life from a shell."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stream_ae import logs
from stream_ae.cli.columns import add_column_arguments, column_options
from stream_ae.errors import ConfigError
from stream_ae.lifecycle.parent import KEPT
from stream_ae.lifecycle.registry import ModelRegistry
from stream_ae.settings import Settings, config_path, load_settings


def _registry(args: argparse.Namespace) -> ModelRegistry:
    return ModelRegistry(args.registry or load_settings(args.config).model.artifact_dir)


def _list(args: argparse.Namespace) -> int:
    registry = _registry(args)
    current = registry.current()
    versions = registry.versions()
    if not versions:
        print(f"no versions in {registry.root}")
        return 0
    serving = current or versions[-1].name
    print(f"{'':2}{'version':34}{'created':22}{'window':>7}  {'channels':20}parent")
    for v in versions:
        mark = "* " if v.name == serving else "  "
        channels = ",".join(v.channels)
        print(f"{mark}{v.name:34}{v.created_at:22}{v.window:>7}  {channels:20}{v.parent or '-'}")
    if current is None:
        print("(no version promoted yet: detectors serve the newest)")
    return 0


def _show(args: argparse.Namespace) -> int:
    registry = _registry(args)
    serving = registry.serving() if args.version is None else None
    if args.version is None and serving is None:
        print(f"no versions in {registry.root}")
        return 0
    version = registry.get(args.version) if serving is None else serving
    manifest = dict(version.manifest)
    # Thousands of scores per series would bury the rest: say how many there are.
    kept = manifest.get("fit_scores") or {}
    manifest["fit_scores"] = {name: f"{len(scores)} scores" for name, scores in kept.items()}
    runs = manifest.get("fit_runs") or {}
    manifest["fit_runs"] = {
        name: f"runs of repeats over {p[0][0]:g} steps" for name, p in runs.items()
    }
    warnings = list((manifest.get("training") or {}).get("warnings") or [])
    shown: dict[str, Any] = {
        "version": version.name,
        "path": str(version.path),
        "current": registry.current() == version.name,
        "warnings": warnings,
        "manifest": manifest,
    }
    print(json.dumps(shown, indent=2))
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _promote(args: argparse.Namespace) -> int:
    registry = _registry(args)
    version = registry.get(args.version)
    if not args.force:
        # Refuse here what a detector would refuse, so a bad promotion never reaches it.
        from stream_ae.wiring import loads_as_served

        loads_as_served(load_settings(args.config))(version)
    before = registry.current()
    registry.promote(version.name, reason=args.reason)
    print(f"current: {version.name} (was {before or 'none'})")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from stream_ae.wiring import loads_as_served

    registry = _registry(args)
    before = registry.current()
    # Versions that would not load are stepped over: a rollback must reach one that
    # serves. Without a config, this shell's defaults need not be the detectors'
    # settings: then only whether a version is whole is checked.
    settings = load_settings(args.config) if args.config or config_path() else None
    check = None if args.force else loads_as_served(settings)
    back = registry.rollback(reason=args.reason, check=check)
    print(f"current: {back} (was {before})")
    return 0


def duration(text: str) -> float:
    """Seconds from '90', '90s', '30m', '24h' or '7d'.

    >>> duration("24h"), duration("90")
    (86400.0, 90.0)
    """
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        value = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; write e.g. 90s, 30m, 24h or 7d"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration must be positive")
    return value


def _point_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of points (2 or more)")
    return n


def _moment(text: str) -> float:
    from stream_ae.connectors.timestamps import parse_ts

    try:
        return parse_ts(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def add_fit_share_arguments(p: argparse.ArgumentParser) -> None:
    """`--fit-points`, `--fit-span`, `--fit-until`: which part of each series a first
    model is fitted on (model.fit_points, fit_span_s, fit_until)."""
    share = p.add_mutually_exclusive_group()
    share.add_argument(
        "--fit-points",
        type=_point_count,
        metavar="N",
        help="fit the first model on each series' first N points (model.fit_points)",
    )
    share.add_argument(
        "--fit-span",
        type=duration,
        metavar="DURATION",
        help="... on each series' first DURATION, e.g. 90m or 2h (model.fit_span_s)",
    )
    share.add_argument(
        "--fit-until",
        type=_moment,
        metavar="TIME",
        help="... on each series' points before TIME, RFC 3339 or epoch seconds (model.fit_until)",
    )


def with_fit_share(settings: Settings, args: argparse.Namespace) -> Settings:
    """`settings` with the share the command line asked for, replacing the file's."""
    asked = {
        "fit_points": args.fit_points,
        "fit_span_s": args.fit_span,
        "fit_until": None
        if args.fit_until is None
        else datetime.fromtimestamp(args.fit_until, UTC),
    }
    if all(v is None for v in asked.values()):
        return settings
    points, w = args.fit_points, settings.window.length
    if points is not None and points < w:
        raise ConfigError(
            f"--fit-points {points} is shorter than window.length ({w}): a series' first N "
            f"points make N - {w - 1} windows; give at least {w + 7} points"
        )
    # model_copy keeps which fields were set on purpose (detect reads that of artifact_dir).
    model = settings.model.model_copy(update=asked)
    return settings.model_copy(update={"model": model})


RETRAIN_KEPT = KEPT
"""Exit status of `stream-ae retrain --settings-stdin` when the candidate was not
promoted (0: promoted); the service reads the job's result from it."""


def _retrain(args: argparse.Namespace) -> int:
    from stream_ae.lifecycle.retrain import run_retrain

    parent = None
    if args.settings_stdin:
        from stream_ae.lifecycle.parent import ParentWatch

        parent = ParentWatch()
        settings = parent.settings()
        # The settings came on stdin, after main() chose the log format from none.
        logs.configure(settings.logging.format, verbose=bool(getattr(args, "verbose", False)))
    else:
        settings = load_settings(args.config)
    changes: dict[str, Any] = {}
    if args.since is not None:
        changes["since_s"] = args.since
    if args.pushgateway is not None:
        changes["pushgateway"] = args.pushgateway
    if changes:
        settings = settings.model_copy(
            update={"retrain": settings.retrain.model_copy(update=changes)}
        )
    labels = None
    if args.labels is not None:
        from stream_ae.connectors.labels import read_label_windows

        labels = read_label_windows(args.labels)
    result = run_retrain(
        settings,
        files=args.file or None,
        alert_files=args.alerts or None,
        labels=labels,
        progress=False if args.no_progress else None,
        may_promote=parent.alive if parent is not None else None,
    )
    print(result.text())
    if parent is not None and not result.promoted:
        return RETRAIN_KEPT
    return 0


def _fit(args: argparse.Namespace) -> int:
    from stream_ae.runtime.fit_job import run_fit

    summary = run_fit(
        args.file,
        load_settings(args.config),
        args.out,
        columns=column_options(args),
        progress=False if args.no_progress else None,
    )
    print(summary.text())  # the log has said it on stderr too
    return 0


def add_model_commands(sub: Any) -> None:
    """Register `model` and its verbs on the top-level subparsers."""
    m = sub.add_parser("model", help="list, show, promote and roll back model versions")
    verbs = m.add_subparsers(dest="verb", required=True)

    def verb(name: str, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = verbs.add_parser(name, help=help)
        p.add_argument("--config", type=Path, help="TOML settings (default: $STREAM_AE_CONFIG)")
        p.add_argument(
            "--registry", type=Path, help="registry directory (default: model.artifact_dir)"
        )
        return p

    verb("list", "versions, oldest first; * marks the one detectors serve").set_defaults(run=_list)
    show = verb("show", "a version's manifest: shape, lineage, validation figures, warnings")
    show.add_argument("version", nargs="?", help="default: the one detectors serve")
    show.set_defaults(run=_show)
    promote = verb("promote", "make VERSION current; running detectors swap to it")
    promote.add_argument("version")
    promote.add_argument(
        "--force",
        action="store_true",
        help="skip loading and checking it here (detectors still refuse a bad one)",
    )
    promote.add_argument("--reason", default="promoted by hand", help="kept in the pointer")
    promote.set_defaults(run=_promote)
    rollback = verb(
        "rollback",
        "make the previously current version current again, stepping over versions that "
        "do not load",
    )
    rollback.add_argument(
        "--force", action="store_true", help="skip loading them here: step back by the history"
    )
    rollback.add_argument("--reason", default="rolled back by hand", help="kept in the pointer")
    rollback.set_defaults(run=_rollback)

    f = sub.add_parser(
        "fit",
        help="fit a model on recordings of normal behaviour; detect --model judges with it "
        "from the first window",
        epilog="Exit status: 0 fitted (a warning on stderr when training stopped at the "
        "epoch cap still improving), 2 an error (a sentence says which).",
    )
    f.add_argument("file", type=Path, nargs="+", help="CSV or JSONL points, as detect reads them")
    f.add_argument(
        "--out",
        type=Path,
        required=True,
        help="model registry to publish to; the new version becomes its current one",
    )
    f.add_argument("--config", type=Path, help="TOML settings (default: $STREAM_AE_CONFIG)")
    add_column_arguments(f)
    f.add_argument("--no-progress", action="store_true", help="no progress bar")
    f.set_defaults(run=_fit)

    r = sub.add_parser(
        "retrain",
        help="fit a candidate on recent data; promote it only if it beats the serving one",
    )
    r.add_argument("--config", type=Path, help="TOML settings (default: $STREAM_AE_CONFIG)")
    r.add_argument(
        "--since", type=duration, help="how far back to read the input topic (retrain.since_s)"
    )
    r.add_argument(
        "--file", type=Path, action="append", help="read points from this file instead (repeatable)"
    )
    r.add_argument(
        "--alerts",
        type=Path,
        action="append",
        help="with --file: alerts JSONL whose incidents are left out (repeatable)",
    )
    r.add_argument(
        "--labels",
        type=Path,
        help="CSV of known anomaly windows (series,start,end): left out of training, and "
        "precision/recall on the holdout join the comparison",
    )
    r.add_argument("--pushgateway", help="push the job's metrics to this host:port")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument(
        "--settings-stdin",
        action="store_true",
        help="(used by `stream-ae run`) read the settings as one JSON line from stdin, end "
        "when stdin closes, and exit 0 if promoted, 3 if not",
    )
    r.set_defaults(run=_retrain)
