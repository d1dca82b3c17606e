"""Artifacts round-trip exactly, publish atomically, and refuse anything damaged."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from stream_ae.lifecycle.registry import ModelRegistry
from stream_ae.model import artifact
from stream_ae.model.artifact import (
    ArtifactError,
    LoadedArtifact,
    Manifest,
    eager_from_artifact,
    load_artifact,
    write_artifact,
)
from stream_ae.model.autoencoder import Autoencoder, LSTMAutoencoder, RecordAutoencoder
from stream_ae.model.scorer import AutoencoderScorer

WINDOW = 12
SCALER: dict[str, Any] = {
    "global": {"mean": [0.5, -1.0], "std": [2.0, 0.25]},
    "series": {"plant-3/pump-7": {"mean": [0.1, 0.2], "std": [1.5, 3.0]}},
}
TRAINING: dict[str, Any] = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-20T00:00:00Z", "n": 960}
VALIDATION: dict[str, Any] = {"val_loss": 0.0123, "p99": 0.4}


@pytest.fixture(params=["lstm", "dense"])
def module(request: pytest.FixtureRequest) -> Autoencoder:
    """Each model kind: every artifact rule holds for both."""
    torch.manual_seed(0)
    if request.param == "dense":
        return RecordAutoencoder(2, window=WINDOW, hidden=8, latent=4, layers=2).eval()
    return LSTMAutoencoder(2, hidden=8, latent=4, layers=2).eval()


@pytest.fixture
def published(module: Autoencoder, tmp_path: Path) -> Path:
    return publish(module, tmp_path / "models", version="v1")


def publish(module: Autoencoder, root: Path, version: str | None = None) -> Path:
    return write_artifact(
        module,
        root=root,
        window=WINDOW,
        channel_names=("temp", "vib"),
        scaler=SCALER,
        training=TRAINING,
        validation=VALIDATION,
        version=version,
        now=datetime(2026, 11, 22, 16, 30, 5, 123, tzinfo=UTC),
    )


def edit_manifest(directory: Path, **changes: Any) -> None:
    path = directory / "manifest.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_round_trip_gives_the_same_outputs(module: Autoencoder, published: Path) -> None:
    loaded = load_artifact(published)
    x = torch.randn(5, WINDOW, 2)
    with torch.no_grad():
        want = module(x)
        torch.testing.assert_close(loaded.module(x), want, rtol=0, atol=1e-6)
        torch.testing.assert_close(eager_from_artifact(loaded)(x), want, rtol=0, atol=1e-6)
    assert isinstance(loaded.module, torch.jit.ScriptModule)
    assert loaded.path == published.absolute()


def test_manifest_fields_survive(module: Autoencoder, published: Path) -> None:
    m = load_artifact(published).manifest
    assert m.kind == ("dense" if isinstance(module, RecordAutoencoder) else "lstm")
    assert m.format_version == (2 if m.kind == "dense" else 1)
    assert type(eager_from_artifact(load_artifact(published))) is type(module)
    assert m.model_version == "v1" == published.name
    assert (m.window, m.channels, m.channel_names) == (WINDOW, 2, ("temp", "vib"))
    assert (m.hidden, m.latent, m.layers) == (8, 4, 2)
    assert (m.scaler, m.training, m.validation) == (SCALER, TRAINING, VALIDATION)
    assert m.created_at == "2026-11-22T16:30:05Z"
    assert len(m.module_sha256) == 64


def test_default_version_is_utc_time_plus_weights_hash(module: Autoencoder, tmp_path: Path) -> None:
    first = publish(module, tmp_path)
    assert re.fullmatch(r"20261122T163005Z-[0-9a-f]{8}", first.name)
    other = copy.deepcopy(module)
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    assert publish(other, tmp_path).name != first.name  # same second, different weights


def test_the_same_weights_again_in_one_second_get_versions_of_their_own(
    module: Autoencoder, tmp_path: Path
) -> None:
    # A retrain on data that did not change (a stalled input, a rerun) fits the same
    # weights: publishing them again must not fail the retrain, nor touch the first.
    first = publish(module, tmp_path)
    before = (first / "manifest.json").read_bytes()
    again = [publish(module, tmp_path) for _ in range(10)]
    assert [p.name for p in again[:2]] == [f"{first.name}-02", f"{first.name}-03"]
    assert again[-1].name == f"{first.name}-11"
    assert (first / "manifest.json").read_bytes() == before
    assert load_artifact(again[-1]).manifest.model_version == again[-1].name
    # The registry orders versions by name, oldest first: "-10" must not sort before "-02".
    listed = [v.name for v in ModelRegistry(tmp_path).versions()]
    assert listed == [first.name] + [p.name for p in again]


def test_once_every_name_of_the_second_is_taken_publishing_says_so(
    module: Autoencoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifact, "_SAME_NAME_TRIES", 3)
    names = [publish(module, tmp_path).name for _ in range(3)]
    with pytest.raises(FileExistsError, match="already published"):
        publish(module, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_a_rival_that_takes_the_name_at_the_last_moment_keeps_it(
    module: Autoencoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rival = publish(module, tmp_path / "rival")
    real_rename = os.rename

    def rival_wins_first(source: str | Path, target: str | Path) -> None:
        target = Path(target)
        if target.parent == tmp_path and not target.exists() and not target.name.endswith("-02"):
            shutil.copytree(rival, target)  # another publisher renamed just before us
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", rival_wins_first)
    mine = publish(module, tmp_path)
    assert mine.name == f"{rival.name}-02"
    assert (tmp_path / rival.name / "manifest.json").read_bytes() == (
        rival / "manifest.json"
    ).read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_an_existing_version_is_never_overwritten(module: Autoencoder, published: Path) -> None:
    before = (published / "model.pt").read_bytes()
    with pytest.raises(FileExistsError, match="already published"):
        publish(LSTMAutoencoder(2, hidden=8, latent=4, layers=2), published.parent, "v1")
    assert (published / "model.pt").read_bytes() == before
    assert sorted(p.name for p in published.parent.iterdir()) == ["v1"]


def test_publish_is_atomic_when_writing_fails(
    module: Autoencoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = artifact._write_durably

    def fail_on_manifest(path: Path, data: bytes) -> None:
        if path.name == "manifest.json":
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(artifact, "_write_durably", fail_on_manifest)
    root = tmp_path / "models"
    with pytest.raises(OSError, match="No space left"):
        publish(module, root, version="v1")
    assert os.listdir(root) == []


def test_corrupted_module_is_refused_naming_the_file(published: Path) -> None:
    path = published / "model.pt"
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4] = bytes(b ^ 0xFF for b in data[middle : middle + 4])
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256 mismatch") as info:
        load_artifact(published)
    assert str(path.absolute()) in str(info.value)
    assert "re-publish the model or roll back" in str(info.value)


def test_truncated_module_is_refused(published: Path) -> None:
    path = published / "model.pt"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ArtifactError, match=re.escape(str(path.absolute()))):
        load_artifact(published)


def test_missing_files_are_refused_naming_them(published: Path, tmp_path: Path) -> None:
    (published / "model.pt").unlink()
    with pytest.raises(ArtifactError, match=r"model\.pt: missing"):
        load_artifact(published)
    (published / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match=r"manifest\.json: missing") as info:
        load_artifact(published)
    assert str((published / "manifest.json").absolute()) in str(info.value)
    with pytest.raises(ArtifactError, match="not a directory"):
        load_artifact(tmp_path / "nowhere")


def test_unloadable_module_with_matching_hash_is_refused(published: Path) -> None:
    garbage = b"not a torchscript archive"
    (published / "model.pt").write_bytes(garbage)
    import hashlib

    edit_manifest(published, module_sha256=hashlib.sha256(garbage).hexdigest())
    with pytest.raises(ArtifactError, match="not a loadable TorchScript module"):
        load_artifact(published)


def test_module_that_does_not_fit_its_manifest_fails_the_dry_run(published: Path) -> None:
    edit_manifest(published, channels=3, channel_names=["a", "b", "c"])
    with pytest.raises(ArtifactError, match="dry forward pass") as info:
        load_artifact(published)
    assert "model.pt" in str(info.value)


def test_bad_manifests_are_refused_naming_the_field(published: Path) -> None:
    path = published / "manifest.json"
    data = json.loads(path.read_text())
    del data["window"], data["scaler"]
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=r"manifest\.json: .*missing field\(s\) window, scaler"):
        load_artifact(published)
    data.update(window=-3, scaler=[])
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=r"window must be a positive integer.*scaler must be"):
        load_artifact(published)
    path.write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_artifact(published)


def test_unknown_format_version_is_refused(published: Path) -> None:
    edit_manifest(published, format_version=3)
    with pytest.raises(ArtifactError, match="format_version 3 is not supported"):
        load_artifact(published)


def test_an_lstm_keeps_format_1_and_a_dense_model_says_2(
    module: Autoencoder, published: Path
) -> None:
    """A release that reads only format 1 keeps loading LSTMs and refuses a dense model
    by its format, not by weights that fit no LSTM."""
    dense = isinstance(module, RecordAutoencoder)
    assert load_artifact(published).manifest.format_version == (2 if dense else 1)
    if dense:
        edit_manifest(published, format_version=1)
        with pytest.raises(ArtifactError, match="a dense model needs format_version 2"):
            load_artifact(published)


def test_window_and_channel_expectations_are_enforced(published: Path) -> None:
    assert load_artifact(published, expect_window=WINDOW, expect_channels=2)
    with pytest.raises(ArtifactError, match=r"windows of 12 steps.*configured for 64"):
        load_artifact(published, expect_window=64)
    with pytest.raises(ArtifactError, match=r"expects 2 channels.*configured for 1"):
        load_artifact(published, expect_channels=1)


def test_publishing_refuses_inconsistent_arguments(module: Autoencoder, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a valid version name"):
        publish(module, tmp_path, version="../escape")
    with pytest.raises(ValueError, match="one name per channel"):
        write_artifact(module, root=tmp_path, window=WINDOW, channel_names=["x"], scaler={})
    with pytest.raises(ValueError, match="cannot be written as JSON"):
        write_artifact(
            module,
            root=tmp_path,
            window=WINDOW,
            channel_names=["a", "b"],
            scaler={},
            validation={"p99": float("nan")},
        )
    assert list(tmp_path.iterdir()) == []


def test_manifest_round_trips_through_json_and_validates() -> None:
    manifest = load_fields()
    assert Manifest.from_dict(json.loads(manifest.to_json())) == manifest
    with pytest.raises(ValueError, match="created_at must be an ISO-8601 UTC time"):
        Manifest.from_dict({**manifest.to_dict(), "created_at": "yesterday"})
    with pytest.raises(ValueError, match="channel_names has 1 names for 2 channels"):
        Manifest.from_dict({**manifest.to_dict(), "channel_names": ["a"]})


def load_fields() -> Manifest:
    return Manifest(
        format_version=1,
        model_version="v1",
        window=8,
        channels=2,
        channel_names=("a", "b"),
        hidden=8,
        latent=4,
        layers=1,
        scaler=SCALER,
        training={},
        validation={},
        module_sha256="ab" * 32,
        created_at="2026-11-22T16:30:00Z",
    )


def test_no_deprecation_warning_escapes_save_load_or_scoring(
    module: Autoencoder, tmp_path: Path
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = publish(module, tmp_path)
        loaded: LoadedArtifact = load_artifact(path)
        scorer = AutoencoderScorer.from_artifact(loaded, device="cpu", engine="torchscript")
        scorer.score(np.zeros((2, WINDOW, 2), dtype=np.float32))
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert deprecations == [], [str(w.message) for w in deprecations]
    # and the filter was put back: the suppression is local to those calls
    with pytest.warns(DeprecationWarning, match="torch.jit.script"):
        torch.jit.script(LSTMAutoencoder(1, hidden=4, latent=2))


def test_a_manifest_from_before_the_dense_kind_is_an_lstm(tmp_path: Path) -> None:
    torch.manual_seed(0)
    lstm = publish(LSTMAutoencoder(2, hidden=8, latent=4, layers=2).eval(), tmp_path, "old")
    path = lstm / "manifest.json"
    data = json.loads(path.read_text())
    del data["kind"]
    path.write_text(json.dumps(data))
    loaded = load_artifact(lstm)
    assert loaded.manifest.kind == "lstm"
    assert isinstance(eager_from_artifact(loaded), LSTMAutoencoder)
