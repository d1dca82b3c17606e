"""The manifest that travels with every model artifact, and the artifact error.

The manifest says what the module expects (window, channels, scaler) and where
it came from (training data, validation figures, module hash), so a detector
can refuse a model that does not fit it before it scores a single window.
Kept free of torch: tools that only read manifests need not import it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, TypeGuard

from stream_ae.core.errors import StreamAEError

FORMAT_VERSION = 2
"""The newest manifest format: 2 added the dense kind. An LSTM is still written as 1, so
a release that reads only 1 keeps loading it; a dense model says 2, so such a release
refuses it by its format rather than by weights that fit no LSTM."""
READABLE_VERSIONS = (1, 2)


def format_version_for(kind: str) -> int:
    """The format a model of `kind` is written in (bumped whenever a reader of the old
    format could misread the new one)."""
    return 1 if kind == "lstm" else FORMAT_VERSION


_SHA256 = re.compile(r"[0-9a-f]{64}")


class ArtifactError(StreamAEError, ValueError):
    """A model artifact was refused; the message names the file and what to do.

    Not retriable: the same files fail the same way until someone re-publishes
    or rolls back. A ValueError too, for callers that only know the builtins.
    `reason` is a bounded word for metrics: 'corrupt' (unreadable, incomplete,
    modified) or 'mismatch' (a sound model for another window or channel count).
    """

    def __init__(self, message: str, reason: str = "corrupt") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Manifest:
    """Contents of `manifest.json`; validated on construction.

    >>> m = Manifest(format_version=1, model_version="v1", window=32, channels=1,
    ...     channel_names=("value",), hidden=32, latent=16, layers=1, scaler={},
    ...     training={}, validation={}, module_sha256="0" * 64,
    ...     created_at="2026-11-22T16:30:00Z")
    >>> Manifest.from_dict(json.loads(m.to_json())) == m
    True
    """

    format_version: int
    model_version: str
    window: int
    """Window length (steps) the model was trained on and is served with."""
    channels: int
    channel_names: tuple[str, ...]
    """One name per channel, in the order of the model's input."""
    hidden: int
    latent: int
    layers: int
    scaler: dict[str, Any]
    """{"global": {"mean": [..], "std": [..]}, "series": {id: {...}}}; passed through as is."""
    training: dict[str, Any]
    """Free-form: data range, number of windows, config, losses."""
    validation: dict[str, Any]
    """Free-form validation figures, e.g. score percentiles on held-out data."""
    module_sha256: str
    """Hex sha256 of model.pt: a copied or half-written module is refused on load."""
    created_at: str
    """ISO-8601 UTC time of publishing, e.g. 2026-11-22T16:30:00Z."""
    fit_scores: dict[str, list[float]] = field(default_factory=dict)
    """Per series, the model's scores on the newest windows it was fitted on (time
    order, at most the threshold history): a detector starts that series' threshold
    from them and judges it from its first window. Absent in older manifests."""
    fit_runs: dict[str, list[list[float]]] = field(default_factory=dict)
    """Per series, the runs of exact repeats in its fit windows (`run_profile`: row 0 the
    steps, row L those at least L repeats into a run, one column per channel): a
    detector judges that series' stuck channels from its first window. Absent in older
    manifests."""
    kind: str = "lstm"
    """The model kind: "lstm" (LSTMAutoencoder) or "dense" (RecordAutoencoder). Absent in
    manifests published before the dense kind: those are LSTMs."""
    error_scale: dict[str, Any] = field(default_factory=dict)
    """Each channel's error scale measured on the fit windows, the channels whose scale
    was floored and why, and how channels combine (`ErrorScales.to_manifest`). Empty in
    models published before: every scale is 1."""

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("manifest is invalid: " + "; ".join(problems) + ".")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["channel_names"] = list(self.channel_names)
        return data

    def to_json(self) -> str:
        """Pretty, key-sorted JSON: manifests are read by people and diffed."""
        try:
            return json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"manifest cannot be written as JSON ({exc}); scaler, training and "
                "validation must hold only strings, finite numbers, booleans, None, "
                "lists and dicts with string keys."
            ) from exc

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Manifest:
        """Build from parsed JSON, naming every missing or malformed field."""
        names = [f.name for f in fields(cls)]
        required = [
            f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
        ]
        missing = [name for name in required if name not in raw]
        if missing:
            raise ValueError(
                f"manifest is missing field(s) {', '.join(missing)}; it was not written by "
                "write_artifact or was edited by hand."
            )
        # Unknown keys are ignored (forward-compatible); fields added later may be absent.
        values = {name: raw[name] for name in names if name in raw}
        if isinstance(values["channel_names"], list):
            values["channel_names"] = tuple(values["channel_names"])
        return cls(**values)


def is_positive_int(value: object) -> TypeGuard[int]:
    """A positive int, not a bool: bool is an int subclass, and `hidden=True` is a
    mistake, not the number 1."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _problems(m: Manifest) -> list[str]:
    problems: list[str] = []
    for name in ("format_version", "window", "channels", "hidden", "latent", "layers"):
        value = getattr(m, name)
        if not is_positive_int(value):
            problems.append(f"{name} must be a positive integer, got {value!r}")
    if m.kind not in ("lstm", "dense"):
        problems.append(f"kind must be 'lstm' or 'dense', got {m.kind!r}")
    elif isinstance(m.format_version, int) and m.format_version < format_version_for(m.kind):
        problems.append(f"a {m.kind} model needs format_version {format_version_for(m.kind)}")
    if not isinstance(m.model_version, str) or not m.model_version:
        problems.append(f"model_version must be a non-empty string, got {m.model_version!r}")
    names = m.channel_names
    if not isinstance(names, tuple) or not all(isinstance(n, str) and n for n in names):
        problems.append(f"channel_names must be a list of non-empty strings, got {names!r}")
    elif len(set(names)) != len(names):
        problems.append(f"channel_names must be distinct, got {list(names)}")
    elif isinstance(m.channels, int) and len(names) != m.channels:
        problems.append(f"channel_names has {len(names)} names for {m.channels} channels")
    for name in ("scaler", "training", "validation", "error_scale"):
        if not isinstance(getattr(m, name), dict):
            problems.append(f"{name} must be a JSON object, got {type(getattr(m, name)).__name__}")
    if not isinstance(m.module_sha256, str) or not _SHA256.fullmatch(m.module_sha256):
        problems.append(f"module_sha256 must be 64 lowercase hex digits, got {m.module_sha256!r}")
    if not _scores_table(m.fit_scores):
        problems.append(
            "fit_scores must map series ids to lists of finite numbers (the model's scores "
            "on its fit windows)"
        )
    if not _profiles_table(m.fit_runs, m.window, m.channels):
        problems.append(
            f"fit_runs must map series ids to {m.window} rows of {m.channels} finite numbers "
            "at least 0 (the runs of repeats in the series' fit windows)"
        )
    if not _is_utc_timestamp(m.created_at):
        problems.append(
            f"created_at must be an ISO-8601 UTC time like 2026-11-22T16:30:00Z, "
            f"got {m.created_at!r}"
        )
    return problems


def _profiles_table(table: object, rows: object, columns: object) -> bool:
    if not isinstance(table, dict):
        return False
    return all(
        isinstance(k, str)
        and isinstance(v, list)
        and len(v) == rows
        and all(
            isinstance(row, list)
            and len(row) == columns
            and all(_finite(x) and x >= 0 for x in row)
            for row in v
        )
        for k, v in table.items()
    )


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _scores_table(table: object) -> bool:
    if not isinstance(table, dict):
        return False
    return all(
        isinstance(k, str)
        and isinstance(v, list)
        and all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in v
        )
        for k, v in table.items()
    )


def _is_utc_timestamp(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    offset = parsed.utcoffset()
    return offset is not None and offset.total_seconds() == 0
