"""The model registry and `stream-ae model`: versions, the current pointer, rollback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stream_ae.cli.main import main
from stream_ae.lifecycle.registry import POINTER, ModelRegistry, RegistryError


def fake_version(root: Path, name: str, window: int = 16, parent: str | None = None) -> Path:
    """A version directory with a manifest only: enough for the torch-free registry."""
    path = root / name
    path.mkdir(parents=True)
    manifest = {
        "model_version": name,
        "created_at": "2026-11-22T10:00:00Z",
        "window": window,
        "channel_names": ["value"],
        "training": {"parent": parent} if parent else {},
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def test_without_a_pointer_the_newest_version_serves(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    assert registry.versions() == [] and registry.serving() is None
    fake_version(tmp_path, "20261101T000000Z-a")
    fake_version(tmp_path, "20261102T000000Z-b")
    (tmp_path / "20261103T000000Z-half").mkdir()  # no manifest yet: not a version
    assert [v.name for v in registry.versions()] == ["20261101T000000Z-a", "20261102T000000Z-b"]
    assert registry.current() is None
    serving = registry.serving()
    assert serving is not None and serving.name == "20261102T000000Z-b"


def test_promote_and_rollback_walk_the_history(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    for name in ("a", "b", "c"):
        fake_version(tmp_path, name)
    registry.promote("a")
    registry.promote("b")
    registry.promote("b")  # already current: no history entry
    registry.promote("c")
    assert registry.current() == "c" and registry.history() == ["a", "b"]
    assert registry.rollback() == "b"
    assert registry.rollback() == "a"
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback()
    assert registry.current() == "a"
    pointer = json.loads((tmp_path / POINTER).read_text())
    assert pointer["reason"] == "rolled back" and pointer["changed_at"].endswith("Z")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".current-")] == []


def test_promoting_an_unknown_version_names_the_known_ones(tmp_path: Path) -> None:
    fake_version(tmp_path, "a")
    with pytest.raises(RegistryError, match=r"no readable version 'nope' .*newest: a"):
        ModelRegistry(tmp_path).promote("nope")
    assert ModelRegistry(tmp_path).current() is None


def test_a_damaged_pointer_is_an_error_that_says_how_to_repair_it(tmp_path: Path) -> None:
    (tmp_path / POINTER).write_text("{half")
    with pytest.raises(RegistryError, match="promote a version again"):
        ModelRegistry(tmp_path).current()


def test_model_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_version(tmp_path, "20261101T000000Z-a")
    fake_version(tmp_path, "20261102T000000Z-b", parent="20261101T000000Z-a")
    reg = ["--registry", str(tmp_path)]
    assert main(["model", "list", *reg]) == 0
    listed = capsys.readouterr().out
    assert "* 20261102T000000Z-b" in listed and "no version promoted yet" in listed

    assert main(["model", "promote", "20261101T000000Z-a", "--force", *reg]) == 0
    assert main(["model", "promote", "20261102T000000Z-b", "--force", *reg]) == 0
    assert "current: 20261102T000000Z-b (was 20261101T000000Z-a)" in capsys.readouterr().out
    assert main(["model", "show", "20261102T000000Z-b", *reg]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["current"] and shown["manifest"]["training"]["parent"] == "20261101T000000Z-a"
    # These fakes hold no module: --force steps back without loading them.
    assert main(["model", "rollback", "--force", *reg]) == 0
    assert "current: 20261101T000000Z-a" in capsys.readouterr().out
    assert (
        main(["model", "rollback", "--force", *reg]) == 2
    )  # nothing before it: a sentence, exit 2
    assert "nothing to roll back to" in capsys.readouterr().err


def test_promote_checks_the_artifact_unless_forced(
    artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / artifact.name
    shutil.copytree(artifact, good)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(artifact, corrupt)
    (corrupt / "model.pt").write_bytes(b"not a model")
    reg = ["--registry", str(tmp_path)]
    config = tmp_path / "w16.toml"
    config.write_text("[window]\nlength = 16\n")

    assert main(["model", "promote", good.name, "--config", str(config), *reg]) == 0
    assert main(["model", "promote", "corrupt", "--config", str(config), *reg]) == 2
    assert "sha256 mismatch" in capsys.readouterr().err
    assert ModelRegistry(tmp_path).current() == good.name  # unchanged
    # A sound model for another window length is refused too.
    assert main(["model", "promote", good.name + "x", *reg]) == 2
    shutil.copytree(artifact, tmp_path / "w64")
    (config).write_text("[window]\nlength = 64\n")
    assert main(["model", "promote", "w64", "--config", str(config), *reg]) == 2
    assert "windows of 16 steps" in capsys.readouterr().err
    assert main(["model", "promote", "corrupt", "--force", *reg]) == 0
    assert ModelRegistry(tmp_path).current() == "corrupt"
