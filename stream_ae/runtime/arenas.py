"""Fewer malloc arenas for the long-running service.

glibc gives each thread that meets contention its own malloc arena (up to 8 per
core) and rarely hands an arena's freed pages back. With the scoring thread beside
the event loop, batches freed in one arena are not reused by the other, and resident
memory creeps up whatever the service keeps: a flood of a million series ids through
a full store grew it by 9.6 and 11.8 MiB over the second half of the ids with glibc's
default, and shrank it by 1-5 MiB with two arenas (benchmarks/chaos.py, flood).

An operator's own choice stands: MALLOC_ARENA_MAX, or glibc.malloc.arena_max in
GLIBC_TUNABLES, leaves glibc as configured.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)

M_ARENA_MAX = -8
"""glibc's mallopt parameter for the most arenas (malloc.h)."""


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """At most `arenas` malloc arenas from now on (call it before threads start).
    True when glibc took the limit; False where the environment sets one or the C
    library is not glibc."""
    if isinstance(arenas, bool) or not isinstance(arenas, int) or arenas < 1:
        raise ValueError(f"arenas must be a positive integer, got {arenas!r}")
    if os.environ.get("MALLOC_ARENA_MAX") or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if not mallopt(M_ARENA_MAX, arenas):
        return False
    log.info("malloc arenas limited to %d (set MALLOC_ARENA_MAX to choose another)", arenas)
    return True
