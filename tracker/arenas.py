"""Fewer malloc arenas for the threaded poll (glibc only).

glibc gives each thread that allocates its own arena, up to eight per core, and
memory freed in one arena serves only that arena again. A poll's fetch threads
(and the daemon's scheduler threads) each build documents, parse trees and
SQLite pages in their own arena, so a long-running daemon's memory settles far
above what it uses: on 500 feeds polled for four minutes, 99 MB with glibc's
default, 85 MB with two arenas, at the same speed (bench/README.md).
"""

from __future__ import annotations

import ctypes
import os
import sys

M_ARENA_MAX = -8  # mallopt parameter, from glibc's malloc.h
ARENAS = 2


def limit_arenas(count: int = ARENAS) -> bool:
    """Cap the process's malloc arenas at `count`; True if the cap was set.

    Left alone when MALLOC_ARENA_MAX is set (the user chose) and where there is
    no glibc `mallopt` that accepts the cap (macOS, musl: nothing to do).
    """
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_ARENA_MAX, count))
