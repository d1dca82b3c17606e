"""Secrets: a planted SASL password never appears in anything stream-ae prints or logs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stream_ae.cli.main import main
from stream_ae.connectors.kafka_common import client_options
from stream_ae.errors import ConfigError
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.settings import load_settings

SECRET = "pl4nted-s3cret-Xq9"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("STREAM_AE_"):
            monkeypatch.delenv(name)


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "secret.toml"
    path.write_text(
        '[kafka]\nsecurity_protocol = "SASL_PLAINTEXT"\nsasl_username = "detector"\n'
        f'sasl_password = "{SECRET}"\n{extra}'
    )
    return path


@pytest.mark.parametrize("source", ["file", "env"])
@pytest.mark.parametrize("comments", [False, True])
def test_check_config_masks_the_password(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    source: str,
    comments: bool,
) -> None:
    config = _config(tmp_path)
    if source == "env":
        config.write_text('[kafka]\nsecurity_protocol = "SASL_PLAINTEXT"\n')
        monkeypatch.setenv("STREAM_AE_KAFKA__SASL_PASSWORD", SECRET)
    argv = ["check-config", "--config", str(config)] + (["--comments"] if comments else [])
    assert main(argv) == 0
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err
    assert "sasl_password" in out.out  # shown as set, hidden
    # What the client is built with is the real password.
    settings = load_settings(config)
    assert client_options(settings.kafka)["sasl_plain_password"] == SECRET
    assert SECRET not in repr(settings) + str(settings.kafka)


def test_config_errors_never_echo_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A neighbouring key is wrong: the message lists problems, not the password.
    with pytest.raises(ConfigError) as neighbour:
        load_settings(_config(tmp_path, 'sasl_mechanism = "BOGUS"\npartitions = 0\n'))
    assert "sasl_mechanism" in str(neighbour.value) and SECRET not in str(neighbour.value)
    # The password itself of the wrong type (a number in TOML): named, not echoed.
    digits = "918273645546372819"
    path = tmp_path / "number.toml"
    path.write_text(f"[kafka]\nsasl_password = {digits}\n")
    with pytest.raises(ConfigError) as wrong_type:
        load_settings(path)
    assert "kafka.sasl_password" in str(wrong_type.value)
    assert digits not in str(wrong_type.value)
    # The same from the environment, with a whole section as JSON.
    monkeypatch.setenv("STREAM_AE_KAFKA", f'{{"sasl_password": {digits}, "partitions": 0}}')
    with pytest.raises(ConfigError) as from_env:
        load_settings()
    assert digits not in str(from_env.value)


def test_check_config_through_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`stream-ae check-config | head -1`: the reader goes away; no traceback."""
    read, write = os.pipe()
    os.close(read)  # nobody reads: the first write fails with EPIPE
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_AE_")}
    proc = subprocess.run(
        [sys.executable, "-m", "stream_ae.cli", "check-config", "--comments"],
        stdout=write,
        stderr=subprocess.PIPE,
        env=env,
        timeout=120,
        check=False,
    )
    os.close(write)
    assert "Traceback" not in proc.stderr.decode(), proc.stderr.decode()
    assert "BrokenPipeError" not in proc.stderr.decode()
    assert proc.returncode == 141  # 128 + SIGPIPE, as a shell tool killed by it


def test_a_running_service_logs_no_password(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """A real `stream-ae run`, verbose, with the password in its file and its environment."""
    from ..service.conftest import ServiceProcess, base_settings, prefix, wait_for

    text = base_settings(tmp_path, broker.address, prefix()).summary()
    with_secret = text.replace("[kafka]\n", f'[kafka]\nsasl_password = "{SECRET}"\n', 1)
    env = {"STREAM_AE_KAFKA__SASL_USERNAME": "detector"}
    for source in ("file", "env"):
        if source == "env":
            env["STREAM_AE_KAFKA__SASL_PASSWORD"] = SECRET
        service = ServiceProcess(
            with_secret if source == "file" else text, tmp_path, "run", env=env, verbose=True
        )
        try:
            wait_for(service.started, "the service to start")
            service.terminate()
        finally:
            service.close()
        log = service.log
        assert "detector consuming" in log.read_text()
        assert SECRET not in log.read_text(), source
