"""A server process's heap: at most ``MALLOC_ARENAS`` glibc malloc arenas.

glibc gives threads that allocate at the same time arenas of their own (up to eight per core), and each
arena keeps the memory it has grown to. A worker's service threads took one each, and the worker's resident
memory kept growing with them; with two arenas it levels off lower (``bench/bench_memory.py``: 86.6 → 82.3
MiB after 10,000 flows, the growth over the second 5,000 flows 1.3 → 0.3 MiB, the same flows/s). Python's
own small-object allocator does not use malloc's arenas, and most of what does allocate from them runs under
the GIL, one thread at a time.

An operator's ``MALLOC_ARENA_MAX`` wins; on a C library without ``mallopt`` (musl, macOS) nothing changes.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Final

MALLOC_ARENA_MAX_ENV: Final = "MALLOC_ARENA_MAX"
MALLOC_ARENAS: Final = 2
_M_ARENA_MAX: Final = -8  # glibc's mallopt parameter number (malloc.h)


def limit_malloc_arenas() -> bool:
    """Cap this process's malloc arenas, and those of the processes it starts (through the environment,
    which glibc reads at start-up). Whether this process's cap was set here."""
    if os.environ.get(MALLOC_ARENA_MAX_ENV):
        return False  # the operator's choice, applied by glibc when this process started
    os.environ[MALLOC_ARENA_MAX_ENV] = str(MALLOC_ARENAS)
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, MALLOC_ARENAS))
