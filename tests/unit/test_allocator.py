"""keep_freed_memory: freed arrays are reused instead of mapped and zeroed afresh (glibc), and
the call does nothing where there is no glibc. collect_less: the garbage collector runs less
often and leaves the objects alive at the call alone."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from geomon import allocator

requires_glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="needs glibc")

#: Two threads allocate, fill and free 64 MB arrays, as dask's threads do with blocks of a cube;
#: prints the minor page faults that took. Without transparent huge pages, so a fault is one 4 KiB
#: page and the count measures the memory taken afresh from the kernel.
CHURN = """
import ctypes, json, resource, sys, threading
ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE
import numpy as np
from geomon.allocator import keep_freed_memory
tuned = keep_freed_memory() if sys.argv[1] == "tuned" else None
def churn():
    for _ in range(12):
        a = np.empty(16 * 2**20, np.float32)
        a.fill(1.0)
        del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
threads = [threading.Thread(target=churn) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"tuned": tuned,
                  "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _faults(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@requires_glibc
def test_freed_arrays_are_reused_not_mapped_again():
    default, tuned = _faults("default"), _faults("tuned")
    assert tuned["tuned"] is True
    # 24 arrays of 64 MB: glibc's defaults map (and the kernel zeroes) each afresh, 16,384 pages
    # a time; tuned, the two threads' first arrays are the only new memory
    assert default["faults"] > 20 * 16_384, default
    assert tuned["faults"] < 4 * 16_384, tuned


def test_does_nothing_without_glibc(monkeypatch):
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    assert allocator.keep_freed_memory() is False


#: Creates 200,000 small lists and keeps them, as building a dask graph does; prints how many
#: garbage collections that set off and how many objects the collector no longer looks at.
COLLECTIONS = """
import gc, json, sys
from geomon.allocator import collect_less
if sys.argv[1] == "less":
    collect_less()
runs = []
gc.callbacks.append(lambda phase, info: phase == "stop" and runs.append(info["generation"]))
kept = [[i] for i in range(200_000)]
print(json.dumps({"collections": len(runs), "frozen": gc.get_freeze_count()}))
"""


def _collections(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", COLLECTIONS, mode], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_collector_runs_less_often_and_skips_what_was_alive():
    default, less = _collections("default"), _collections("less")
    # one collection per 700 new objects by default, per 10,000 after collect_less
    assert default["collections"] > 200_000 // 700 * 0.8, default
    assert less["collections"] < 200_000 // 10_000 * 1.5, less
    # the interpreter's and geomon's own objects, frozen out of every collection
    assert default["frozen"] == 0
    assert less["frozen"] > 10_000, less
