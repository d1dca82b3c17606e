"""A broker that refuses the login is reported as a refusal at once, naming the
mechanism and the user, not waited on for kafka.connect_retry_s as "did not answer"."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from stream_ae.cli.main import main
from stream_ae.connectors.kafka_common import KafkaUnavailable, client_options, start_patiently
from stream_ae.errors import ConfigError
from stream_ae.runtime.broker import _free_port, _resolve_binary
from stream_ae.settings import KafkaSettings, Settings


@pytest.fixture(scope="module")
def login_broker() -> Iterator[str]:
    """The embedded broker's binary with client authentication required and no user."""
    port = _free_port()
    address = f"127.0.0.1:{port}"
    url = f"tcp://{address}"
    command = [_resolve_binary(), "broker", "--listener-url", url]
    command += ["--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
    proc = subprocess.Popen(
        [*command, "--authentication"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the broker with authentication did not start") from None
                time.sleep(0.1)
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def sasl(address: str, mechanism: str) -> KafkaSettings:
    return KafkaSettings.model_validate(
        {
            "bootstrap_servers": address,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": mechanism,
            "sasl_username": "pump-reader",
            "sasl_password": "wrong",
            "connect_retry_s": 5,
        }
    )


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_a_refused_login_is_reported_as_such_without_waiting(
    login_broker: str, mechanism: str
) -> None:
    kafka = sasl(login_broker, mechanism)
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    async def start() -> None:
        await start_patiently(
            lambda: AIOKafkaProducer(**client_options(kafka)), kafka, "producer", sleep=no_wait
        )

    with pytest.raises(KafkaUnavailable) as refused:
        asyncio.run(start())
    text = str(refused.value)
    assert f"refused the producer's {mechanism} login as 'pump-reader'" in text
    assert "kafka.sasl_password" in text and "did not answer" not in text
    assert waits == []


def test_an_unreachable_sasl_broker_is_still_waited_for() -> None:
    kafka = sasl(f"127.0.0.1:{_free_port()}", "SCRAM-SHA-256").model_copy(
        update={"connect_retry_s": 0.5}
    )
    waits: list[float] = []

    async def short_wait(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    def waited() -> float:
        # The time the retries waited, not the wall clock: on a loaded machine a first
        # attempt alone could outlast connect_retry_s and leave no wait to see.
        return sum(waits)

    async def start() -> None:
        await start_patiently(
            lambda: AIOKafkaProducer(**client_options(kafka)),
            kafka,
            "producer",
            clock=waited,
            sleep=short_wait,
        )

    with pytest.raises(KafkaUnavailable, match="did not answer"):
        asyncio.run(start())
    assert waits == [0.25, 0.25]  # backoff from 0.25 s, cut to what is left of the 0.5 s


def test_replay_to_a_broker_that_refuses_the_login_exits_1(
    login_broker: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    kafka = sasl(login_broker, "SCRAM-SHA-256")
    config.write_text(Settings(kafka=kafka).summary())
    points = tmp_path / "p.jsonl"
    points.write_text('{"series": "a", "ts": 1, "value": 1}\n')
    assert main(["replay", str(points), "--config", str(config)]) == 1
    assert "refused the producer's SCRAM-SHA-256 login" in capsys.readouterr().err


def test_a_proxy_that_closes_every_connection_is_waited_for_not_called_a_refusal() -> None:
    """A load balancer whose broker is not up yet accepts and closes at once: that is not
    a refused login, and start-up keeps waiting for it."""

    async def scenario() -> None:
        async def close_at_once(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        kafka = sasl(f"127.0.0.1:{port}", "PLAIN").model_copy(update={"connect_retry_s": 1.0})
        try:
            with pytest.raises(KafkaUnavailable, match="did not answer"):
                await start_patiently(
                    lambda: AIOKafkaProducer(**client_options(kafka)), kafka, "producer"
                )
        finally:
            server.close()

    asyncio.run(scenario())


def test_an_unreadable_token_file_stays_a_configuration_error(
    login_broker: str, tmp_path: Path
) -> None:
    kafka = sasl(login_broker, "OAUTHBEARER").model_copy(
        update={"sasl_oauth_token_file": tmp_path / "missing-token"}
    )

    async def start() -> None:
        await start_patiently(lambda: AIOKafkaProducer(**client_options(kafka)), kafka, "producer")

    with pytest.raises(ConfigError, match="cannot read the OAuth token file"):
        asyncio.run(start())
