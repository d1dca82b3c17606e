"""The metrics and alert rules against the real tools: promtool, and a Prometheus
server scraping a detector that scores points from the real broker."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from stream_ae.metrics import ServiceMetrics
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.runtime.service import DetectorService

from ..service.conftest import base_settings, encode, prefix, produce, sine_points

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "stream-ae.json"


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel, with Grafana's rate interval filled in."""
    board = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"].replace("$__rate_interval", "1m"))
        for panel in board["panels"]
        for target in panel["targets"]
    ]


def test_dashboard_is_grafana_json_with_a_datasource_variable() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "stream-ae" and board["panels"]
    names = {v["name"] for v in board["templating"]["list"]}
    assert "datasource" in names
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    assert all(panel["targets"] for panel in board["panels"])


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed: apt-get install -y prometheus")
    return found


def test_alert_rules_check_and_pass_their_unit_tests() -> None:
    checked = subprocess.run(
        [tool("promtool"), "check", "rules", "alerts.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout
    tested = subprocess.run(
        [tool("promtool"), "test", "rules", "alerts_test.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    def __init__(self, workdir: Path, target: str) -> None:
        self.port = free_port()
        config = workdir / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "scrape_configs": [
                        {"job_name": "stream-ae", "static_configs": [{"targets": [target]}]}
                    ],
                }
            )
        )
        self.log = (workdir / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [
                tool("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr}
        )
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def value(self, expr: str) -> float:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def eventually(check: Any, what: str, limit_s: float = 90.0) -> None:
    """Poll until `check()` is true; the limit only stops a hung test."""
    end = time.monotonic() + limit_s
    while True:
        try:
            if check():
                return
        except (OSError, IndexError, KeyError):
            pass  # the server is still starting
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.5)


@pytest.fixture
def detector(broker: EmbeddedBroker, artifact: Path, tmp_path: Path) -> Iterator[Any]:
    """A detector service on a thread of this process, its metrics on a free port."""
    p = prefix()
    settings = base_settings(tmp_path, broker.address, p)
    metrics = ServiceMetrics(CollectorRegistry())
    address = metrics.serve("127.0.0.1:0")
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    service = DetectorService(settings, artifact=artifact, metrics=metrics)
    thread = threading.Thread(target=loop.run_until_complete, args=(service.run(stop),))
    thread.start()
    yield p, address
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=60)


def test_prometheus_sees_the_metrics_move(
    broker: EmbeddedBroker, detector: Any, tmp_path: Path
) -> None:
    p, address = detector
    prometheus = Prometheus(tmp_path, address)
    try:
        eventually(lambda: prometheus.value('up{job="stream-ae"}') == 1, "the first scrape")
        points = sine_points(["pump-1", "pump-2"], 400, spikes={"pump-2": 350})
        asyncio.run(
            produce(broker.address, f"{p}.points", [(x.series.encode(), encode(x)) for x in points])
        )
        eventually(
            lambda: prometheus.value("stream_ae_points_consumed_total") == len(points),
            "every point counted",
        )
        eventually(
            lambda: prometheus.value('sum(stream_ae_alerts_total{state="open"})') >= 1,
            "the spike's alert counted",
        )
        assert prometheus.value("stream_ae_windows_scored_total") == len(points) - 2 * 15
        assert prometheus.value('stream_ae_stage_seconds_count{stage="score"}') >= 1
        assert prometheus.value("stream_ae_append_to_alert_seconds_count") >= 1
        assert prometheus.value("stream_ae_model_age_seconds") > 0
        assert prometheus.query('stream_ae_model_info{scorer="lstm-ae"}')

        rules = yaml.safe_load((RULES / "alerts.yml").read_text())
        for rule in rules["groups"][0]["rules"]:
            prometheus.query(rule["expr"])  # every expression runs without error

        # Every dashboard query runs; those over data that exists return some (a rate
        # needs two scrapes of a series, hence the wait).
        def empty_panels() -> set[str]:
            return {title for title, expr in dashboard_queries() if not prometheus.query(expr)}

        eventually(lambda: empty_panels() <= {"Dead letters / s"}, "data in every panel")
        assert "Dead letters / s" in empty_panels()  # nothing was dead-lettered
    finally:
        prometheus.stop()
