"""SIGTERM and SIGINT stop `stream-ae run` with exit code 0 in every phase: waiting for
Kafka, loading the model, consuming."""

import signal
import socket
from pathlib import Path

import pytest

from stream_ae.runtime.broker import EmbeddedBroker

from .conftest import ServiceProcess, base_settings, prefix, produce_points, sine_points, wait_for
from .test_failover import with_model


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def stop(proc: ServiceProcess, signum: int) -> int:
    proc.proc.send_signal(signum)
    # Far below kafka.connect_retry_s: a process that waits for Kafka first fails this.
    return proc.proc.wait(timeout=40)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_wait_for_an_unreachable_kafka(
    signum: int, artifact: Path, tmp_path: Path
) -> None:
    settings = with_model(
        base_settings(tmp_path, f"127.0.0.1:{closed_port()}", prefix(), connect_retry_s=300),
        artifact,
    )
    proc = ServiceProcess(settings, tmp_path, "unreachable")
    try:
        wait_for(lambda: "waiting for Kafka" in proc.text(), "the wait for Kafka")
        assert stop(proc, signum) == 0, proc.text()
    finally:
        proc.close()
    assert "stopped before" in proc.text()


@pytest.mark.parametrize("phase", ["metrics on", "detector consuming"])
def test_sigterm_stops_loading_and_consuming(
    phase: str, broker: EmbeddedBroker, artifact: Path, tmp_path: Path
) -> None:
    # "metrics on" is logged just before the model loads; "detector consuming" once the
    # consumer runs.
    settings = with_model(base_settings(tmp_path, broker.address, prefix()), artifact)
    proc = ServiceProcess(settings, tmp_path, "live")
    try:
        wait_for(lambda: phase in proc.text(), phase)
        assert stop(proc, signal.SIGTERM) == 0, proc.text()
    finally:
        proc.close()


def test_sigterm_stops_a_service_during_its_first_fit(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    p = prefix()
    settings = base_settings(tmp_path, broker.address, p)
    # A fit far longer than the test may wait: the stop must not sit it out.
    long_fit = settings.model.model_copy(update={"epochs": 100_000, "patience": 100_000})
    settings = settings.model_copy(update={"model": long_fit})
    proc = ServiceProcess(settings, tmp_path, "fitting")
    try:
        wait_for(lambda: "detector consuming" in proc.text(), "the detector")
        points = sine_points([f"s{i}" for i in range(6)], 80, spikes={})
        produce_points(broker.address, f"{p}.points", points)
        wait_for(lambda: "fitting a first model" in proc.text(), "the first fit to start")
        assert stop(proc, signal.SIGTERM) == 0, proc.text()
    finally:
        proc.close()
    assert "first fit was still running" in proc.text()
