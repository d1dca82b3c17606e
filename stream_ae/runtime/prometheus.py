"""A Prometheus server on loopback, scraping detectors: for tests and the dashboard picture.

Production scrapes with its own Prometheus (see deploy/); this starts the binary of
Debian's `prometheus` package against a throwaway data directory, the way the
embedded broker stands in for Kafka.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from stream_ae.errors import StreamAEError


def tool(name: str) -> str:
    """The path of a Prometheus binary (`prometheus`, `promtool`), or a sentence."""
    found = shutil.which(name)
    if found is None:
        raise StreamAEError(
            f"{name} is not installed; install Debian's package: apt-get install -y prometheus"
        )
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalPrometheus:
    """`prometheus` scraping `targets` (host:port) every `scrape_s` seconds."""

    def __init__(self, workdir: Path, targets: list[str], scrape_s: float = 1.0) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        config = workdir / "prometheus.yml"
        every = f"{scrape_s:g}s"
        scrape = {"job_name": "stream-ae", "static_configs": [{"targets": targets}]}
        # JSON is YAML: no YAML writer needed.
        config.write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": every, "evaluation_interval": every},
                    "scrape_configs": [scrape],
                }
            )
        )
        self._log_path = workdir / "prometheus.log"
        self._log = self._log_path.open("w")
        self._proc = subprocess.Popen(
            [
                tool("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def __enter__(self) -> LocalPrometheus:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}?" + urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:  # a bad query: Prometheus says why
            body = json.load(exc)
        if body.get("status") != "success":
            raise StreamAEError(f"Prometheus refused {params}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (raises with Prometheus's reason if it fails)."""
        return list(self._get("/api/v1/query", {"query": expr})["result"])

    def value(self, expr: str) -> float:
        """The first sample of an instant query, NaN when there is none."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else float("nan")

    def query_range(
        self, expr: str, start: float, end: float, step_s: float
    ) -> list[dict[str, Any]]:
        """A range query's matrix: one entry per series, `values` as [time, "value"]."""
        params = {"query": expr, "start": start, "end": end, "step": step_s}
        return list(self._get("/api/v1/query_range", params)["result"])

    def label_values(self, label: str, metric: str) -> list[str]:
        """What Grafana's `label_values(metric, label)` lists."""
        return list(self._get(f"/api/v1/label/{label}/values", {"match[]": metric}))

    def wait_until_up(self, limit_s: float = 90.0) -> None:
        """Wait for the first successful scrape of every target."""
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            if self._proc.poll() is not None:
                raise StreamAEError(
                    f"prometheus exited with {self._proc.returncode}; see {self._log_path}"
                )
            try:
                if self.query("up") and all(r["value"][1] == "1" for r in self.query("up")):
                    return
            except (OSError, StreamAEError):
                pass  # still starting
            time.sleep(0.5)
        raise StreamAEError(f"no successful scrape within {limit_s:g} s; see {self._log_path}")

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._log.close()
