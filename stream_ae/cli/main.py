"""The `stream-ae` command line."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from functools import partial
from importlib.resources import files
from pathlib import Path

from stream_ae import __version__, logs
from stream_ae.cli.bench import add_bench_commands
from stream_ae.cli.columns import add_column_arguments, column_options
from stream_ae.cli.model import add_fit_share_arguments, add_model_commands, with_fit_share
from stream_ae.errors import ConfigError, StreamAEError
from stream_ae.lifecycle.registry import resolve_model
from stream_ae.plant.simulate import DEMO_SENSORS, DEMO_STEPS
from stream_ae.settings import Settings, load_settings

SAMPLE = Path(str(files("stream_ae") / "data" / "sample.csv"))
"""A bundled sensor file with injected anomalies: the embedded default for `detect`."""


ALL_REFUSED = 3
"""Exit status of `detect` when it refused every row of its file (nothing was scored)."""
BROKEN_PIPE = 141
"""Exit status when the reader of stdout went away: 128 + SIGPIPE, as for a shell tool."""
EXIT_STATUSES = f"""exit status:
  0    done
  1    the run failed: Kafka unreachable, a fit that produced no model, a broker
       that died (trying again later may work; a sentence on stderr says why)
  2    usage or configuration: a wrong option, setting, file or model (a sentence
       on stderr says what to change)
  {ALL_REFUSED}    detect refused every row of its file: nothing was scored (rejects.jsonl
       says why, row by row)
  130  interrupted (Ctrl-C)
  {BROKEN_PIPE}  the reader of stdout went away (`stream-ae ... | head`)"""


def _detect(args: argparse.Namespace) -> int:
    from stream_ae.runtime.detect_job import run_detect

    settings = with_fit_share(load_settings(args.config), args)
    model_path = args.model or settings.model.artifact
    if model_path is not None and (args.fit_points or args.fit_span or args.fit_until):
        raise ConfigError(
            "--fit-points, --fit-span and --fit-until say what a first model is fitted on; "
            "with --model (or model.artifact) there is no first fit: drop one of them"
        )
    if args.model_dir is not None:
        model = settings.model.model_copy(update={"artifact_dir": args.model_dir})
        settings = settings.model_copy(update={"model": model})
    path = args.file or SAMPLE
    out_dir = args.out or Path("out") / path.name.split(".")[0]
    summary = run_detect(
        path,
        settings,
        out_dir,
        artifact=None if model_path is None else resolve_model(model_path),
        columns=column_options(args),
        progress=False if args.no_progress else None,
        echo_alerts=not _quiet(args),
        announce=partial(print, flush=True),
    )
    if args.plot:
        from stream_ae.pictures.detection import plot_detection

        plot_detection(
            Path(summary.outputs["scored"]),
            Path(summary.outputs["alerts"]),
            args.plot,
            title=f"stream-ae detect {path.name}",
        )
        summary.outputs["plot"] = str(args.plot)
    print(summary.text())
    refused = sum(summary.rejected.values())
    # Exit 3 only when no point reached the detector unrefused: rows the reader
    # refused are not among points_read.
    if summary.points_scored == 0 and summary.points_refused >= summary.points_read:
        print(
            f"stream-ae: every one of the {refused} rows was refused, nothing was scored; "
            f"the reasons are in {summary.outputs['rejects']} (exit {ALL_REFUSED})",
            file=sys.stderr,
        )
        return ALL_REFUSED
    return 0


def _run(args: argparse.Namespace) -> int:
    from stream_ae.runtime.stopping import exit_on_signals

    exit_on_signals()  # before the imports of torch and the model: seconds
    from stream_ae.runtime.serve import serve

    artifact = None if args.model is None else resolve_model(args.model)
    serve(_kafka_settings(args), artifact=artifact, echo=not _quiet(args))
    return 0


def _broker(args: argparse.Namespace) -> int:
    from stream_ae.runtime.broker import serve

    return serve(args.port)


def _replay(args: argparse.Namespace) -> int:
    from stream_ae.runtime.replay import run_replay

    summary = run_replay(
        args.file,
        load_settings(args.config),
        topic=args.topic,
        bootstrap=args.bootstrap,
        speed=args.speed,
        columns=column_options(args),
        progress=False if args.no_progress else None,
    )
    print(summary.text())
    return 0


def _speed(text: str) -> float:
    try:
        speed = float(text)
    except ValueError:
        speed = -1.0
    if not 0 <= speed < float("inf"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a speed; give N for N x real time, or 0 for as fast as possible"
        )
    return speed


def _demo(args: argparse.Namespace) -> int:
    from stream_ae.runtime.demo import run_demo

    result = run_demo(
        args.out,
        sensors=args.sensors,
        steps=args.steps,
        speed=args.speed,
        echo=not _quiet(args),
        metrics_address=args.metrics_address,
        watch=args.watch,
    )
    print()
    print(result.report.table())
    print(f"\n{result.points:,} points scored through Kafka in {result.seconds:.0f} s")
    if result.picture is not None:
        print(f"picture: {result.picture}")
    return 0


def _alerts(args: argparse.Namespace) -> int:
    import asyncio

    from stream_ae.runtime.alerts_view import show_alerts

    kafka = _kafka_settings(args).kafka
    asyncio.run(
        show_alerts(
            kafka,
            args.topic or kafka.alert_topic,
            follow=args.follow,
            series=set(args.series) if args.series else None,
            as_json=args.json,
        )
    )
    return 0


def _check_config(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    print(settings.summary(comments=args.comments))
    print("# configuration is valid", file=sys.stderr)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stream-ae",
        description="Streaming anomaly detection for sensor time series.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"stream-ae {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser(
        "detect",
        help="score a recorded CSV or JSONL file, no broker needed",
        epilog=f"Exit status: 0 done, 2 an error (a sentence says which), {ALL_REFUSED} every "
        "row was refused (see rejects.jsonl).",
    )
    d.add_argument(
        "file", nargs="?", type=Path, help="CSV or JSONL points (default: a bundled sample sensor)"
    )
    d.add_argument("--config", type=Path, help="TOML settings (default: $STREAM_AE_CONFIG)")
    d.add_argument("--out", type=Path, help="output directory (default: out/<file stem>)")
    d.add_argument(
        "--model",
        type=Path,
        help="model artifact directory, or a registry (its current version) such as "
        "`stream-ae fit --out` makes: every series it was fitted on is judged from its first "
        "window; without one a first model is fitted from the stream while an online "
        "detector scores",
    )
    add_fit_share_arguments(d)
    d.add_argument(
        "--model-dir",
        type=Path,
        help="where a fitted model is published (default: model.artifact_dir when set in "
        "the config, else <out>/models, apart from the registry `run` serves from)",
    )
    d.add_argument("--plot", type=Path, help="write a PNG of the series, alerts and scores")
    add_column_arguments(d)
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.set_defaults(run=_detect)

    r = sub.add_parser("run", help="run the detector service against Kafka until SIGTERM")
    r.add_argument("--config", type=Path, help="TOML settings (default: $STREAM_AE_CONFIG)")
    r.add_argument(
        "--model",
        type=Path,
        help="model artifact directory or registry (default: model.artifact, else the registry's "
        "current version in model.artifact_dir, else a first model is fitted from the stream)",
    )
    r.add_argument("--bootstrap", help="Kafka host:port list (default: kafka.bootstrap_servers)")
    r.set_defaults(run=_run)

    b = sub.add_parser("broker", help="run the embedded Kafka-protocol broker (memory only)")
    b.add_argument(
        "--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free one)"
    )
    b.set_defaults(run=_broker)

    rp = sub.add_parser("replay", help="publish a recorded CSV or JSONL file to the input topic")
    rp.add_argument("file", type=Path, help="CSV or JSONL points")
    rp.add_argument("--config", type=Path, help="TOML settings (default: $STREAM_AE_CONFIG)")
    rp.add_argument("--topic", help="topic to publish to (default: kafka.input_topic)")
    rp.add_argument("--bootstrap", help="Kafka host:port list (default: kafka.bootstrap_servers)")
    rp.add_argument(
        "--speed",
        type=_speed,
        default=0.0,
        help="replay at N x real time by the points' timestamps (default 0: as fast as possible)",
    )
    add_column_arguments(rp)
    rp.add_argument("--no-progress", action="store_true", help="no progress bar")
    rp.set_defaults(run=_replay)

    m = sub.add_parser(
        "demo", help="broker + simulated plant + detector, scored against the injected truth"
    )
    m.add_argument("--out", type=Path, default=Path("out/demo"), help="model and picture")
    m.add_argument(
        "--sensors",
        type=int,
        default=DEMO_SENSORS,
        help="simulated units (series of flow, pressure, temperature, vibration)",
    )
    m.add_argument("--steps", type=int, default=DEMO_STEPS, help="one-minute steps to simulate")
    m.add_argument("--speed", type=float, default=0.0, help="x real time (0: as fast as it goes)")
    m.add_argument(
        "--metrics-address",
        default="127.0.0.1:0",
        help="host:port for the detector's /metrics (default: a free loopback port)",
    )
    m.add_argument(
        "--watch",
        action="append",
        default=[],
        metavar="SENSOR",
        help="export this sensor's score and threshold as gauges (repeatable)",
    )
    m.set_defaults(run=_demo)

    al = sub.add_parser(
        "alerts",
        help="print the alert topic as a person reads it (from its beginning)",
        description="Every alert on the alert topic, oldest first, one line each; with "
        "--follow, then each new one as it arrives, until Ctrl-C. Reads without a consumer "
        "group: nobody's offsets move.",
    )
    al.add_argument("--config", type=Path, help="TOML settings (default: $STREAM_AE_CONFIG)")
    al.add_argument("--bootstrap", help="Kafka host:port list (default: kafka.bootstrap_servers)")
    al.add_argument("--topic", help="alert topic (default: kafka.alert_topic)")
    al.add_argument("--follow", "-f", action="store_true", help="keep printing new alerts")
    al.add_argument("--series", action="append", metavar="S", help="only this series (repeatable)")
    al.add_argument("--json", action="store_true", help="the alerts' JSON, one per line")
    al.set_defaults(run=_alerts)

    add_model_commands(sub)
    add_bench_commands(sub)

    c = sub.add_parser("check-config", help="validate settings and print the effective values")
    c.add_argument("--config", type=Path, help="TOML settings (default: $STREAM_AE_CONFIG)")
    c.add_argument("--comments", action="store_true", help="explain every key")
    c.set_defaults(run=_check_config)
    _add_common_flags(p)
    return p


def _add_common_flags(p: argparse.ArgumentParser) -> None:
    """-v and -q on every command, before or after its name (`stream-ae -v detect` and
    `stream-ae detect -v`): suppressed defaults, so a subcommand's parser does not reset
    what the main parser read."""
    p.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug details"
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="do not print alerts as they happen (detect, run, demo)",
    )
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                _add_common_flags(child)


def _kafka_settings(args: argparse.Namespace) -> Settings:
    """The command's settings, with the brokers its --bootstrap names."""
    settings = load_settings(args.config)
    if args.bootstrap is None:
        return settings
    return settings.model_copy(update={"kafka": settings.kafka.with_servers(args.bootstrap)})


def _quiet(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "quiet", False))


def _log_format(args: argparse.Namespace) -> str:
    """`logging.format` from the settings the command will read (its --config, else
    STREAM_AE_CONFIG and the environment); "text" when they cannot be read, so the
    command itself reports why."""
    try:
        return load_settings(getattr(args, "config", None)).logging.format
    except StreamAEError:
        return "text"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.configure(_log_format(args), verbose=bool(getattr(args, "verbose", False)))
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")
    try:
        return int(args.run(args))
    except StreamAEError as exc:
        print(f"stream-ae: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader left (`stream-ae check-config | head -1`): stop quietly, as a shell
        # tool killed by SIGPIPE would. Stdout goes to /dev/null so the interpreter's
        # final flush cannot raise the same error again on the way out.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
