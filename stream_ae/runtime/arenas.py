"""Fewer malloc arenas for the long-running service.

glibc gives each thread that meets contention its own malloc arena (up to 8 per
core) and rarely hands an arena's freed pages back. With the scoring thread beside
the event loop, batches freed in one arena are not reused by the other, and resident
memory creeps up for hours whatever the service keeps: a flood of a million series
ids through a full store grew it by 9.6 and 11.8 MiB over the second half of the ids
with glibc's default, and by none with two arenas (benchmarks/chaos.py, flood).
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

M_ARENA_MAX = -8
"""glibc's mallopt parameter for the most arenas (malloc.h)."""


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """At most `arenas` malloc arenas from now on, unless the environment sets
    MALLOC_ARENA_MAX (the operator's choice stands). Call it before threads start.
    True when glibc took the limit; False elsewhere (another C library, another OS)."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no mallopt in this process' C library
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    taken = bool(mallopt(M_ARENA_MAX, arenas))
    if not taken:
        log.debug("the C library refused mallopt(M_ARENA_MAX, %d)", arenas)
    return taken
