"""Reading a CSV file: a `Point` per row (iterating the reader) against a chunk of rows
a column at a time (`PointReader.chunks`, what `stream-ae detect` reads with).

Files of 200,000 rows in the forms recorded files come in, generated here; both ways
read each file in alternated rounds in this process (medians, µs per row). Dates with
a fraction of a second are not parsed a column at a time: every such row takes the
per-row way, so that case shows what a chunk costs when it helps nothing.

    python benchmarks/read_files.py [--rows 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stream_ae.connectors.files import PointReader, open_points

T0 = 1_735_689_600


def dated(sep: str = " ", after: str = "", unit: str = "s") -> Callable[..., str]:
    """One series with RFC 3339 times: `sep` between day and time, `after` them, to the
    `unit` (a fraction of a second past it)."""

    def write(ts: np.ndarray, values: np.ndarray) -> str:
        times = ts.astype(f"datetime64[{unit}]") + (250 if unit == "ms" else 0)
        text = np.char.replace(np.datetime_as_string(times, unit=unit), "T", sep)
        rows = (f"{t}{after},{v:.4f}" for t, v in zip(text.tolist(), values, strict=True))
        return "timestamp,value\n" + "\n".join(rows) + "\n"

    return write


def series_column_epochs(ts: np.ndarray, values: np.ndarray) -> str:
    rows = (f"{t},s{i % 100},{v:.4f}" for i, (t, v) in enumerate(zip(ts, values, strict=True)))
    return "ts,series,value\n" + "\n".join(rows) + "\n"


def three_channels(ts: np.ndarray, values: np.ndarray) -> str:
    rows = (f"{t},{v:.4f},{v * 2:.3f},{-v:.5f}" for t, v in zip(ts, values, strict=True))
    return "ts,a,b,c\n" + "\n".join(rows) + "\n"


CASES: dict[str, Callable[[np.ndarray, np.ndarray], str]] = {
    "dates, one series (NAB's form)": dated(),
    "epoch seconds, a series column of 100": series_column_epochs,
    "three channels": three_channels,
    "RFC 3339 dates in UTC (...T00:00:00Z)": dated("T", "Z"),
    "dates with an offset (+01:00)": dated("T", "+01:00"),
    "dates with milliseconds (.250Z: read row by row)": dated("T", "Z", "ms"),
}


def by_rows(reader: PointReader) -> int:
    return sum(1 for _ in reader)


def by_chunks(reader: PointReader) -> int:
    return sum(len(chunk.points) + len(chunk.refused) for chunk in reader.chunks(1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    ts = T0 + 300 * np.arange(args.rows)
    values = 20 + np.sin(np.arange(args.rows) / 50) + 0.1 * rng.standard_normal(args.rows)
    print(f"{args.rows:,} rows a file, medians of {args.rounds} alternated rounds\n")
    print("| file | a Point a row (µs/row) | chunks of columns (µs/row) | speed-up |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="read-") as tmp:
        for name, write in CASES.items():
            path = Path(tmp) / "points.csv"
            path.write_text(write(ts, values))
            reader = open_points(path)
            assert by_rows(reader) == by_chunks(reader) == args.rows
            times: dict[str, list[float]] = {"rows": [], "chunks": []}
            for _ in range(args.rounds):
                for way, read in (("rows", by_rows), ("chunks", by_chunks)):
                    started = time.perf_counter()
                    read(reader)
                    times[way].append((time.perf_counter() - started) / args.rows * 1e6)
            rows, chunks = (statistics.median(times[w]) for w in ("rows", "chunks"))
            print(f"| {name} | {rows:.2f} | {chunks:.2f} | {rows / chunks:.1f}x |")


if __name__ == "__main__":
    main()
