"""`stream-ae fit FILE... --out MODEL`: a model fitted on recordings named normal."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from stream_ae import wiring
from stream_ae.connectors.files import DEFAULT_COLUMNS, Columns, PointReader
from stream_ae.core.records import Point, Rejection, WindowBatch
from stream_ae.errors import InputError
from stream_ae.lifecycle.dataset import cut_windows
from stream_ae.lifecycle.registry import ModelRegistry
from stream_ae.ratelimit import RateLimitedLog
from stream_ae.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class FitSummary:
    """What `stream-ae fit` fitted, as it prints it."""

    path: Path
    windows: dict[str, int]
    """Windows per series, in the order the series first appeared."""
    rows_refused: dict[str, int]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return list(self.manifest.get("training", {}).get("warnings", []))

    def text(self) -> str:
        t, v = self.manifest.get("training", {}), self.manifest.get("validation", {})
        shown = ", ".join(f"{name} {n}" for name, n in list(self.windows.items())[:10])
        more = f", ... ({len(self.windows)} series)" if len(self.windows) > 10 else ""
        refused = ", ".join(f"{k} {n}" for k, n in sorted(self.rows_refused.items())) or "none"
        lines = [
            f"model           {self.path}",
            f"series          {shown}{more} (windows each)",
            f"windows         {sum(self.windows.values())} of {self.manifest.get('window')} "
            f"points, {len(self.manifest.get('channel_names', []))} channel(s)",
            f"rows refused    {refused}",
            f"epochs          {t.get('epochs_run')} of at most {t.get('epoch_cap')} "
            f"(best {t.get('best_epoch')})"
            + (
                ": STOPPED AT THE EPOCH CAP while the validation loss was still improving; "
                "raise model.epochs"
                if t.get("stopped_at_epoch_cap")
                else ""
            ),
            f"loss            train {v.get('train_loss', float('nan')):.4g}, "
            f"validation {v.get('val_loss', float('nan')):.4g}",
            "thresholds      seeded from the fit: `stream-ae detect FILE --model "
            f"{self.path.parent}` judges these series from their first window",
        ]
        return "\n".join(lines)


def run_fit(
    paths: Sequence[Path],
    settings: Settings,
    out: Path,
    *,
    columns: Columns = DEFAULT_COLUMNS,
    progress: bool | None = None,
) -> FitSummary:
    """Fit on every window of `paths` (cut as the detector cuts them), publish the model
    to the registry `out` and make it current there."""
    if (out / "manifest.json").is_file():
        raise InputError(
            f"{out} is a model version itself; --out names the registry its versions live "
            f"in, such as {out.parent} or a new directory"
        )
    channels: tuple[str, ...] | None = None
    parts: list[WindowBatch] = []
    refused: Counter[str] = Counter()
    limited = RateLimitedLog(log)

    def note(path: Path, what: str, rejection: Rejection) -> None:
        reason = rejection.reason.value
        refused[reason] += 1
        limited.warning(reason, "%s: %s refused (%s): %s", path, what, reason, rejection.detail)

    def note_point(path: Path, _: Point, rejection: Rejection) -> None:
        note(path, "point", rejection)

    def points_of(path: Path, reader: PointReader) -> Iterator[Point]:
        for item in reader:
            if isinstance(item, Rejection):
                note(path, "row", item)
            else:
                yield item

    for path in paths:
        reader = columns.open(path)
        if not reader.channels:  # a JSONL file without a valid point: its rows refused
            for _ in points_of(path, reader):
                pass
            continue
        if channels is not None and reader.channels != channels:
            raise InputError(
                f"{path} has channels {list(reader.channels)}, the files before it "
                f"{list(channels)}; fit one model per channel set"
            )
        channels = reader.channels
        # Each file through a store of its own: a second recording of the same series
        # may come from an earlier time, and is no continuation of the first.
        store = wiring.window_store(settings, len(channels))
        parts.append(cut_windows(points_of(path, reader), store, partial(note_point, path)))
    if channels is None:
        raise InputError(
            f"no valid point in {', '.join(map(str, paths))}; nothing to fit on "
            f"(rows refused: {dict(refused) or 'none'})"
        )
    w = settings.window.length
    windows = WindowBatch.concat([b for b in parts if len(b)], w, len(channels))
    lineage = {"source": [str(p) for p in paths], "fitted_by": "stream-ae fit"}
    return fit_windows(settings, windows, channels, out, lineage, dict(refused), progress)


def fit_windows(
    settings: Settings,
    windows: WindowBatch,
    channels: Sequence[str],
    out: Path,
    lineage: dict[str, Any],
    refused: dict[str, int] | None = None,
    progress: bool | None = None,
) -> FitSummary:
    """Fit on `windows` (each series' in time order), publish the model to the registry
    `out` and make it current there."""
    counts = Counter(windows.series)
    if len(windows) < 8:
        raise InputError(
            f"the data make {len(windows)} windows of {settings.window.length} points; a fit "
            "needs at least 8. Give more points (a series' first N points make N - "
            "window.length + 1 windows) or a shorter window.length"
        )
    try:
        path = wiring.publish_fit(
            settings, windows.series, windows.values, channels, out, lineage, progress
        )
    except ValueError as exc:  # the training's sentence (diverged, too few windows)
        raise InputError(f"the fit failed: {exc}") from exc
    registry = ModelRegistry(out)
    registry.promote(path.name, reason=str(lineage.get("fitted_by", "a fit")))
    manifest = registry.get(path.name).manifest
    return FitSummary(path, dict(counts), dict(refused or {}), manifest)
