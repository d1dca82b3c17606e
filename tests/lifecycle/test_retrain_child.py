"""The service's retrain child: settings through a pipe only, and it dies with its parent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stream_ae.cli.model import RETRAIN_KEPT
from stream_ae.connectors.kafka_common import ensure_topics
from stream_ae.lifecycle.registry import ModelRegistry
from stream_ae.lifecycle.retrain import run_retrain
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.settings import Settings

from ..service.conftest import base_settings, prefix, produce_points, sine_points, wait_for
from .test_retrain import settings_for, wave, write_csv

SECRET = "ch1ld-s3cret-Zr7"
RETRAIN = [sys.executable, "-m", "stream_ae.cli", "retrain", "--settings-stdin", "--no-progress"]

# A small parent: the service's retrain scheduler alone, asked for one retrain at once.
PARENT = """
import asyncio, logging, sys
from prometheus_client import CollectorRegistry
from stream_ae.metrics import ServiceMetrics
from stream_ae.lifecycle.schedule import RetrainScheduler
from stream_ae.settings import load_settings

logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

async def main():
    scheduler = RetrainScheduler(load_settings(sys.argv[1]), ServiceMetrics(CollectorRegistry()))
    scheduler.request("a test")
    while True:
        await scheduler.tick()
        await asyncio.sleep(0.1)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead; only the parent (gone) could reap it, init will.
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def _files_holding(root: Path, text: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_a_killed_parent_takes_its_retrain_child_along_and_nothing_is_promoted(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    p = prefix()
    raw = base_settings(tmp_path, broker.address, p).model_dump(mode="json")
    raw["kafka"].pop("sasl_password")
    # A fit long enough to be killed in the middle of.
    raw["model"] |= {"epochs": 5000, "patience": 5000}
    raw["retrain"] |= {"since_s": 3600, "drift_cooldown_s": 0, "min_windows": 100}
    settings = Settings.model_validate(raw)
    k = settings.kafka
    asyncio.run(ensure_topics(k, [k.input_topic, k.alert_topic]))  # the job reads both
    produce_points(broker.address, settings.kafka.input_topic, sine_points(["pump"], 600, {}))
    registry = ModelRegistry(settings.model.artifact_dir)
    before = registry.current()

    config = tmp_path / "parent.toml"
    config.write_text(settings.summary())
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_AE_")}
    env |= {"TMPDIR": str(temp), "STREAM_AE_KAFKA__SASL_PASSWORD": SECRET}
    log = tmp_path / "parent.log"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(config)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    try:
        # The child's own log line reaches the parent's log while the child runs.
        wait_for(
            lambda: (
                "fitting a candidate" in log.read_text()
                or parent.poll() is not None
                or "retrain job failed" in log.read_text()
            ),
            "the child to start fitting",
        )
        text = log.read_text()
        assert "fitting a candidate" in text, text
        child = int(text.split("retrain job started (pid ")[1].split(")")[0])
        assert f"retrain[{child}]:" in text
        # The password reached the child through its stdin only.
        proc = Path(f"/proc/{child}")
        assert SECRET.encode() not in (proc / "cmdline").read_bytes()
        assert SECRET.encode() not in (proc / "environ").read_bytes()
        assert _files_holding(temp, SECRET) == [] and list(temp.iterdir()) == []
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        killed = time.monotonic()
        wait_for(lambda: not _alive(child), "the orphaned child to end", limit_s=60)
        ended_after = time.monotonic() - killed
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    # Bounded: the child notices at once, not after its fit would have ended.
    assert ended_after < 20, ended_after
    assert registry.current() == before
    assert list(temp.iterdir()) == []
    assert _files_holding(tmp_path, SECRET) == []
    assert SECRET not in log.read_text()


def test_settings_cross_the_pipe_with_the_secret_intact() -> None:
    settings = Settings.model_validate({"kafka": {"sasl_password": SECRET}})
    line = settings.for_child()
    assert "\n" not in line
    again = Settings.from_child_line(line)
    assert again == settings
    assert again.kafka.sasl_password is not None
    assert again.kafka.sasl_password.get_secret_value() == SECRET


def test_a_job_whose_parent_is_gone_promotes_nothing(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    registry = ModelRegistry(settings.model.artifact_dir)
    data = write_csv(tmp_path / "pump.csv", wave(600))
    result = run_retrain(settings, files=[data], progress=False, may_promote=lambda: False)
    assert not result.promoted and "gone" in result.reason
    assert registry.current() is None and registry.versions() == []


def test_the_child_reports_promoted_or_kept_by_its_exit_status(tmp_path: Path) -> None:
    """`retrain --settings-stdin`, as the service runs it: the settings on stdin (kept open),
    exit 0 when promoted, RETRAIN_KEPT when not."""
    data = write_csv(tmp_path / "pump.csv", wave(600))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_AE_")}

    def child(settings: Settings) -> int:
        proc = subprocess.Popen(
            [*RETRAIN, "--file", str(data)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert proc.stdin is not None
        proc.stdin.write(settings.for_child().encode() + b"\n")
        proc.stdin.flush()
        code = proc.wait(timeout=300)
        proc.stdin.close()
        return code

    assert child(settings_for(tmp_path)) == 0
    registry = ModelRegistry(settings_for(tmp_path).model.artifact_dir)
    first = registry.current()
    assert first is not None
    # The same data, a candidate that would have to be 100x better: kept.
    assert child(settings_for(tmp_path, max_error_ratio=0.01)) == RETRAIN_KEPT
    assert registry.current() == first


def test_a_corrupt_current_does_not_stop_the_retrain_job(tmp_path: Path) -> None:
    from .test_corrupt_current import corrupt_module

    settings = settings_for(tmp_path)
    registry = ModelRegistry(settings.model.artifact_dir)
    data = write_csv(tmp_path / "pump.csv", wave(600))
    first = run_retrain(settings, files=[data], progress=False)
    corrupt_module(registry.root / first.candidate)
    again = run_retrain(settings, files=[write_csv(data, wave(600, seed=3))], progress=False)
    assert again.promoted and registry.current() == again.candidate != first.candidate
