"""Model artifacts: a versioned directory with a TorchScript module and its manifest.

```
<root>/<version>/model.pt        TorchScript (torch.jit.script + torch.jit.save)
<root>/<version>/manifest.json   what the module expects and where it came from
```

Publishing is atomic: everything is written and fsynced in a hidden temporary
directory inside `root`, then renamed to `<root>/<version>`, so a reader sees
either no version or a complete one. Loading checks everything it can before
the detector swaps models: a refused artifact raises `ArtifactError` and the
serving model stays in place.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stream_ae.model._jit import quiet_jit
from stream_ae.model.autoencoder import Autoencoder, build_autoencoder, kind_of
from stream_ae.model.manifest import (
    FORMAT_VERSION,
    READABLE_VERSIONS,
    ArtifactError,
    Manifest,
    format_version_for,
)

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "MODULE_FILE",
    "ArtifactError",
    "LoadedArtifact",
    "Manifest",
    "eager_from_artifact",
    "load_artifact",
    "read_manifest",
    "write_artifact",
]

MODULE_FILE = "model.pt"
MANIFEST_FILE = "manifest.json"
_VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Versions a default name takes in one second for the same weights before publishing
# fails: far more retrains than a second holds.
_SAME_NAME_TRIES = 99


@dataclass(frozen=True)
class LoadedArtifact:
    """A verified artifact: the TorchScript module (on CPU) and its manifest."""

    module: torch.jit.ScriptModule
    manifest: Manifest
    path: Path
    """Absolute path of the version directory."""


def write_artifact(
    module: Autoencoder,
    *,
    root: Path,
    window: int,
    channel_names: Sequence[str],
    scaler: Mapping[str, Any],
    training: Mapping[str, Any] | None = None,
    validation: Mapping[str, Any] | None = None,
    fit_scores: Mapping[str, Sequence[float]] | None = None,
    fit_runs: Mapping[str, np.ndarray] | None = None,
    version: str | None = None,
    now: datetime | None = None,
    error_scale: Mapping[str, Any] | None = None,
) -> Path:
    """Publish `module` as `<root>/<version>` and return that directory.

    `version` defaults to the UTC time plus a short hash of the weights, e.g.
    `20261122T163000Z-3fa94c1e`, so versions sort by age and two different
    fits published in the same second still get different names; the same weights
    again in that second (a retrain on unchanged data) get `-02`, `-03`, ... after it.
    `now` is injectable for tests. An existing version is never overwritten: a
    `version` given by the caller that exists raises FileExistsError. `error_scale` is
    `ErrorScales.to_manifest(...)` of the fit; without it the model scores every channel
    on a scale of 1.
    """
    kind = kind_of(module)
    names = tuple(channel_names)
    if len(names) != module.channels:
        raise ValueError(
            f"channel_names has {len(names)} names but the module was built for "
            f"{module.channels} channels; pass one name per channel."
        )
    if version is not None:
        _check_version(version)
    root = Path(root).absolute()
    created = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    # A CPU copy: the artifact must load on machines without the fit's GPU, and
    # the caller's module stays where it is, in the mode it was in.
    cpu_module = copy.deepcopy(module).cpu().eval()
    with quiet_jit():
        scripted = torch.jit.script(cpu_module)
        buffer = io.BytesIO()
        torch.jit.save(scripted, buffer)
    module_bytes = buffer.getvalue()
    if version is None:
        base = f"{created.strftime('%Y%m%dT%H%M%SZ')}-{_weights_hash(cpu_module)[:8]}"
        # Two digits: the registry orders versions by name, and "-10" sorts before "-2".
        candidates = [base, *(f"{base}-{n:02d}" for n in range(2, _SAME_NAME_TRIES + 1))]
    else:
        candidates = [version]
    manifest = Manifest(
        format_version=format_version_for(kind),
        model_version=candidates[0],
        window=window,
        channels=len(names),
        channel_names=names,
        hidden=module.hidden,
        latent=module.latent,
        layers=module.layers,
        kind=kind,
        scaler=dict(scaler),
        training=dict(training or {}),
        validation=dict(validation or {}),
        module_sha256=hashlib.sha256(module_bytes).hexdigest(),
        created_at=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        fit_scores={name: list(scores) for name, scores in (fit_scores or {}).items()},
        fit_runs={
            name: [[float(f"{x:.6g}") for x in row] for row in np.asarray(profile).tolist()]
            for name, profile in (fit_runs or {}).items()
        },
        error_scale=dict(error_scale or {}),
    )
    for name in candidates[:-1]:
        with contextlib.suppress(FileExistsError):
            return _publish(root, name, module_bytes, replace(manifest, model_version=name))
    last = candidates[-1]
    return _publish(root, last, module_bytes, replace(manifest, model_version=last))


def _publish(root: Path, version: str, module_bytes: bytes, manifest: Manifest) -> Path:
    manifest_text = manifest.to_json()  # fails here, before any file exists, if not JSON
    root.mkdir(parents=True, exist_ok=True)
    target = root / version
    _refuse_existing(target)  # spares writing the files when the name is plainly taken
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=root))
    try:
        _write_durably(staging / MODULE_FILE, module_bytes)
        _write_durably(staging / MANIFEST_FILE, manifest_text.encode("utf-8"))
        _fsync_dir(staging)
        try:
            os.rename(staging, target)
        except OSError as exc:  # another publisher took the name meanwhile: it is theirs
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise FileExistsError(exc.errno, f"{target}: version already published") from exc
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(root)
    return target


def load_artifact(
    path: Path,
    *,
    expect_window: int | None = None,
    expect_channels: int | None = None,
) -> LoadedArtifact:
    """Load and verify the artifact in the version directory `path`.

    Checks, in order: the manifest parses and has the supported format
    version; window and channels match what the caller expects; `model.pt`
    exists and its sha256 matches the manifest; it loads as TorchScript; a
    dry forward pass on zeros returns the expected shape. Any failure raises
    `ArtifactError` naming the offending file.
    """
    directory = Path(path).absolute()
    if not directory.is_dir():
        raise ArtifactError(
            f"{directory}: not a directory; pass the directory of one published model "
            "version (it holds model.pt and manifest.json)."
        )
    manifest = _read_manifest(directory / MANIFEST_FILE)
    manifest_path = directory / MANIFEST_FILE
    if expect_window is not None and manifest.window != expect_window:
        raise ArtifactError(
            f"{manifest_path}: the model was trained on windows of {manifest.window} steps "
            f"but the detector is configured for {expect_window}; set the window to "
            f"{manifest.window} or publish a model trained for {expect_window}.",
            reason="mismatch",
        )
    if expect_channels is not None and manifest.channels != expect_channels:
        raise ArtifactError(
            f"{manifest_path}: the model expects {manifest.channels} channels "
            f"{list(manifest.channel_names)} but the detector is configured for "
            f"{expect_channels}; publish a model trained on the same channels.",
            reason="mismatch",
        )

    module_path = directory / MODULE_FILE
    try:
        data = module_path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(
            f"{module_path}: missing; the artifact is incomplete. Re-publish the model "
            "or roll back to the previous version."
        ) from None
    except OSError as exc:
        raise ArtifactError(
            f"{module_path}: cannot be read ({exc.strerror}); check its permissions."
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != manifest.module_sha256:
        raise ArtifactError(
            f"{module_path}: sha256 mismatch (file is corrupt or was modified after "
            f"publishing: manifest says {manifest.module_sha256[:12]}…, file is "
            f"{digest[:12]}…); re-publish the model or roll back."
        )
    # Load from the bytes that were hashed, not the path: the file cannot change in between.
    try:
        with quiet_jit():
            # torch.jit.load has no type hints; it returns a ScriptModule.
            module = torch.jit.load(io.BytesIO(data), map_location="cpu")  # type: ignore[no-untyped-call]
    except Exception as exc:
        raise ArtifactError(
            f"{module_path}: not a loadable TorchScript module ({type(exc).__name__}: "
            f"{_first_line(exc)}); it may come from an incompatible torch version. "
            "Re-publish it with this version of stream-ae."
        ) from exc
    module.eval()
    _dry_run(module, manifest, module_path)
    return LoadedArtifact(module=module, manifest=manifest, path=directory)


def eager_from_artifact(loaded: LoadedArtifact) -> Autoencoder:
    """Rebuild the eager module (CPU, eval mode) from a loaded artifact's weights."""
    m = loaded.manifest
    module = build_autoencoder(m.kind, m.channels, m.window, m.hidden, m.latent, m.layers)
    try:
        module.load_state_dict(loaded.module.state_dict())
    except RuntimeError as exc:
        raise ArtifactError(
            f"{loaded.path / MODULE_FILE}: its weights do not fit the architecture in "
            f"{MANIFEST_FILE} (kind={m.kind}, hidden={m.hidden}, latent={m.latent}, "
            f"layers={m.layers}): "
            f"{_first_line(exc)}; re-publish the model."
        ) from exc
    return module.eval()


def read_manifest(directory: Path) -> Manifest:
    """The validated manifest of a version directory, without loading its module."""
    return _read_manifest(Path(directory) / MANIFEST_FILE)


def _read_manifest(path: Path) -> Manifest:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArtifactError(
            f"{path}: missing; the directory is not a published artifact (publishing may "
            "have been interrupted). Pick another version or re-publish the model."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot be read ({exc}); re-publish the model.") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(
            f"{path}: not valid JSON ({exc}); the file is corrupt. Re-publish the model "
            "or roll back."
        ) from exc
    if not isinstance(raw, dict):
        raise ArtifactError(f"{path}: must hold a JSON object; re-publish the model.")
    version = raw.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ArtifactError(
            f"{path}: format_version {version!r} is not supported (this stream-ae reads "
            f"versions up to {FORMAT_VERSION}); use the stream-ae release that published it or "
            "re-publish the model."
        )
    try:
        return Manifest.from_dict(raw)
    except ValueError as exc:
        raise ArtifactError(f"{path}: {exc} Re-publish the model or roll back.") from exc


def _dry_run(module: torch.jit.ScriptModule, manifest: Manifest, module_path: Path) -> None:
    shape = (1, manifest.window, manifest.channels)
    try:
        with torch.inference_mode():
            out = module(torch.zeros(shape))
    except Exception as exc:
        raise ArtifactError(
            f"{module_path}: a dry forward pass on zeros of shape {list(shape)} failed "
            f"({type(exc).__name__}: {_first_line(exc)}); the module does not match "
            f"{MANIFEST_FILE}. Re-publish the model."
        ) from exc
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != shape:
        got = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ArtifactError(
            f"{module_path}: a dry forward pass on shape {list(shape)} returned {got}, "
            f"not the same shape; the module does not match {MANIFEST_FILE}. "
            "Re-publish the model."
        )


def _weights_hash(module: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode("utf-8"))
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _check_version(version: str) -> None:
    # The version becomes a directory name and is read back by operators: no
    # separators, no hidden names (those are staging directories), nothing odd.
    if not isinstance(version, str) or not _VERSION_PATTERN.fullmatch(version):
        raise ValueError(
            f"version {version!r} is not a valid version name; use letters, digits, '.', "
            "'_' and '-' (starting with a letter or digit, at most 128 characters)."
        )


def _refuse_existing(target: Path) -> None:
    if target.exists():
        raise FileExistsError(
            f"{target}: version already published; artifacts are immutable, so publish "
            "under a new version name (or leave version=None for a fresh one)."
        )


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    # Makes the new names (files in staging, staging renamed in root) durable.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no detail"
