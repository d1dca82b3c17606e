"""The arena limit, tried in a child process: it lasts for the life of a process."""

import os
import platform
import subprocess
import sys

import pytest

from stream_ae.runtime.arenas import limit_malloc_arenas

CALL = "from stream_ae.runtime.arenas import limit_malloc_arenas as f; print(f(2))"


def _taken(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    out = subprocess.run(
        [sys.executable, "-c", CALL], env=clean | env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_glibc_takes_the_arena_limit() -> None:
    # The service runs on glibc (the image is Debian's); elsewhere the limit is skipped.
    assert _taken() == ("True" if platform.libc_ver()[0] == "glibc" else "False")


@pytest.mark.parametrize(
    "env",
    [{"MALLOC_ARENA_MAX": "4"}, {"GLIBC_TUNABLES": "glibc.malloc.arena_max=8"}],
    ids=["MALLOC_ARENA_MAX", "GLIBC_TUNABLES"],
)
def test_an_operators_own_arena_limit_stands(env: dict[str, str]) -> None:
    assert _taken(**env) == "False"


@pytest.mark.parametrize("arenas", [0, -1, True])
def test_a_limit_of_no_arenas_is_refused(arenas: int) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        limit_malloc_arenas(arenas)
