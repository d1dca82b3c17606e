import sys

import pytest

from stream_ae.runtime.arenas import limit_malloc_arenas


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mallopt")
def test_glibc_takes_the_arena_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas(2)


def test_an_operators_malloc_arena_max_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert not limit_malloc_arenas(2)
