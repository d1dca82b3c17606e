"""Log lines as people and log collectors read them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream_ae import logs
from stream_ae.cli.main import main


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_time_level_logger_message_and_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure("json")
    logging.getLogger("stream_ae.pump").warning("pressure %s", "high")
    try:
        raise ZeroDivisionError("oops")
    except ZeroDivisionError:
        logging.getLogger("stream_ae.pump").exception("scoring failed")
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert {k: first[k] for k in ("level", "logger", "message")} == {
        "level": "WARNING",
        "logger": "stream_ae.pump",
        "message": "pressure high",
    }
    assert first["time"].endswith("+00:00")
    assert second["level"] == "ERROR" and "ZeroDivisionError: oops" in second["exc_info"]


def test_text_is_the_default_and_an_unknown_format_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure()
    logging.getLogger("stream_ae.pump").info("started")
    assert capsys.readouterr().err.rstrip().endswith(" INFO stream_ae.pump: started")
    with pytest.raises(ValueError, match="'text' or 'json'"):
        logs.configure("xml")


def test_a_command_logs_json_when_its_settings_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [f"{1_700_000_000 + 60 * i},{i % 10}" for i in range(300)]
    data = tmp_path / "pump.csv"
    data.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    config = tmp_path / "json.toml"
    config.write_text('[logging]\nformat = "json"\n[model]\nepochs = 2\n')
    args = ["detect", str(data), "--config", str(config), "--out", str(tmp_path / "out")]
    assert main([*args, "--no-progress", "-q", "--fit-points", "200"]) == 0
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]  # every stderr line is a JSON log record
    assert any("fitting a first model" in r["message"] for r in records)


def test_a_json_record_from_the_retrain_child_keeps_its_level_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio

    from stream_ae.lifecycle.schedule import _log_lines

    async def relay() -> None:
        stream = asyncio.StreamReader()
        error = {
            "level": "ERROR",
            "logger": "stream_ae.lifecycle.retrain",
            "message": "fit failed",
            "exc_info": "Traceback (most recent call last):\nValueError: diverged",
        }
        stream.feed_data((json.dumps(error) + "\nplain text line\n").encode())
        stream.feed_eof()
        await _log_lines(stream, 42)

    with caplog.at_level(logging.INFO, logger="stream_ae.lifecycle.schedule"):
        asyncio.run(relay())
    first, second = caplog.records
    assert first.levelno == logging.ERROR
    assert "retrain[42] stream_ae.lifecycle.retrain: fit failed" in first.getMessage()
    assert "ValueError: diverged" in first.getMessage()  # one failure, one record
    assert second.levelno == logging.INFO and second.getMessage() == "retrain[42]: plain text line"
