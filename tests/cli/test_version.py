"""`python -m stream_ae` runs the same command line as `stream-ae`."""

import subprocess
import sys
from importlib.metadata import version


def python_m_stream_ae(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stream_ae", *args], capture_output=True, text=True, timeout=120
    )


def test_python_m_stream_ae_prints_the_installed_version() -> None:
    done = python_m_stream_ae("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"stream-ae {version('stream-ae')}"


def test_python_m_stream_ae_takes_the_commands() -> None:
    done = python_m_stream_ae("check-config")
    assert done.returncode == 0, done.stderr
    assert "[threshold]" in done.stdout
