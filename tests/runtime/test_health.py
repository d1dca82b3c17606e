"""The answers of /healthz and /readyz, and their HTTP status beside /metrics."""

import urllib.error
import urllib.request

from prometheus_client import CollectorRegistry

from stream_ae.metrics import Probe, ServiceMetrics
from stream_ae.runtime.health import STALL_S, Health


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_ready_only_when_consuming_reachable_with_topics_and_partitions() -> None:
    assigned: set[object] = set()
    health = Health(lambda: assigned, clock=Clock())
    assert health.ready() == (False, "not consuming yet: waiting for Kafka or loading the model")
    health.consuming = True
    assert health.ready()[0] is False and "no partitions" in health.ready()[1]
    assigned.add("points/0")
    assert health.ready() == (True, "ready")
    health.broker_error = "Connect call failed"
    assert health.ready() == (False, "Kafka unreachable: Connect call failed")
    health.broker_error = None
    health.missing_topics = ("p.scores",)
    assert health.ready()[0] is False and "p.scores" in health.ready()[1]


def test_alive_until_the_loop_stalls() -> None:
    clock = Clock()
    health = Health(set, clock=clock)
    assert health.live() == (True, "starting")
    health.beat()
    clock.now += STALL_S / 2
    assert health.live() == (True, "alive")
    clock.now += STALL_S
    assert health.live()[0] is False


def test_not_alive_while_the_scoring_worker_is_stuck_on_one_task() -> None:
    clock = Clock()
    health = Health(set, stall_s=5.0, clock=clock)
    health.beat()
    health.working()
    clock.now += 4.0
    health.beat()  # the loop runs on while it awaits the worker
    assert health.live() == (True, "alive")
    clock.now += 2.0
    alive, why = health.live()
    assert alive is False and "scoring worker" in why and "6 s" in why
    health.idle()
    assert health.live() == (True, "alive")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_probes_are_served_beside_the_metrics_and_may_be_filled_in_later() -> None:
    probes: dict[str, Probe] = {}
    where = ServiceMetrics(CollectorRegistry()).serve("127.0.0.1:0", probes)
    probes["/readyz"] = lambda: (False, "loading the model")
    probes["/healthz"] = lambda: (True, "alive")
    assert get(f"http://{where}/readyz") == (503, "loading the model\n")
    assert get(f"http://{where}/healthz") == (200, "alive\n")
    status, body = get(f"http://{where}/metrics")
    assert status == 200 and "stream_ae_" in body


def test_not_ready_says_why_topics_were_not_re_created() -> None:
    health = Health(lambda: {"points/0"}, clock=Clock())
    health.consuming = True
    health.missing_topics = ("p.alerts",)
    health.missing_why = "re-creating them failed: not authorised"
    ready, why = health.ready()
    assert not ready
    assert "not authorised" in why and "create_topics is off" not in why
