"""glibc's allocator, set for a server that allocates and frees megabyte
buffers all day.

Every chunk of a push or a pull is a fresh 1 MiB `bytes` (read, decrypted,
sent), freed moments later. By default glibc hands out an allocation that
large with its own `mmap` and returns it with `munmap`, so each new one
page-faults in 256 zeroed pages. Measured serving a 200 MB blob to curl on
the 2-core machine: 0.27–0.28 s with 0.09 s of system CPU by default,
0.24–0.25 s with 0.02–0.08 s set as below; six parallel streams of 10 MB
blobs 0.35 → 0.31 s (docs/benchmarks.md). Setting only the `mmap` threshold
was worse (0.32 s): glibc then gives the freed heap back and takes it again.

So `tune()` — `serve` calls it once, before its threads start — keeps such
buffers in glibc's heap: `mmap` only above MMAP_ABOVE, memory handed back to
the system only past TRIM_ABOVE free at the top of a heap, and at most ARENAS
heaps, which bounds what the many worker threads can keep. Where the C
library is not glibc it changes nothing.
"""

from __future__ import annotations

import ctypes

MMAP_ABOVE = 8 * 1024 * 1024
TRIM_ABOVE = 32 * 1024 * 1024
ARENAS = 2

# mallopt(3) parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune() -> bool:
    """Apply the settings; True if the C library took them all."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False  # not glibc (or no C library to speak of)
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    settings = ((_M_MMAP_THRESHOLD, MMAP_ABOVE), (_M_TRIM_THRESHOLD, TRIM_ABOVE), (_M_ARENA_MAX, ARENAS))
    return all([mallopt(param, value) == 1 for param, value in settings])
