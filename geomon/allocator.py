"""Memory settings of a run's processes: freed memory is kept for the next arrays, and the
garbage collector leaves the imported libraries alone.

A run allocates and frees arrays of tens of megabytes all the time: each (period, band) block of
the cube, its reflectance, its median, the rendered maps. With glibc's defaults every block over
32 MB, and every block of a thread other than the main one, is a fresh ``mmap`` that is unmapped
again on ``free``; the kernel zeroes each page of it on first touch. On a 1024 px × 1 year run
a third of the CPU seconds were system time, most of it that page clearing (``perf``:
``clear_page_erms`` under numpy's casts and copies; 260-340 thousand minor faults a run).

:func:`keep_freed_memory` sets glibc's malloc so that all threads allocate from the one main heap,
large blocks included, and the heap keeps what is freed for reuse (up to ``retain_bytes`` at its
top): 95-130 thousand faults a run, 5-12% less time. Freed memory then stays in the process
until it exits, which suits a command that runs one assessment and ends; the peak of a 1024 px
run rose from 1.3-1.5 GB to 1.4-1.8 GB (see docs/operations.md, Speed).

Only glibc (Linux) has these settings; elsewhere the call does nothing. Processes started by a
``dask.distributed`` cluster are not touched: their memory is the cluster's to manage.

:func:`collect_less` is for the other allocator, Python's: building dask graphs and drawing
maps creates and drops objects by the hundred thousand, and every few hundred of them the
garbage collector runs; every so often it walks every object alive, the libraries' modules,
classes and functions included (hundreds of thousands after the imports). It freezes what is
alive when it is called, so that no collection walks it again, and collects the youngest
objects every 10,000 allocations instead of every 700. Collections took 0.9 s of a 1024 px
run's main process (1,150 of them) and 0.33-0.37 s of drawing its figures; after the call,
0.27 s (420) and 0.07 s.

Examples
--------
>>> keep_freed_memory()  # doctest: +SKIP
True
>>> collect_less()       # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import platform

__all__ = ["collect_less", "keep_freed_memory"]

log = logging.getLogger(__name__)

# mallopt(3) parameters (glibc <malloc.h>)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

#: Free memory the heap keeps at its top before it gives any back (and the largest block it
#: serves itself rather than by ``mmap``).
RETAIN_BYTES = 1 << 30


def keep_freed_memory(retain_bytes: int = RETAIN_BYTES) -> bool:
    """Make this process's malloc keep freed memory for reuse; True if it could (glibc only).

    Call it before the threads that do the work start (their first allocation picks their
    heap); calling it again does no harm.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # one heap for all threads: a thread's own heap is at most 64 MB, so its larger arrays
    # would be mapped afresh each time whatever the threshold
    done = [mallopt(_M_ARENA_MAX, 1), mallopt(_M_MMAP_THRESHOLD, retain_bytes),
            mallopt(_M_TRIM_THRESHOLD, retain_bytes)]
    if not all(done):
        log.debug("mallopt refused some settings: %s", done)
    return all(done)


#: Allocations (less deallocations) between two collections of the youngest generation: 10,000
#: rather than Python's 700. The older generations keep their own thresholds.
YOUNG_THRESHOLD = 10_000


def collect_less(young: int = YOUNG_THRESHOLD) -> None:
    """Keep Python's garbage collector off the objects alive now (the imported libraries) and
    collect the youngest generation every ``young`` allocations.

    Call it once the libraries are imported. What it freezes is never collected: garbage alive
    at the call stays for the life of the process (``gc.unfreeze`` undoes it).
    """
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young, older, oldest)
