"""The options that say how to read a recorded file's columns, shared by `detect`,
`replay` and `bench replay`."""

from __future__ import annotations

import argparse
from typing import Any


def add_column_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--series", help="series id for every point (default: the file stem)")
    p.add_argument("--time-column", help="CSV time column (default: found by name)")
    p.add_argument("--value-columns", help="comma-separated CSV value columns (channels)")
    p.add_argument("--series-column", help="CSV column naming each row's series")


def column_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options as `open_points` keywords."""
    return {
        "series": args.series,
        "time_column": args.time_column,
        "value_columns": args.value_columns.split(",") if args.value_columns else None,
        "series_column": args.series_column,
    }
