"""The command line as shell users expect it: flags before or after the command, exit
statuses that tell a failed run from a wrong invocation, the broker given on the line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stream_ae.cli.main import ALL_REFUSED, main, parser


@pytest.mark.parametrize(
    "argv",
    [
        ["-v", "-q", "detect"],
        ["detect", "-v", "-q"],
        ["-v", "detect", "-q"],
    ],
)
def test_verbose_and_quiet_are_read_before_or_after_the_command(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    assert (args.verbose, args.quiet) == (True, True)


def test_a_nested_command_takes_them_too() -> None:
    args = parser().parse_args(["model", "list", "-v"])
    assert args.verbose is True and not hasattr(args, "quiet")


def stream_ae(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stream_ae", *args], capture_output=True, text=True, timeout=120
    )


def test_a_run_that_cannot_reach_its_broker_exits_1_naming_the_address(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[kafka]\nconnect_retry_s = 1\n[model]\nartifact_dir = "{tmp_path}"\n')
    done = stream_ae("run", "--bootstrap", "127.0.0.1:1", "--config", str(config), "-q")
    assert done.returncode == 1, done.stderr
    assert "Kafka at 127.0.0.1:1 did not answer" in done.stderr


def test_usage_configuration_and_refused_data_have_their_own_statuses(tmp_path: Path) -> None:
    assert main(["detect", str(tmp_path / "missing.csv")]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[window]\nlength = 0\n")
    assert main(["check-config", "--config", str(bad)]) == 2
    refused = tmp_path / "refused.csv"
    refused.write_text("timestamp,value\n1,x\n2,y\n")
    out = str(tmp_path / "out")
    assert main(["detect", str(refused), "--out", out, "--no-progress", "-q"]) == ALL_REFUSED
    with pytest.raises(SystemExit) as usage:
        main(["detect", "--no-such-option"])
    assert usage.value.code == 2


def test_the_help_lists_the_exit_statuses() -> None:
    text = parser().format_help()
    assert "exit status:" in text and "1    the run failed" in text
