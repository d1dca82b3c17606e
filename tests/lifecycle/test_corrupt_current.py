"""A `current` that does not load: the service starts on the newest loadable version of
its history, says why and counts it; `model rollback` steps over versions that do not load."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from stream_ae.cli.main import main
from stream_ae.lifecycle.registry import ModelRegistry
from stream_ae.metrics import ServiceMetrics
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.runtime.service import DetectorService
from stream_ae.settings import Settings

from ..service.conftest import ServiceProcess, base_settings, prefix, wait_for
from .conftest import counted
from .test_hot_swap import copy_version


def corrupt_module(version: Path) -> None:
    data = bytearray((version / "model.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: the sha256 no longer matches
    (version / "model.pt").write_bytes(bytes(data))


def mangle_manifest(version: Path) -> None:
    text = (version / "manifest.json").read_text()
    (version / "manifest.json").write_text(text[: len(text) // 2])  # cut mid-way


DAMAGE = {"module": corrupt_module, "manifest": mangle_manifest}


def registry_of(settings: Settings, artifact: Path, names: list[str]) -> ModelRegistry:
    registry = ModelRegistry(settings.model.artifact_dir)
    for name in names:
        copy_version(artifact, registry.root, name)
        registry.promote(name)
    return registry


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_corrupt_current_falls_back_to_the_newest_loadable_one(
    artifact: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    settings = base_settings(tmp_path, "unused:1", prefix())
    registry = registry_of(settings, artifact, ["A", "B", "C"])
    DAMAGE[damage](registry.root / "C")
    DAMAGE[damage](registry.root / "B")
    metrics = ServiceMetrics(CollectorRegistry())
    caplog.set_level(logging.INFO, logger="stream_ae")
    service = DetectorService(settings, metrics=metrics)
    assert service.detector.serving.version == "A"
    assert registry.current() == "C"  # the pointer is the operator's to move
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "C" in messages and "does not load" in messages and "corrupt" in messages
    assert "serving model A" in messages and "fallback" in messages
    assert counted(metrics, "stream_ae_model_reload_failures_total", reason="corrupt") == 2


def test_nothing_loadable_is_a_sentence(artifact: Path, tmp_path: Path) -> None:
    from stream_ae.errors import StreamAEError

    settings = base_settings(tmp_path, "unused:1", prefix())
    registry = registry_of(settings, artifact, ["A"])
    corrupt_module(registry.root / "A")
    with pytest.raises(StreamAEError, match=r"no version .* loads.*promote"):
        DetectorService(settings, metrics=ServiceMetrics(CollectorRegistry()))


@pytest.mark.parametrize("damage", DAMAGE)
def test_rollback_skips_versions_that_do_not_load(
    artifact: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    settings = base_settings(tmp_path, "unused:1", prefix())
    registry = registry_of(settings, artifact, ["A", "B", "C"])
    DAMAGE[damage](registry.root / "B")
    config = tmp_path / "s.toml"
    config.write_text(settings.summary())
    assert main(["model", "rollback", "--config", str(config)]) == 0
    assert registry.current() == "A"
    out = capsys.readouterr()
    assert "current: A (was C)" in out.out
    assert "rollback skips B, it does not load" in out.err + caplog.text


def test_a_restarted_service_with_a_corrupt_current_serves_the_one_before(
    broker: EmbeddedBroker, artifact: Path, tmp_path: Path
) -> None:
    settings = base_settings(tmp_path, broker.address, prefix())
    registry = registry_of(settings, artifact, ["A", "B"])
    corrupt_module(registry.root / "B")
    service = ServiceProcess(settings, tmp_path, "run")
    try:
        wait_for(service.started, "the service to start")
        assert service.proc.poll() is None, service.text()
        assert service.terminate() == 0
    finally:
        service.close()
    log = service.log
    text = log.read_text()
    assert "serving model A" in text and "fallback" in text, text
    json.loads((registry.root / "current").read_text())  # untouched and whole
