"""Where log lines go and how they read: text for people, JSON for log collectors."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure` installs, told apart from handlers others added (a test
    runner's capture, an embedding application's own)."""


def configure(log_format: str = "text", *, verbose: bool = False) -> None:
    """Send every log line to stderr in `log_format` ("text" or "json"), replacing the
    handler an earlier call installed (the last call wins) and leaving other handlers
    of the root logger alone."""
    handler = _Stderr(sys.stderr)
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",  # ISO 8601 in UTC, to the microsecond
            )
        )
    elif log_format == "text":
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    else:
        raise ValueError(f"log format must be 'text' or 'json' (got {log_format!r})")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
