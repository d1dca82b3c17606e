"""The options that say how to read a recorded file's columns, shared by `detect`,
`fit`, `replay` and `bench replay`."""

from __future__ import annotations

import argparse

from stream_ae.connectors.files import DELIMITERS, LABEL_COLUMNS, Columns
from stream_ae.connectors.formats import FORMAT_NAMES, InputFormat
from stream_ae.errors import InputError


def add_column_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--series", help="series id for every point (default: the file stem)")
    p.add_argument("--time-column", help="CSV time column (default: found by name)")
    p.add_argument("--value-columns", help="comma-separated CSV value columns (channels)")
    p.add_argument("--series-column", help="CSV column naming each row's series")
    p.add_argument(
        "--ignore-columns",
        help="comma-separated CSV columns that are not channels, besides the label columns "
        f"({', '.join(LABEL_COLUMNS)}) that never are",
    )
    p.add_argument(
        "--delimiter",
        help="CSV field separator (default: told from the file's first lines, one of "
        f"{DELIMITERS!r}); 'tab' for a tab",
    )
    p.add_argument(
        "--input-format",
        choices=FORMAT_NAMES,
        help="what each line of a .jsonl/.ndjson/.lp file holds (default: json, influx for .lp)",
    )
    p.add_argument(
        "--series-from",
        default="",
        help="metrics formats: the series id from {name} and {tag}s, e.g. '{host}/{name}' "
        "(default: the name and every tag, as 'cpu,host=a')",
    )
    p.add_argument(
        "--channels-from",
        choices=("field", "name"),
        default="field",
        help="metrics formats: channels are the fields (default) or the metric names",
    )


def column_options(args: argparse.Namespace) -> Columns:
    """The options as the `Columns` the file jobs take."""
    return Columns(
        series=args.series,
        time_column=args.time_column,
        value_columns=_names(args.value_columns),
        series_column=args.series_column,
        ignore_columns=_names(args.ignore_columns) or (),
        delimiter="\t" if args.delimiter in ("tab", "\\t") else args.delimiter,
        input_format=_input_format(args),
    )


def _input_format(args: argparse.Namespace) -> InputFormat | None:
    if args.input_format is None:
        if args.series_from or args.channels_from != "field":
            raise InputError(
                "--series-from and --channels-from say how a metrics format's names and "
                "tags become series and channels; name the format with --input-format."
            )
        return None
    return InputFormat(args.input_format, args.series_from, args.channels_from)


def _names(text: str | None) -> tuple[str, ...] | None:
    return tuple(name.strip() for name in text.split(",") if name.strip()) if text else None
