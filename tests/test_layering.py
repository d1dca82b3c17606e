"""The dependency rules of the layout: the core stays pure, torch stays in `model`,
matplotlib in `pictures`; nothing but the entry points imports the command line; the
demo plant is pure; and `stream_ae/` holds its packages and a handful of modules."""

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "stream_ae"


def test_core_import_loads_no_torch_asyncio_kafka_or_prometheus() -> None:
    probe = (
        "import sys, json, pkgutil, importlib, stream_ae.core as c; "
        "[importlib.import_module(f'stream_ae.core.{m.name}') "
        "for m in pkgutil.iter_modules(c.__path__)]; "
        "print(json.dumps(sorted(m for m in ('torch', 'asyncio', 'aiokafka', 'prometheus_client')"
        " if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_torch_is_imported_only_inside_model() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "model" not in path.relative_to(PACKAGE).parts
        and any(name == "torch" or name.startswith("torch.") for name in imports_of(path))
    ]
    assert offenders == []


def test_core_and_model_never_import_upwards() -> None:
    upward = (
        "stream_ae.connectors",
        "stream_ae.runtime",
        "stream_ae.metrics",
        "stream_ae.settings",
        "stream_ae.cli",
        "stream_ae.wiring",
        "stream_ae.lifecycle",
        "stream_ae.plant",
        "stream_ae.pictures",
        "stream_ae.bench",
        "stream_ae.api",
        "stream_ae.errors",  # the shared base error lives in core.errors
    )
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for layer in ("core", "model")
        for path in (PACKAGE / layer).rglob("*.py")
        for name in imports_of(path)
        if name.startswith(upward)
    ]
    assert offenders == []


# Modules that mean I/O, threads, an event loop or a framework: the core takes none of
# them, also not lazily inside a function (which the import probe above cannot see).
_IMPURE = (
    "torch",
    "asyncio",
    "aiokafka",
    "prometheus_client",
    "pydantic",
    "orjson",
    "socket",
    "subprocess",
    "threading",
    "concurrent",
    "logging",
    "os",
    "pathlib",
    "time",
)


def test_core_sources_import_nothing_impure_even_lazily() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in (PACKAGE / "core").rglob("*.py")
        for name in imports_of(path)
        if name.split(".")[0] in _IMPURE
    ]
    assert offenders == []


TOP_LEVEL_MODULES = {
    "__init__.py",
    "__main__.py",
    "api.py",  # the Python API
    "errors.py",
    "logs.py",
    "metrics.py",
    "ratelimit.py",
    "wiring.py",  # the one place settings become objects
}
"""Everything else belongs in a package named for its concept."""


def test_the_package_top_holds_only_a_handful_of_modules() -> None:
    assert {path.name for path in PACKAGE.glob("*.py")} == TOP_LEVEL_MODULES


def test_matplotlib_is_imported_only_inside_pictures() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] != "pictures"
        and any(name.split(".")[0] == "matplotlib" for name in imports_of(path))
    ]
    assert offenders == []


def test_only_the_entry_points_import_the_command_line() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] not in ("cli", "__main__.py")
        for name in imports_of(path)
        if name == "stream_ae.cli" or name.startswith("stream_ae.cli.")
    ]
    assert offenders == []


def test_the_demo_plant_is_pure_and_draws_nothing() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in (PACKAGE / "plant").rglob("*.py")
        for name in imports_of(path)
        if name.split(".")[0] in (*_IMPURE, "matplotlib")
        or (
            name.startswith("stream_ae.")
            and not name.startswith(("stream_ae.core", "stream_ae.plant"))
        )
    ]
    assert offenders == []
