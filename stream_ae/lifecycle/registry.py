"""The model registry: published versions under one directory, and a `current` pointer.

```
<root>/<version>/model.pt, manifest.json   one published artifact (stream_ae.model.artifact)
<root>/current                             {"version": ..., "history": [...], ...}
```

`current` names the version detectors should serve; its history, newest last, is
what `rollback` steps back through. It is replaced atomically (written beside,
fsynced, renamed), so a detector polling it reads the old pointer or the new one,
never half of one. Only file reads and renames: the layout maps onto an object
store later. Torch-free, so listing and pointing stay fast.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stream_ae.errors import StreamAEError

log = logging.getLogger(__name__)

POINTER = "current"
MANIFEST = "manifest.json"
HISTORY_KEPT = 50


class RegistryError(StreamAEError):
    """The registry refused an operation; the message says what to do instead."""


@dataclass(frozen=True, slots=True)
class Version:
    """One published version, as its manifest describes it."""

    name: str
    path: Path
    created_at: str
    window: int
    channels: tuple[str, ...]
    parent: str | None
    """The version serving when this one was trained (from its lineage), if known."""
    manifest: dict[str, Any]


Check = Callable[["Version"], object]
"""Loads a version as a detector would and raises StreamAEError when it cannot serve;
the caller supplies it, so the registry itself stays free of torch."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A version passed over because it does not load."""

    version: str
    reason: str
    """Bounded, for metrics: 'corrupt' or 'mismatch' (a sound model for another shape)."""
    detail: str
    """The loader's sentence: which file and what to do."""


class ModelRegistry:
    """Versions under `root`, the one that serves, and how it got there."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def versions(self) -> list[Version]:
        """Every published version, oldest first (names start with their UTC time)."""
        if not self.root.is_dir():
            return []
        found = [self._read(p) for p in sorted(self.root.iterdir()) if (p / MANIFEST).is_file()]
        return [v for v in found if v is not None]

    def get(self, name: str) -> Version:
        path = self.root / name
        version = self._read(path) if (path / MANIFEST).is_file() else None
        if version is None:
            known = ", ".join(v.name for v in self.versions()[-5:]) or "none"
            raise RegistryError(
                f"no readable version {name!r} in {self.root} (newest: {known}); "
                "`stream-ae model list` shows them all"
            )
        return version

    def current(self) -> str | None:
        """The version the pointer names, or None when nothing was ever promoted."""
        pointer = self._pointer()
        return None if pointer is None else str(pointer["version"])

    def serving(self) -> Version | None:
        """What a detector should serve: the pointer's version, else the newest one."""
        name = self.current()
        if name is not None:
            return self.get(name)
        versions = self.versions()
        return versions[-1] if versions else None

    def loadable(self, check: Check) -> tuple[Version | None, list[Skipped]]:
        """What a starting detector should serve: the current version if `check` passes
        it, else the newest version of its history that does (without a pointer: the
        newest version that does); with the versions passed over, newest first. The
        pointer is not moved: which version is current stays the operator's decision."""
        pointer = self._pointer()
        if pointer is None:
            names = [v.name for v in reversed(self.versions())]
        else:
            names = list(dict.fromkeys([self.current() or "", *reversed(self.history())]))
        skipped: list[Skipped] = []
        for name in names:
            problem = self._problem(name, check)
            if problem is None:
                return self.get(name), skipped
            skipped.append(problem)
        return None, skipped

    def history(self) -> list[str]:
        """Versions promoted before the current one, oldest first."""
        pointer = self._pointer()
        return [] if pointer is None else [str(v) for v in pointer.get("history", [])]

    def promote(self, name: str, *, reason: str = "promoted") -> None:
        """Point `current` at `name`; the version it replaces goes onto the history."""
        self.get(name)  # exists and its manifest reads
        history = self.history()
        previous = self.current()
        if previous == name:
            return
        if previous is not None:
            history.append(previous)
        self._write_pointer(name, history[-HISTORY_KEPT:], reason)

    def rollback(self, *, reason: str = "rolled back", check: Check | None = None) -> str:
        """Point `current` back at the newest version promoted before it that loads
        (`check`; without one, whose manifest reads) and return it. The versions stepped
        over are logged and leave the history."""
        history = self.history()
        current = self.current()
        skipped: list[Skipped] = []
        while history:
            back = history.pop()
            if back == current:
                continue
            problem = self._problem(back, check)
            if problem is None:
                self._write_pointer(back, history, reason)
                return back
            log.warning("rollback skips %s, it does not load: %s", back, problem.detail)
            skipped.append(problem)
        passed = "".join(f"; {s.version} does not load ({s.reason})" for s in skipped)
        raise RegistryError(
            f"nothing to roll back to in {self.root}: no version promoted before "
            f"{current or 'none'} loads{passed}; promote a version by name instead"
        )

    def _problem(self, name: str, check: Check | None) -> Skipped | None:
        """Why version `name` cannot serve, or None when it can."""
        try:
            version = self.get(name)
            if check is not None:
                check(version)
        except StreamAEError as exc:
            # A manifest that does not read is as corrupt as a module that does not.
            return Skipped(name, getattr(exc, "reason", "corrupt"), str(exc))
        return None

    def _pointer(self) -> dict[str, Any] | None:
        path = self.root / POINTER
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):  # no registry yet
            return None
        except (OSError, ValueError) as exc:
            raise RegistryError(
                f"{path}: unreadable ({exc}); promote a version again to rewrite it"
            ) from None
        if not isinstance(raw, dict) or not isinstance(raw.get("version"), str):
            raise RegistryError(f"{path}: names no version; promote a version again")
        return raw

    def _write_pointer(self, name: str, history: list[str], reason: str) -> None:
        body = {
            "version": name,
            "history": history,
            "reason": reason,
            "changed_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self.root.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".current-", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(body, f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, self.root / POINTER)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        directory = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)

    def _read(self, path: Path) -> Version | None:
        try:
            m = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
            return Version(
                name=path.name,
                path=path,
                created_at=str(m["created_at"]),
                window=int(m["window"]),
                channels=tuple(m["channel_names"]),
                parent=(m.get("training") or {}).get("parent"),
                manifest=m,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # listed by `model list` as unreadable, never served


def resolve_model(path: Path) -> Path:
    """The artifact `--model PATH` names: PATH itself when it holds a manifest, else the
    version a registry at PATH serves (its current, else its newest), as `stream-ae fit
    --out PATH` leaves it."""
    path = Path(path)
    if (path / MANIFEST).is_file():
        return path
    version = ModelRegistry(path).serving() if path.is_dir() else None
    if version is None:
        raise RegistryError(
            f"{path} is neither a model artifact (no {MANIFEST}) nor a registry holding "
            "one; fit one with `stream-ae fit TRAIN.csv --out "
            f"{path}`, or name a version directory"
        )
    return version.path
