"""Result files out: alerts and rejections as JSONL, flushed and closed with the job."""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from stream_ae.connectors.dead_letters import DeadLetter, dead_letter_to_dict
from stream_ae.connectors.wire import alert_to_dict
from stream_ae.core.records import Alert, Rejection


class LineWriter:
    """An output file: parent dirs created, flushed and closed on close or on `with` exit."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("w", encoding="utf-8", newline="")

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _line(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")


class AlertWriter(LineWriter):
    """Alerts as JSONL, one alert (wire format 1) per line."""

    def write(self, alert: Alert) -> None:
        self._line(alert_to_dict(alert))


class RejectWriter(LineWriter):
    """Rejected input as JSONL, one dead letter per line (`connectors.dead_letters`)."""

    def write(self, rejection: Rejection) -> None:
        self._line(dead_letter_to_dict(DeadLetter(rejection)))
