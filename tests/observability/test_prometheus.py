"""The metrics and alert rules against the real tools: promtool, and a Prometheus
server scraping a detector that scores points from the real broker."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from stream_ae import __version__
from stream_ae.errors import StreamAEError
from stream_ae.metrics import ServiceMetrics
from stream_ae.pictures.dashboard import panel_queries, render_dashboard
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.runtime.prometheus import LocalPrometheus, tool
from stream_ae.runtime.service import DetectorService

from ..service.conftest import base_settings, encode, prefix, produce, sine_points

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "stream-ae.json"


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel, Grafana's variables filled in as the
    dashboard picture fills them."""
    board = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], expr)
        for panel in board["panels"]
        for expr, _ in panel_queries(panel, rate_interval="1m", series=".+")
    ]


def series_variable_query() -> str:
    board = json.loads(DASHBOARD.read_text())
    (variable,) = [v for v in board["templating"]["list"] if v["name"] == "series"]
    return str(variable["query"]["query"])


def test_dashboard_is_grafana_json_with_a_datasource_variable() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "stream-ae" and board["panels"]
    names = {v["name"] for v in board["templating"]["list"]}
    assert names == {"datasource", "series"}
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    assert all(panel["targets"] for panel in board["panels"])


def test_alert_rules_check_and_pass_their_unit_tests() -> None:
    checked = subprocess.run(
        [tool("promtool"), "check", "rules", "alerts.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 7 rules found" in checked.stdout
    tested = subprocess.run(
        [tool("promtool"), "test", "rules", "alerts_test.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


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
    with LocalPrometheus(tmp_path, [address]) as prometheus:
        prometheus.wait_until_up()
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
        assert prometheus.query(f'stream_ae_build_info{{version="{__version__}"}}')
        assert prometheus.value("process_resident_memory_bytes") > 0
        assert prometheus.query("python_info")

        with pytest.raises(StreamAEError, match="parse error"):
            prometheus.query("sum(")  # so a broken expression below could not pass unseen
        rules = yaml.safe_load((RULES / "alerts.yml").read_text())
        for rule in rules["groups"][0]["rules"]:
            prometheus.query(rule["expr"])  # every expression runs without error

        # Every dashboard query runs and returns data (a rate needs two scrapes of a
        # series, hence the wait); the picture of the dashboard draws every panel.
        def empty_panels() -> set[str]:
            return {title for title, expr in dashboard_queries() if not prometheus.query(expr)}

        eventually(lambda: not empty_panels(), "data in every panel")
        board = json.loads(DASHBOARD.read_text())
        now = time.time()
        had = render_dashboard(board, prometheus.query_range, now - 60, now, tmp_path / "d.png")
        assert set(had) == {panel["title"] for panel in board["panels"]} and all(had.values())
        assert (tmp_path / "d.png").stat().st_size > 50_000

        # The series variable lists the watched series: here both (top K is 10).
        assert set(prometheus.label_values("series", "stream_ae_series_score")) == {
            "pump-1",
            "pump-2",
        }
        assert series_variable_query() == "label_values(stream_ae_series_score, series)"
